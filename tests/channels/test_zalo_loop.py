"""The whole loop on Zalo: a person's event → webhook → a bot that answers through ZaloChannel → the stand-in.

The bot here is a few lines standing in for the turn pipeline, so that the adapter's two
halves are tested together the way `bot.turns.handle` will use them.
"""

from __future__ import annotations

import io

import aiohttp
import pytest
import segno

from bot.channels.base import Inbound, Outgoing
from bot.channels.zalo import make_routes
from tests import zalo_standin as zs
from tests.zalo_standin import zalo_api, zalo_channel, zalo_settings  # noqa: F401 - fixtures


class TinyBot:
    def __init__(self, channel):
        self.channel = channel
        self.blocked: list[str] = []

    async def on_event(self, inbound: Inbound) -> bool:
        if inbound.blocked:
            self.blocked.append(inbound.user)
            return True
        inp = inbound.input
        if inp.kind == "command" and inp.command == "start":
            out = Outgoing("Chào bạn! Bạn đã có thẻ sức khỏe chưa?", keyboard=(("Có", "Chưa"),))
        elif inp.kind == "text" and inp.text == "Có":
            out = Outgoing("Vui lòng gửi ảnh chụp thẻ.", remove_keyboard=True)
        elif inp.kind == "photo":
            out = Outgoing(f"Mã trên thẻ: {inp.qr[0]}" if inp.qr else "Không đọc được mã QR.")
        else:
            out = Outgoing(f"Bạn vừa gửi: {inp.kind} {inp.text}".strip())
        await self.channel.send(inbound.user, out)
        return True


@pytest.fixture
async def person(zalo_settings, zalo_api, zalo_channel, redis):  # noqa: F811
    bot = TinyBot(zalo_channel)
    runner, url = await zs.serve_routes(make_routes(zalo_settings, redis, bot.on_event))
    async with aiohttp.ClientSession() as session:
        yield zs.ZaloPerson(zalo_api[0], url + zalo_settings.zalo_webhook_path, "8837001", session), bot
    await runner.cleanup()


async def test_a_resident_starts_taps_a_button_and_sends_the_card(person, zalo_api):  # noqa: F811
    lan, bot = person
    api, url = zalo_api
    hello = await lan.says("bắt đầu")
    assert "Chào bạn" in zs.text_of(hello) and zs.buttons_of(hello[-1]) == ["Có", "Chưa"]
    assert "gửi ảnh" in zs.text_of(await lan.presses("Có"))

    png = io.BytesIO()
    segno.make("K7QM3XPA9TZRD4", error="m").save(png, kind="png", scale=8)
    assert "K7QM3XPA9TZRD4" in zs.text_of(await lan.sends_photo(png.getvalue(), url))


async def test_following_greets_and_unfollowing_is_reported_blocked(person, zalo_channel):  # noqa: F811
    lan, bot = person
    assert "Chào bạn" in zs.text_of(await lan.follows())
    await lan.unfollows()
    assert bot.blocked == [lan.user]
    assert not await zalo_channel.reachable(lan.user)
