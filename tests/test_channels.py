"""The same conversations on Telegram and on Zalo (issue 12): one engine, one pipeline, one
record. Telegram through the recording request object, Zalo through its stand-in and the
bot's real webhook route (signed events in, the OA API's calls read back)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from dialogs.text import fold
from locales import catalog
from storage.models import Declaration
from tests.chat import Chat
from tests.standin import RecordingRequest
from tests.test_declare import LAN, family, rows
from tests.zalo_standin import ZaloApi, ZaloPerson, buttons_of
from tests.zalo_standin import serve as serve_zalo

VI = catalog("vi")

# The declaration, the same on both messengers: the number is typed (no contact sharing).
SCRIPT = ["Đúng", "0912345678", "Đúng", "Buôn bán", "kinh", "nhóm máu O", "dn 479 791 541 0033", "1m58",
          "52,5 ký", "12/8", "ko", "Tăng huyết áp", "Xong", "không", "hai", "2 đứa", "3", "Xác nhận gửi"]


class OnTelegram:
    def __init__(self, chat: Chat):
        self.chat = chat
        self.address = f"telegram:{chat.user_id}"

    async def say(self, text: str) -> str:
        await self.chat.send(text)
        return self.chat.text

    async def press(self, label: str) -> str:
        if self.chat.has_button(label):
            return await self.say(self.chat.button(label))
        return await self.say(label)

    def texts(self) -> list[str]:
        return [c.params.get("text") or c.params.get("caption") or "" for c in self.chat.api.sent(self.chat.user_id)]


class OnZalo:
    def __init__(self, person: ZaloPerson):
        self.person = person
        self.address = f"zalo:{person.user}"

    async def say(self, text: str) -> str:
        got = await self.person.says(text)
        return "\n".join(m.get("text", "") for m in got)

    async def press(self, label: str) -> str:
        """A Zalo button if one matches; a numbered line's number otherwise; else typed."""
        for message in reversed(self.person.api.sent(self.person.user)):
            for title in buttons_of(message):
                if fold(label) in fold(title):
                    got = await self.person.presses(title)
                    return "\n".join(m.get("text", "") for m in got)
            for line in (message.get("text") or "").splitlines():
                number, _, rest = line.strip().partition(". ")
                if number.isdigit() and fold(label) in fold(rest):
                    return await self.say(number)
            if buttons_of(message) or any(ln[:2].strip().rstrip(".").isdigit() for ln in (message.get("text") or "").splitlines()):
                break
        return await self.say(label)

    def texts(self) -> list[str]:
        return [m.get("text", "") for m in self.person.api.sent(self.person.user)]


@pytest.fixture
async def both(database_url, redis_url, redis_prefix, clean_db, redis, api):
    """A runtime with Telegram and Zalo both on, and the bot's web server for Zalo's events."""
    from bot.run import close_channels, make_web_app, open_channels
    from bot.runtime import open_runtime
    from tests.conftest import test_settings
    from tests.zalo_standin import APP_ID, APP_SECRET, FIRST_REFRESH, OA_ID, OA_SECRET

    zapi = ZaloApi()
    zrunner, zurl = await serve_zalo(zapi)
    settings = test_settings(database_url, redis_url, redis_prefix, zalo_app_id=APP_ID, zalo_app_secret=APP_SECRET,
                             zalo_oa_secret=OA_SECRET, zalo_refresh_token=FIRST_REFRESH, zalo_oa_id=OA_ID,
                             zalo_api_url=zurl, zalo_oauth_url=zurl, zalo_zns_url=zurl)
    rt = await open_runtime(settings, upgrade=False)
    channels = await open_channels(rt, RecordingRequest(api), RecordingRequest(api))
    runner = web.AppRunner(make_web_app(rt, channels, telegram_webhook=False))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    http = aiohttp.ClientSession()

    def on(channel: str, uid: int):
        if channel == "telegram":
            from tests.conftest import InProcess

            app = InProcess(rt, channels)

            async def deliver(update: dict) -> None:
                assert await app.deliver(update)

            return OnTelegram(Chat(api, uid, deliver))
        return OnZalo(ZaloPerson(zapi, f"http://127.0.0.1:{port}/zalo", str(uid), http))

    yield rt, on, zapi
    await http.close()
    await runner.cleanup()
    await close_channels(channels)
    await rt.close()
    await zrunner.cleanup()


async def lan_unlinked(sessions):
    from dialogs import codes
    from storage.models import Resident

    spec = dict(LAN)
    born = spec.pop("birth_date")
    async with sessions.begin() as s:
        row = Resident(code=codes.new_code(), ward="Phường 27", birth_date=born, birth_year=born.year, **spec)
        s.add(row)
    return row


async def link(person, resident, year: str, relation: str) -> None:
    await person.say(f"/start {resident.code}")
    await person.say(year)
    await person.press(relation)
    text = await person.press("Đồng ý")
    assert VI["link.done"].split("{")[0][:15] in text or "liên kết" in text.lower(), text


