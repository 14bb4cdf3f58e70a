"""Sending on Zalo: token refresh and its rotation, error codes, the window, buttons, documents, ZNS."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.channels.base import (
    Blocked,
    NotAllowedNow,
    Outgoing,
    Refused,
    RetryAfter,
    Uncertain,
    Unreachable,
)
from bot.channels.zalo import ZaloChannel
from bot.channels.zalo.channel import MAX_TEXT
from dialogs.core import BACK, button_forms
from dialogs.text import fold
from locales import t
from tests import zalo_standin as zs
from tests.zalo_standin import zalo_api, zalo_channel, zalo_hook, zalo_settings  # noqa: F401 - fixtures

CS = "/v3.0/oa/message/cs"
OAUTH = "/v4/oa/access_token"


async def open_window(channel: ZaloChannel, api: zs.ZaloApi, user: str) -> None:
    """As the webhook does when the person writes: both sides see an interaction."""
    api.interact(user)
    await channel.memory.note_interaction(user)


@pytest.fixture
async def person(zalo_channel, zalo_api):  # noqa: F811
    await open_window(zalo_channel, zalo_api[0], "u1")
    return "u1"


# ------------------------------------------------------------ tokens


async def test_the_first_send_gets_a_token_and_keeps_the_rotated_refresh_token(zalo_channel, zalo_api, redis, person):  # noqa: F811
    api, _ = zalo_api
    await zalo_channel.send(person, Outgoing("Xin chào"))
    assert api.sent(person) == [{"text": "Xin chào"}]
    refresh = api.calls_to(OAUTH)
    assert len(refresh) == 1 and refresh[0].body["refresh_token"] == zs.FIRST_REFRESH
    assert refresh[0].headers["secret_key"] == zs.APP_SECRET and refresh[0].body["grant_type"] == "refresh_token"
    assert await redis.get(zalo_channel.api.k_refresh) == api.refresh_token == "RT-1"
    assert await redis.ttl(zalo_channel.api.k_refresh) == -1  # kept without a TTL on purpose
    assert 0 < await redis.ttl(zalo_channel.api.k_access) <= 90000


async def test_an_expired_token_is_refreshed_once_and_the_message_still_goes(zalo_channel, zalo_api, redis, person):  # noqa: F811
    api, _ = zalo_api
    await zalo_channel.send(person, Outgoing("một"))
    api.expire_tokens()
    await zalo_channel.send(person, Outgoing("hai"))
    assert [m["text"] for m in api.sent(person)] == ["một", "hai"]
    assert [c.body["refresh_token"] for c in api.calls_to(OAUTH)] == ["RT-0", "RT-1"]
    assert await redis.get(zalo_channel.api.k_refresh) == "RT-2"


async def test_another_process_uses_the_stored_tokens_not_the_spent_setting(zalo_channel, zalo_api, zalo_settings, redis, person):  # noqa: F811
    api, _ = zalo_api
    await zalo_channel.send(person, Outgoing("một"))
    api.expire_tokens()
    other = ZaloChannel(zalo_settings, redis)  # ZALO_REFRESH_TOKEN is still the spent RT-0
    try:
        await other.send(person, Outgoing("hai"))
    finally:
        await other.close()
    assert [c.body["refresh_token"] for c in api.calls_to(OAUTH)] == ["RT-0", "RT-1"]
    assert len(api.sent(person)) == 2


async def test_two_processes_refreshing_at_once_spend_the_refresh_token_once(zalo_api, zalo_settings, redis):  # noqa: F811
    api, _ = zalo_api
    channels = [ZaloChannel(zalo_settings, redis) for _ in range(4)]
    try:
        for i, ch in enumerate(channels):
            await open_window(ch, api, f"p{i}")
        await asyncio.gather(*(ch.send(f"p{i}", Outgoing("nhắc")) for i, ch in enumerate(channels)))
    finally:
        for ch in channels:
            await ch.close()
    assert len(api.calls_to(OAUTH)) == 1
    assert len(api.sent()) == 4


async def test_a_token_zalo_keeps_refusing_is_unreachable_not_a_loop(zalo_channel, zalo_api, person):  # noqa: F811
    api, _ = zalo_api
    api.fault = lambda path, body: (-216, "Access token is invalid")
    with pytest.raises(Unreachable):
        await zalo_channel.send(person, Outgoing("x"))
    assert len(api.calls_to(OAUTH)) == 2 and len(api.calls_to(CS)) == 2


async def test_a_refused_refresh_token_is_unreachable(zalo_channel, zalo_api, person):  # noqa: F811
    api, _ = zalo_api
    api.refresh_token = "RT-issued-elsewhere"
    with pytest.raises(Unreachable):
        await zalo_channel.send(person, Outgoing("x"))
    assert api.calls_to(CS) == []


# ------------------------------------------------------------ errors and the window


@pytest.mark.parametrize("code, error", [
    (-32, RetryAfter), (-230, NotAllowedNow), (-232, NotAllowedNow), (-211, NotAllowedNow),
    (-213, Blocked), (-227, Blocked), (-244, Blocked), (-201, Refused), (-248, Refused),
])
async def test_each_zalo_error_code_maps_to_a_send_error(zalo_channel, zalo_api, person, code, error):  # noqa: F811
    api, _ = zalo_api
    api.fault = lambda path, body: (code, "injected")
    with pytest.raises(error) as caught:
        await zalo_channel.send(person, Outgoing("x"))
    assert type(caught.value) is error
    if error is RetryAfter:
        assert caught.value.seconds >= 1
    closed = code in (-230, -232) or error is Blocked
    assert await zalo_channel.reachable(person) is not closed


async def test_server_errors_and_no_connection_are_unreachable(zalo_channel, zalo_api, zalo_settings, redis, person):  # noqa: F811
    api, _ = zalo_api
    await zalo_channel.send(person, Outgoing("token first"))
    api.http_status = 502
    with pytest.raises(Unreachable):
        await zalo_channel.send(person, Outgoing("x"))
    api.http_status = 429
    with pytest.raises(RetryAfter):
        await zalo_channel.send(person, Outgoing("x"))
    closed = ZaloChannel(zalo_settings.model_copy(update={"zalo_api_url": "http://127.0.0.1:9"}), redis)
    try:
        with pytest.raises(Unreachable):
            await closed.send(person, Outgoing("x"))
    finally:
        await closed.close()


async def test_outside_the_window_nothing_is_sent(zalo_channel, zalo_api):  # noqa: F811
    api, _ = zalo_api
    with pytest.raises(NotAllowedNow):
        await zalo_channel.send("stranger", Outgoing("x"))
    assert api.calls == []  # not even a token
    assert not await zalo_channel.reachable("stranger")


async def test_when_zalo_says_the_window_closed_we_stop_trying(zalo_channel, zalo_api):  # noqa: F811
    api, _ = zalo_api
    await open_window(zalo_channel, api, "u9")
    api.interact("u9", at=time.time() - 8 * 86400)  # Zalo's clock: the last interaction was 8 days ago
    with pytest.raises(NotAllowedNow):
        await zalo_channel.send("u9", Outgoing("x"))
    assert not await zalo_channel.reachable("u9")
    calls = len(api.calls)
    with pytest.raises(NotAllowedNow):
        await zalo_channel.send("u9", Outgoing("x"))
    assert len(api.calls) == calls


# ------------------------------------------------------------ buttons


def press(message: dict, title: str, user: str = "u1") -> dict:
    """What Zalo sends when the person taps the button with this title: its payload as a message."""
    button = next(b for b in message["attachment"]["payload"]["buttons"] if b["title"] == title)
    return zs.text_event(user, button["payload"])


async def test_reply_buttons_come_back_as_the_label_typed(zalo_channel, zalo_api, zalo_hook, person):  # noqa: F811
    api, _ = zalo_api
    await zalo_channel.send(person, Outgoing("Bạn có hút thuốc không?", keyboard=(("Có", "Không"), ("↩️ Quay lại",))))
    sent = api.sent(person)[-1]
    assert sent["text"] == "Bạn có hút thuốc không?"
    assert [(b["type"], b["title"]) for b in sent["attachment"]["payload"]["buttons"]] == [
        ("oa.query.show", "Có"), ("oa.query.show", "Không"), ("oa.query.show", "↩️ Quay lại")]
    back = (await zalo_hook.says(press(sent, "↩️ Quay lại"))).input
    assert (back.kind, back.text) == ("text", "↩️ Quay lại")


async def test_inline_buttons_come_back_as_callbacks(zalo_channel, zalo_api, zalo_hook, person):  # noqa: F811
    api, _ = zalo_api
    await zalo_channel.send(person, Outgoing("Hủy liên kết?", inline=((("Đồng ý", "unlink:7"), ("Không", "keep:7")),)))
    sent = api.sent(person)[-1]
    assert {b["type"] for b in sent["attachment"]["payload"]["buttons"]} == {"oa.query.hide"}
    inp = (await zalo_hook.says(press(sent, "Đồng ý"))).input
    assert (inp.kind, inp.text) == ("callback", "unlink:7")


async def test_many_buttons_become_numbered_lines_and_a_typed_number_picks_one(zalo_channel, zalo_api, zalo_hook, person):  # noqa: F811
    api, _ = zalo_api
    labels = ("Khai báo", "Người thân", "Quyền riêng tư", "Nhắc nhở", "Trợ giúp")
    await zalo_channel.send(person, Outgoing("Bạn muốn làm gì?", keyboard=tuple((label,) for label in labels)))
    sent = api.sent(person)[-1]
    assert "attachment" not in sent
    for i, label in enumerate(labels, 1):
        assert f"\n{i}. {label}" in sent["text"]
    picked = (await zalo_hook.says(zs.text_event(person, " 4 "))).input
    assert (picked.kind, picked.text) == ("text", "Nhắc nhở")
    assert (await zalo_hook.says(zs.text_event(person, "9"))).input.text == "9"  # no such button: as typed
    typed = (await zalo_hook.says(zs.text_event(person, "Trợ giúp"))).input
    assert (typed.kind, typed.text) == ("text", "Trợ giúp")


async def test_numbered_inline_buttons_come_back_as_callbacks(zalo_channel, zalo_api, zalo_hook, person):  # noqa: F811
    inline = tuple(((f"Người {i}", f"pick:{i}"),) for i in range(1, 7))
    await zalo_channel.send(person, Outgoing("Chọn người:", inline=inline))
    inp = (await zalo_hook.says(zs.text_event(person, "6"))).input
    assert (inp.kind, inp.text) == ("callback", "pick:6")
    by_label = (await zalo_hook.says(zs.text_event(person, "người 2"))).input
    assert (by_label.kind, by_label.text) == ("callback", "pick:2")


async def test_buttons_that_are_numbers_are_not_numbered(zalo_channel, zalo_api, zalo_hook, person):  # noqa: F811
    api, _ = zalo_api
    await zalo_channel.send(person, Outgoing("Bao nhiêu mũi?", keyboard=(("0", "1", "2", "3", "4+"), ("Hủy",))))
    sent = api.sent(person)[-1]
    assert "1. 0" not in sent["text"] and "4+" in sent["text"]
    typed = (await zalo_hook.says(zs.text_event(person, "2"))).input
    assert (typed.kind, typed.text) == ("text", "2")


async def test_a_removed_keyboard_forgets_the_numbers(zalo_channel, zalo_api, zalo_hook, person):  # noqa: F811
    await zalo_channel.send(person, Outgoing("Chọn:", keyboard=tuple((f"Mục {i}",) for i in range(6))))
    assert (await zalo_hook.says(zs.text_event(person, "2"))).input.text == "Mục 1"
    await zalo_channel.send(person, Outgoing("Cảm ơn!", remove_keyboard=True))
    assert (await zalo_hook.says(zs.text_event(person, "2"))).input.text == "2"


async def test_the_share_number_button_asks_with_request_user_info(zalo_channel, zalo_api, person):  # noqa: F811
    api, _ = zalo_api
    await zalo_channel.send(person, Outgoing("Số điện thoại của bạn?", contact_button="📱 Gửi số của tôi"))
    question, ask = api.sent(person)
    assert question == {"text": "Số điện thoại của bạn?"}
    payload = ask["attachment"]["payload"]
    assert payload["template_type"] == "request_user_info" and payload["elements"][0]["title"] == "📱 Gửi số của tôi"


@pytest.mark.parametrize("extra", [0, 4], ids=["as buttons", "as numbered lines"])
async def test_what_comes_back_is_what_the_engine_reads_as_that_button(zalo_channel, zalo_api, zalo_hook, person, extra):  # noqa: F811
    """The engine matches a reply by its label (Ctx.pressed → button_forms): a tap or a typed
    number must arrive as that label."""
    api, _ = zalo_api
    ids = ["btn.yes", "btn.no", BACK] + [BACK] * extra
    labels = [t("vi", i) for i in ids]
    await zalo_channel.send(person, Outgoing("Câu hỏi?", keyboard=tuple((label,) for label in labels)))
    sent = api.sent(person)[-1]
    for n, msg_id in enumerate(ids[:3], 1):
        event = press(sent, labels[n - 1]) if not extra else zs.text_event(person, str(n))
        inp = (await zalo_hook.says(event)).input
        assert inp.kind == "text" and fold(inp.text) in button_forms(msg_id)


# ------------------------------------------------------------ long text and documents


async def test_long_text_is_split_at_line_breaks(zalo_channel, zalo_api, person):  # noqa: F811
    api, _ = zalo_api
    lines = [f"Dòng {i}: " + "x" * 90 for i in range(60)]
    await zalo_channel.send(person, Outgoing("\n".join(lines)))
    parts = [m["text"] for m in api.sent(person)]
    assert len(parts) >= 3 and all(len(p) <= MAX_TEXT for p in parts)
    assert "\n".join(parts).split("\n") == lines


async def test_a_failure_after_a_part_went_out_is_uncertain(zalo_channel, zalo_api, person):  # noqa: F811
    api, _ = zalo_api
    api.fault = lambda path, body: (-32, "limit") if len(api.sent()) == 1 else None
    with pytest.raises(Uncertain):
        await zalo_channel.send(person, Outgoing("a" * 1500 + "\n" + "b" * 1500))
    assert len(api.sent(person)) == 1


async def test_documents_as_files_text_or_a_clear_line(zalo_channel, zalo_api, person):  # noqa: F811
    api, _ = zalo_api
    await zalo_channel.send(person, Outgoing("Thẻ của bạn", document=("the.pdf", b"%PDF-1.4 card")))
    caption, file = api.sent(person)
    assert caption == {"text": "Thẻ của bạn"}
    assert api.uploads[file["attachment"]["payload"]["token"]] == ("the.pdf", b"%PDF-1.4 card")

    await zalo_channel.send(person, Outgoing("Dữ liệu", document=("du-lieu.txt", "Họ tên: Lan\nNăm sinh: 1956".encode())))
    assert api.sent(person)[-1] == {"text": "Họ tên: Lan\nNăm sinh: 1956"}

    await zalo_channel.send(person, Outgoing("Bản máy đọc", document=("du-lieu.json", b"{}")))
    line = api.sent(person)[-1]["text"]
    assert "du-lieu.json" in line and "PDF" in line


# ------------------------------------------------------------ ZNS and the card link


async def test_zns_goes_to_the_phone_with_the_approved_template(zalo_channel, zalo_api):  # noqa: F811
    api, _ = zalo_api
    msg_id = await zalo_channel.send_zns("+84 912 345 678", zs.TEMPLATE_ID, {"ten": "Lan", "ngay": 30}, "rem-42-7")
    call = api.calls_to("/message/template")[-1]
    assert msg_id.startswith("z") and call.headers["access_token"].startswith("AT-")
    assert call.body["phone"] == "84912345678" and call.body["template_id"] == zs.TEMPLATE_ID
    assert call.body["template_data"] == {"ten": "Lan", "ngay": "30"} and call.body["tracking_id"] == "rem-42-7"
    assert await zalo_channel.send_zns("0912345678", zs.TEMPLATE_ID, {}, "t2")
    with pytest.raises(Refused):
        await zalo_channel.send_zns("0912345678", "999", {}, "t3")


def test_the_card_link_opens_the_oa_chat(zalo_settings, redis):  # noqa: F811
    assert ZaloChannel(zalo_settings, redis).card_link("K7QM3XPA9TZRD4") == f"https://zalo.me/{zs.OA_ID}"
    no_oa = ZaloChannel(zalo_settings.model_copy(update={"zalo_oa_id": ""}), redis)
    assert no_oa.card_link("K7QM3XPA9TZRD4") is None
