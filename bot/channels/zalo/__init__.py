"""Zalo Official Account (OA) as a messenger channel.

    channel.py  ZaloChannel: send(user, Outgoing), reachable(user), send_zns(...), card_link(code)
    webhook.py  make_routes(settings, redis, on_event): POST /zalo, signature, events → Inbound
    api.py      HTTP calls, access-token refresh (refresh token rotated and kept in Redis), error codes
    memory.py   per person in Redis: last interaction (the window) and the numbered buttons offered

When an OA may write to a person (the rules this adapter follows)
------------------------------------------------------------------
- Consultation messages ("tin tư vấn", POST openapi.zalo.me/v3.0/oa/message/cs) answer a
  person who interacted with the OA (sent a message, tapped a button, followed) in the last
  7 days. Outside that window Zalo refuses with -230 ("user has not interacted with the OA
  in the past 7 days") or -232 (no interaction yet) [4][5][6]. Within 48 hours of the
  person's last message the OA has a free "reply" quota (8 messages); after that, messages
  count against the OA's paid package quota, and -211 means it is used up [4][7].
- Transaction messages (/v3.0/oa/message/transaction, `transaction_*` templates) and
  promotion messages (/v3.0/oa/message/promotion, followers only, never 22:00–06:00: -234)
  are separate, quota-counted types that need their own permission [4][3]. We use neither.
- ZNS (Zalo Notification Service, POST business.openapi.zalo.me/message/template) sends a
  template message to a phone number ("84…") with `template_id`, `template_data` and a
  `tracking_id`, with no follow and no window; the template must first be approved by Zalo
  (1–2 working days) and each message is paid from the Zalo Cloud Account [4][8].

So: `ZaloChannel.send` raises NotAllowedNow, without calling Zalo, for a person whose last
interaction is older than 7 days (memory.py keeps it in Redis with a 7-day TTL; a -230/-232
from Zalo also closes it). `reachable(user)` tells the broadcaster the same, and a reminder
for someone outside the window goes by `send_zns` when ZALO_ZNS_TEMPLATE_ID is configured,
otherwise it is counted as "not reachable on Zalo now"; nothing is sent that Zalo refuses.

Protocol details (and where they come from)
-------------------------------------------
- Webhook: one JSON event per POST; `event_name` user_send_text / user_send_image (the
  photo's URL in message.attachments[].payload.url) / user_send_sticker, _audio, _video,
  _file, _location, _link, _gif, _business_card / user_submit_info (the answer to a
  request_user_info template) / follow and unfollow (the person in `follower.id`) /
  user_received_message, user_seen_message (receipts). Sender in `sender.id`, message id in
  `message.msg_id`, `timestamp` in milliseconds; user_submit_info carries `info.phone` [12].
  Zalo wants 200 within about 2 seconds and retries otherwise (30 s, 5, 15, 30 min, 1 h) [4][2].
- Signature: header X-ZEvent-Signature = "mac=" + sha256(app_id + raw body + timestamp +
  OA secret key), the timestamp taken from the body; the OA secret key, not the app's [1][2].
  (One guide [4] writes the OA id where [1] and working code [2] have the app id; we follow
  [1][2].)
- Sending: header `access_token`; body {"recipient": {"user_id"}, "message": {"text"} or
  {"attachment": ...}}; a file is uploaded first (v2.0/oa/upload/file, PDF/DOC/DOCX, 5 MB)
  and sent as {"type": "file", "payload": {"token"}} [3][9]. Text: at most 2000 characters [7].
- Buttons: `oa.query.show` (the payload is sent back as the person's message, visible),
  `oa.query.hide` (sent back, hidden), `oa.open.url`, `oa.open.phone`, `oa.open.sms`; a
  title of at most 100 characters, a payload of at most 1000 [10][11]. The pages we could
  read give a count only for transaction templates (4 buttons), so we send at most 4 and
  number the rest. `request_user_info` asks the person to share name and phone [3].
- Access token: about 25 hours; refreshed with POST oauth.zaloapp.com/v4/oa/access_token,
  form app_id, refresh_token, grant_type=refresh_token, header secret_key = the app secret;
  the answer carries a new refresh token and the old one is dead (single use, 3 months) [4][9].
  -216 / -220 (invalid / expired token): refresh once and repeat the call [4][9].
- Errors mapped (api.py): -32 rate limit → RetryAfter; -230, -232 window, -211, -218 quota,
  -234 quiet hours → NotAllowedNow; -213 not following, -227 banned or inactive > 45 days,
  -244 refuses this message type → Blocked; other codes → Refused; HTTP 5xx or no
  connection → Unreachable; a timeout after the request left → Uncertain [4][5][6].
- Card deep link: Zalo has no start parameter like Telegram's ?start=<code>; `card_link`
  returns the OA's chat link https://zalo.me/<oa_id>, and the person then sends the card's
  photo or types its code there.

Sources (the official pages on developers.zalo.me are not reachable from here; these quote them):
 [1] hainh.me/zalo-api-php-webhook-callback-official-account.html (the four signature parts, in order)
 [2] github.com/chatwoot/chatwoot app/jobs/webhooks/zalo_events_job.rb, zalo_oa_events_job.rb,
     app/services/zalo/incoming_message_service.rb (signature "mac=…", event fields)
 [3] github.com/zaloplatform/zalo-java-sdk src/test/java/v3/ (Zalo's SDK: SendFileCSMessage,
     SendRequestUserInfoCSMessage, SendTransactionMessage, UploadFile)
 [4] github.com/hoangnd25/monorepo wip/zalo-platform-integration.md (window, message types,
     ZNS, tokens, error codes; citing developers.zalo.me/docs/official-account/…)
 [5] github.com/subiz/subiz.com docs "Xử lý lỗi trên Zalo OA" (error 230)
 [6] github.com/khoicodedao/Poto_platform docs/FIX_ERROR_230.md (-230 as Zalo returns it)
 [7] docs.etelecom.vn … zalo-cloud-api/send-text-consulting ("reply" quota: 8 messages in
     48 h); developers.esms.vn tin Zalo tư vấn (text up to 2000 characters)
 [8] github.com/jemmia-diamond/jemmia-priority-server zalo_test.js (ZNS body: phone 84…,
     template_id, template_data)
 [9] github.com/chatwoot/chatwoot lib/integrations/zalo/auth.rb, client.rb, message.rb,
     uploader.rb (refresh call, -216 → refresh and retry, upload endpoints)
 [10] developers.esms.vn "Tin Zalo giao dịch" (button types and their limits, 4 buttons)
 [11] app.unpkg.com/@warriorteam/redai-zalo-sdk docs/BUTTON_TYPES_GUIDE.md
 [12] app.unpkg.com/@warriorteam/redai-zalo-sdk dist/types/webhook.d.ts (event fields; the
      details a person submits: name, phone, address)
"""

from bot.channels.zalo.channel import ZaloChannel
from bot.channels.zalo.webhook import make_routes

__all__ = ["ZaloChannel", "make_routes"]
