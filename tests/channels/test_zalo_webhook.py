"""Zalo's webhook: signatures, stale events, bad bodies, and every event kind decoded into Inbound."""

from __future__ import annotations

import io
import json
import time

import pytest
import segno

from bot.channels.zalo.memory import Memory
from tests import zalo_standin as zs
from tests.zalo_standin import zalo_api, zalo_channel, zalo_hook, zalo_settings  # noqa: F401 - fixtures

# ------------------------------------------------------------ signature and body


async def test_a_signed_text_event_reaches_the_engine_as_text(zalo_hook):  # noqa: F811
    inbound = await zalo_hook.says(zs.text_event("u1", "Xin chào"))
    assert inbound.channel == "zalo" and inbound.user == "u1" and inbound.address == "zalo:u1"
    assert inbound.key.startswith("msg") and inbound.input.kind == "text" and inbound.input.text == "Xin chào"


async def test_a_bad_or_missing_signature_is_refused_unread(zalo_hook):  # noqa: F811
    body = zs.text_event("u1", "hello")
    raw, headers = zs.signed(body)
    tampered = raw.replace(b"hello", b"hellO")
    assert await zalo_hook.post(raw=tampered, headers=headers) == 403
    assert await zalo_hook.post(raw=raw, headers={"Content-Type": "application/json"}) == 403
    raw2, headers2 = zs.signed(body, oa_secret=zs.APP_SECRET)  # signed with the app's secret, not the OA's
    assert await zalo_hook.post(raw=raw2, headers=headers2) == 403
    bare = {"X-ZEvent-Signature": headers["X-ZEvent-Signature"].removeprefix("mac=")}
    assert await zalo_hook.post(raw=raw, headers=bare) == 200  # the hex alone is accepted too
    assert [e.input.text for e in zalo_hook.events] == ["hello"]


async def test_stale_and_future_events_are_refused_but_zalo_retries_are_not(zalo_hook):  # noqa: F811
    hour = 3600 * 1000
    assert await zalo_hook.post(zs.text_event("u1", "old", timestamp=zs.now_ms() - 4 * hour)) == 403
    assert await zalo_hook.post(zs.text_event("u1", "ahead", timestamp=zs.now_ms() + hour)) == 403
    assert await zalo_hook.post(zs.text_event("u1", "retried", timestamp=zs.now_ms() - hour)) == 200
    assert [e.input.text for e in zalo_hook.events] == ["retried"]


@pytest.mark.parametrize("raw", [b"[1, 2]", b"not json", b'"text"', b""])
async def test_a_body_that_is_not_a_json_object_is_a_bad_request(zalo_hook, raw):  # noqa: F811
    assert await zalo_hook.post(raw=raw, headers={"X-ZEvent-Signature": "mac=00"}) == 400
    assert zalo_hook.events == []


async def test_an_event_the_bot_could_not_handle_is_answered_503_so_zalo_retries(zalo_hook):  # noqa: F811
    zalo_hook.answer = False
    assert await zalo_hook.post(zs.text_event("u1", "hi")) == 503
    assert len(zalo_hook.events) == 1


async def test_receipts_need_no_answer(zalo_hook):  # noqa: F811
    seen = zs.event("user_seen_message", "u1", message={"msg_ids": ["m1"]})
    assert await zalo_hook.post(seen) == 200
    assert zalo_hook.events == []


# ------------------------------------------------------------ what each event becomes


async def test_commands_and_the_words_people_type_to_start(zalo_hook):  # noqa: F811
    start = (await zalo_hook.says(zs.text_event("u1", "/start K7QM3XPA9TZRD4"))).input
    assert (start.kind, start.command, start.text) == ("command", "start", "K7QM3XPA9TZRD4")
    for typed in ("Bắt đầu", "bat dau", "START"):
        inp = (await zalo_hook.says(zs.text_event("u1", typed))).input
        assert (inp.kind, inp.command) == ("command", "start")
    assert (await zalo_hook.says(zs.text_event("u1", "bắt đầu khai báo"))).input.kind == "text"


async def test_follow_starts_and_unfollow_marks_the_person_blocked(zalo_hook, zalo_channel, redis, zalo_settings):  # noqa: F811
    zalo_hook.api.interact("u2")
    assert await zalo_hook.post(zs.follow_event("follow", "u2")) == 200
    follow = zalo_hook.events[-1]
    assert follow.user == "u2" and (follow.input.kind, follow.input.command) == ("command", "start")
    assert await zalo_channel.reachable("u2")
    memory = Memory(redis, zalo_settings.redis_prefix, 60)
    await memory.save_offer("u2", [("Có", None)])

    assert await zalo_hook.post(zs.follow_event("unfollow", "u2")) == 200
    gone = zalo_hook.events[-1]
    assert gone.blocked and gone.input is None and gone.user == "u2"
    assert not await zalo_channel.reachable("u2")
    assert await memory.offer("u2") == []