@pytest.mark.parametrize("resident_on, relative_on", [("zalo", "telegram"), ("telegram", "zalo")])
async def test_a_resident_declares_on_one_messenger_and_a_relative_on_the_other_sees_it(
        both, sessions, resident_on, relative_on):
    rt, on, zapi = both
    lan = await lan_unlinked(sessions)
    me, relative = on(resident_on, 8101), on(relative_on, 8102)
    await link(me, lan, lan.birth_date.strftime("%d/%m/%Y"), "Tôi")
    await me.say("/khaibao")
    for answer in SCRIPT:
        await me.press(answer)
    [row] = await rows(sessions, lan.id)
    assert row.submitted_by == me.address and row.relation == "self"
    assert (float(row.height_cm), float(row.weight_kg), row.systolic, row.diastolic) == (158, 52.5, 120, 80)
    assert row.answers["conditions"] == ["htn"] and row.answers["children"] == 2
    # The relative links the same card on the other messenger and sees that record.
    await link(relative, lan, lan.birth_date.strftime("%d/%m/%Y"), "Con")
    record = await relative.say("/hoso")
    assert "52,5" in record and "120/80" in record
    # Their data rights work the same on both: everything held about her, and it is audited.
    from storage.models import AuditEntry

    before = len(me.texts())
    await me.say("/dulieucuatoi")
    assert len(me.texts()) > before
    async with rt.sessions() as s:
        seen = (await s.execute(select(AuditEntry).where(AuditEntry.action == "privacy_access",
                                                         AuditEntry.actor_id == me.address))).scalars().all()
    assert [e.resident_id for e in seen] == [lan.id]
    # A reminder for the ward reaches the family once, on the resident's own messenger.
    from bot.broadcaster import Tuning, worker_loop
    from dialogs.ports import Audience
    from storage import broadcasts

    async with rt.sessions.begin() as s:
        bid = await broadcasts.create(s, Audience(lan.ward, everyone=True), None, None, actor_kind="cli",
                                      actor_id="test")
    stop = asyncio.Event()
    worker = asyncio.create_task(worker_loop(rt, stop, tuning=Tuning(poll=0.05, flush_every=0.05)))
    try:
        for _ in range(400):
            async with rt.sessions() as s:
                b = await s.get(broadcasts.Broadcast, bid)
            if b.finished_at is not None:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await worker
    reminder = VI["staff.reminder.default"].split("}")[1][:20]  # " kính nhắc gia đình "
    assert await broadcasts_counts(rt, bid) == {"sent": 1} and b.status == "done"
    assert sum(reminder in t for t in me.texts()) == 1 and not any(reminder in t for t in relative.texts())


async def broadcasts_counts(rt, bid: int) -> dict:
    from storage import broadcasts

    async with rt.sessions() as s:
        return await broadcasts.counts(s, bid)


async def test_zalo_outside_its_window_is_counted_not_sent(both, sessions):
    rt, on, zapi = both
    [lan] = await family(sessions, 8201, LAN)  # a Telegram family, not reminded here
    person = on("zalo", 8202)
    await link(person, lan, lan.birth_date.strftime("%d/%m/%Y"), "Tôi")
    # A week later the OA may no longer write to them: the reminder is not even tried.
    await rt.redis.delete(*[k async for k in rt.redis.scan_iter(f"{rt.settings.redis_prefix}:zalo:seen:*")])
    from bot.broadcaster import Tuning, worker_loop
    from dialogs.ports import Audience
    from storage import broadcasts

    async with rt.sessions.begin() as s:
        bid = await broadcasts.create(s, Audience(lan.ward, everyone=True), None, None, actor_kind="cli",
                                      actor_id="test")
    before = len(zapi.sent(person.person.user))
    stop = asyncio.Event()
    worker = asyncio.create_task(worker_loop(rt, stop, tuning=Tuning(poll=0.05, flush_every=0.05)))
    try:
        for _ in range(400):
            counts = await broadcasts_counts(rt, bid)
            if counts.get("unreachable"):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await worker
    assert counts == {"unreachable": 1}
    assert len(zapi.sent(person.person.user)) == before
    async with rt.sessions() as s:
        assert (await s.execute(select(Declaration))).first() is None


async def test_one_card_page_opens_either_messenger_and_tells_nothing(both, sessions):
    from dialogs import codes

    rt, on, zapi = both
    code = codes.new_code()
    assert codes.normalise(f"https://suckhoe.example.vn/c/{codes.display(code)}") == code  # a card photo's QR
    from bot.run import make_web_app

    runner = web.AppRunner(make_web_app(rt, rt.channels, telegram_webhook=False))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/c/{code}") as r:
                assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
                page = await r.text()
            bad = code[:-1] + ("0" if code[-1] != "0" else "1")
            async with http.get(f"http://127.0.0.1:{port}/c/{bad}") as r:
                assert r.status == 404
    finally:
        await runner.cleanup()
    assert f"https://zalo.me/{rt.settings.zalo_oa_id}" in page
    assert f"https://t.me/{rt.settings.bot_username}?start={code}" in page
    assert codes.display(code) in page and VI["card_page.open_zalo"] in page
