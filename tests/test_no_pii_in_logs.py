"""No personal data in logs (issue #7): a whole link-and-declare conversation, the data
rights and a staff decision, with every logger at DEBUG as `LOG_LEVEL=DEBUG` sets them;
then every line logged is searched for the resident's name, phone, code, birth date and
answers."""

from __future__ import annotations

import logging

import pytest

import locales
from bot import logs
from dialogs import codes
from dialogs.text import fold
from storage.models import Staff
from tests.chat import addr
from tests.test_declare import LAN_SCRIPT, run
from tests.test_privacy import WARD, decide, link, resident, the_request

USER, STAFF = 7301, 7390


class Keep(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # with any traceback and stack


@pytest.fixture
def logged():
    """The production set-up at DEBUG, plus a handler keeping every line; restored after."""
    root = logging.getLogger()
    saved = root.level, list(root.handlers), {n: logging.getLogger(n).level for n in logs.QUIET}
    logs.setup("DEBUG")
    keep = Keep()
    root.addHandler(keep)
    yield keep.lines
    root.handlers[:] = saved[1]
    root.setLevel(saved[0])
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


def needles(lan) -> list[str]:
    code = lan.code
    return [
        lan.full_name, fold(lan.full_name), lan.full_name.upper(),
        code, code.lower(), codes.display(code), codes.display(code).replace("-", " "),
        "+84912345678", "84912345678", "0912345678", "0912 345 678",
        str(lan.birth_year), lan.birth_date.strftime("%d/%m/%Y"), lan.birth_date.isoformat(),
        "45 Lê Lợi", "Penicillin", "52,5", "52.5", "1m58", "158 cm", "120/80", "12/8",
        "DN4797915410033", "4797915410033", "htn", "diabetes", "trader",
    ]


async def test_no_log_line_holds_personal_data(logged, chat_factory, sessions, runtime, api):
    lan = await resident(sessions)
    async with sessions.begin() as s:
        s.add(Staff(account=addr(STAFF), ward=WARD, role="staff"))
    chat = chat_factory(USER)

    # Linking, with a mistyped code and a wrong birth year on the way.
    await chat.command("start")
    await chat.send(lan.code[:-1] + ("0" if lan.code[-1] != "0" else "1"))
    await chat.send(codes.display(lan.code))
    await chat.send("1901")
    await link(chat, lan)
    # The whole declaration, its review and saving; then the record shown.
    await chat.press("Khai báo ngay")
    await run(chat, LAN_SCRIPT)
    await chat.press("Xác nhận gửi")
    await chat.command("hoso")
    assert "52,5" in chat.text  # the values went through the bot…
    # Staff look her up; she takes her data, withdraws and asks for erasure; staff approve.
    await chat_factory(STAFF).command("tracuu", lan.code)
    await chat.command("dulieucuatoi")
    await chat.command("rutdongy")
    await chat.press(locales.t("vi", "privacy.btn_withdraw_erase"))
    assert await decide(runtime, api, "approve", (await the_request(sessions)).id) == 0

    # …and the logs name her by id only.
    assert any(f"resident {lan.id}" in line for line in logged), logged
    leaks = [(n, line) for line in logged for n in needles(lan) if n in line]
    assert not leaks, leaks


async def test_new_paths_and_tracebacks_hold_no_token_code_or_personal_value(logged, chat_factory, sessions,
                                                                              runtime, api, capsys):
    """Issue 13's paths at DEBUG: wrong birth dates until the card locks, the owner removing
    an account, staff unlocking and reading at the terminal, and a rejected bot token in a
    traceback (PTB puts the token in the exception's message)."""
    from telegram import Bot  # noqa: PLC0415
    from telegram.error import InvalidToken  # noqa: PLC0415

    from bot.aiohttp_request import AiohttpRequest  # noqa: PLC0415
    from tests.conftest import CODE_SECRET  # noqa: PLC0415
    from tests.standin import TOKEN, serve  # noqa: PLC0415
    from tests.test_security import cli, wrong_dates  # noqa: PLC0415

    lan = await resident(sessions)
    owner, stranger = chat_factory(USER), chat_factory(USER + 1)
    await link(owner, lan)
    await link(stranger, lan, "Con")
    for n in range(3):
        attacker = chat_factory(USER + 10 + n)
        await attacker.command("start", codes.display(lan.code))
        for guess in wrong_dates(4):
            await attacker.send(guess)
    assert said_any(owner, "security.card_locked_notice")
    await owner.command("taikhoan")
    await owner.press("Gỡ tài khoản 2")
    await owner.press(locales.t("vi", "security.btn_remove_yes"))
    assert await cli(runtime, "security", "unlock", lan.code) == 0
    assert await cli(runtime, "residents", "show", lan.code, "--reveal") == 0

    runner, url = await serve(api)
    api.fault = lambda method, params: (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    try:
        bot = Bot(TOKEN, base_url=f"{url}/bot", request=AiohttpRequest(connections=1),
                  get_updates_request=AiohttpRequest(connections=1))
        try:
            await bot.initialize()
        except InvalidToken:
            logging.getLogger("telegram.ext.Application").exception("start failed")
        finally:
            for request in bot._request:
                await request.shutdown()
    finally:
        api.fault = None
        await runner.cleanup()
    capsys.readouterr()

    assert any("Traceback" in line and "<BOT_TOKEN>" in line for line in logged), logged
    secrets_ = [TOKEN, TOKEN.split(":", 1)[1], CODE_SECRET, *wrong_dates(4)]
    leaks = [(n, line) for line in logged for n in needles(lan) + secrets_ if n in line]
    assert not leaks, leaks


def said_any(chat, msg_id: str) -> bool:
    opening = locales.t("vi", msg_id).split("{")[0].strip()
    return any(opening in (c.params.get("text") or "") for c in chat.api.sent(chat.user_id))
