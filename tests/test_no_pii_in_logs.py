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