def _qr_png(text: str) -> bytes:
    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="png", scale=8)
    return buf.getvalue()


async def test_a_photo_of_the_card_arrives_with_its_qr_code_read(zalo_hook, zalo_api):  # noqa: F811
    api, url = zalo_api
    api.files["card.png"] = _qr_png("https://zalo.me/s/healthcard?c=K7QM3XPA9TZRD4")
    photo = (await zalo_hook.says(zs.image_event("u1", f"{url}/img/card.png"))).input
    assert photo.kind == "photo" and photo.qr == ("https://zalo.me/s/healthcard?c=K7QM3XPA9TZRD4",)

    api.files["blank.png"] = _qr_png("x")[:40]  # a broken image
    assert (await zalo_hook.says(zs.image_event("u1", f"{url}/img/blank.png"))).input.qr == ()
    assert (await zalo_hook.says(zs.image_event("u1", f"{url}/img/missing.png"))).input.qr == ()


@pytest.mark.parametrize("name, kind, attachment", [
    ("user_send_sticker", "sticker", {"type": "sticker", "payload": {"id": "s1", "url": "https://x/s.png"}}),
    ("user_send_audio", "voice", {"type": "audio", "payload": {"url": "https://x/a.aac"}}),
    ("user_send_video", "video", {"type": "video", "payload": {"url": "https://x/v.mp4"}}),
    ("user_send_file", "file", {"type": "file", "payload": {"url": "https://x/f.pdf", "name": "f.pdf", "size": "10"}}),
    ("user_send_location", "location", {"type": "location", "payload": {"coordinates": {"latitude": "10.7", "longitude": "106.6"}}}),
    ("user_send_gif", "other", {"type": "gif", "payload": {"url": "https://x/g.gif"}}),
])
async def test_other_message_kinds(zalo_hook, name, kind, attachment):  # noqa: F811
    inbound = await zalo_hook.says(zs.attachment_event(name, "u1", attachment["type"], attachment["payload"]))
    assert inbound.input.kind == kind


async def test_shared_details_are_the_persons_own_number_and_a_business_card_is_not(zalo_hook):  # noqa: F811
    info = zs.event("user_submit_info", "u1", info={"name": "Lan", "phone": "84912345678", "address": ""})
    shared = (await zalo_hook.says(info)).input
    assert (shared.kind, shared.phone) == ("contact", "84912345678")
    card = zs.attachment_event("user_send_business_card", "u1", "business_card", {"phone": "0987654321"})
    other = (await zalo_hook.says(card)).input
    assert (other.kind, other.phone) == ("contact", "")


async def test_every_event_from_the_person_opens_the_window(zalo_hook, zalo_channel):  # noqa: F811
    assert not await zalo_channel.reachable("u3")
    await zalo_hook.says(zs.text_event("u3", "hi"))
    assert await zalo_channel.reachable("u3")


async def test_the_dedup_key_is_the_message_id_or_the_event_and_time(zalo_hook):  # noqa: F811
    body = zs.text_event("u1", "one")
    first = await zalo_hook.says(body)
    again = await zalo_hook.says(body)
    assert first.key == again.key == body["message"]["msg_id"]
    f1 = zs.follow_event("follow", "u1")
    assert await zalo_hook.post(f1) == 200
    assert zalo_hook.events[-1].key == f"follow:u1:{f1['timestamp']}"


def test_the_stand_in_signs_as_the_adapter_verifies(zalo_settings):  # noqa: F811
    from bot.channels.zalo.webhook import verify  # noqa: PLC0415

    body = zs.text_event("u1", "x")
    raw, headers = zs.signed(body)
    assert verify(zalo_settings, raw, json.loads(raw), headers["X-ZEvent-Signature"], now=time.time())
    assert not verify(zalo_settings, raw, json.loads(raw), headers["X-ZEvent-Signature"], now=time.time() + 4 * 3600)


async def test_without_redis_the_event_is_answered_503_and_not_handed_on(zalo_settings, zalo_api):  # noqa: F811
    from redis.asyncio import Redis  # noqa: PLC0415

    from bot.channels.zalo import make_routes  # noqa: PLC0415

    dead = Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=1)
    hook = zs.Webhook("", zalo_api[0])
    runner, url = await zs.serve_routes(make_routes(zalo_settings, dead, hook.on_event))
    hook.url = url
    try:
        assert await hook.post(zs.text_event("u1", "hi")) == 503
        assert hook.events == []
    finally:
        await hook.session.close()
        await runner.cleanup()
        await dead.aclose()
