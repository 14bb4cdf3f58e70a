"""`healthbot demo`: the same engine as the Telegram bot, in the terminal.

Buttons are shown numbered; type the number (or the label) to press one. Ctrl-D leaves.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading

import segno

import dialogs.flows  # noqa: F401 - registers the flows
from bot.conversation import converse
from bot.render import text_of
from bot.runtime import Runtime
from dialogs import codes
from dialogs.core import Input, Reply
from locales import t
from storage import demo
from storage.state import StateKey

DEMO_USER = 1  # one console "account"


def card(rt: Runtime, resident) -> str:
    link = f"https://t.me/{rt.settings.bot_username or 'healthbot'}?start={resident.code}"
    qr = segno.make(link, error="m")
    lines = [_qr_text(qr)]
    loc = rt.settings.default_locale
    lines.append(t(loc, "demo.card", code=codes.display(resident.code), name=resident.full_name,
                   year=resident.birth_year, ward=resident.ward))
    return "\n".join(lines)


def _qr_text(qr) -> str:
    import io  # noqa: PLC0415

    buf = io.StringIO()
    qr.terminal(out=buf, compact=True)
    return buf.getvalue()


CONTACT = "\x00contact"  # marks the "share my number" button among the console's buttons
DEMO_PHONE = "+84903123456"  # what the console "shares" as the account holder's number


def parse_line(line: str, buttons: list[str]) -> Input:
    line = line.strip()
    # A number picks a button, unless the buttons are numbers themselves (doses: 0 1 2 3 4+).
    numbered = not any(b[:1].isdigit() for b in buttons)
    if numbered and line.isdigit() and 1 <= int(line) <= len(buttons):
        label = buttons[int(line) - 1]
        if label.startswith(CONTACT):
            return Input(kind="contact", phone=DEMO_PHONE)
        return Input(kind="text", text=label)
    if line.startswith("/") and len(line) > 1:
        head, _, rest = line[1:].partition(" ")
        return Input(kind="command", command=head.lower(), text=rest.strip())
    return Input(kind="text", text=line)


def show(replies: list[Reply], locale: str, out=sys.stdout) -> list[str]:
    """Print replies; returns the labels of the last keyboard shown."""
    buttons: list[str] = []
    for r in replies:
        if r.chat_id not in (None, DEMO_USER):
            continue  # a notice to another account
        print("\n🤖 " + text_of(r, locale).replace("\n", "\n   "), file=out)
        if r.keyboard is not None or r.contact_button:
            buttons = [t(locale, b) for row in (r.keyboard or []) for b in row]
            if r.contact_button:
                buttons.insert(0, CONTACT + t(locale, r.contact_button))
        if r.inline:
            buttons = [t(locale, label) for row in r.inline for label, _ in row]
    if buttons:
        print("   " + "  ".join(f"[{i}] {b.removeprefix(CONTACT)}" for i, b in enumerate(buttons, 1)), file=out)
    return buttons


async def run_demo(rt: Runtime) -> int:
    residents = await demo.seed(rt.sessions)
    loc = rt.settings.default_locale
    print(t(loc, "demo.welcome", ward=demo.WARD))
    print(card(rt, residents[0]))
    print(t(loc, "demo.others"))
    for r in residents[1:]:
        print(f"   {codes.display(r.code)}  {r.full_name} ({r.birth_year})")
    print(t(loc, "demo.how", code=residents[0].code))
    key = StateKey(DEMO_USER, DEMO_USER)
    buttons: list[str] = []
    lines = _read_lines(asyncio.get_running_loop())
    stop = asyncio.Event()  # Ctrl-C, a closed terminal or `kill`: leave as cleanly as Ctrl-D
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    while True:
        line = await _next_line(lines, stop)
        if line is None:
            print()
            print(t(loc, "demo.bye"))
            return 0
        if not line.strip():
            continue
        async with rt.store.turn(key) as turn:
            locale, replies = await converse(rt, key, turn, parse_line(line, buttons), "Demo")
        buttons = show(replies, locale) or buttons


def _read_lines(loop: asyncio.AbstractEventLoop) -> asyncio.Queue:
    """Lines typed at the terminal; None at the end. A daemon thread, so that a blocked
    input() never keeps the program (and its embedded servers) alive after a signal."""
    queue: asyncio.Queue = asyncio.Queue()

    def read() -> None:
        while True:
            try:
                line = input("\n> ")
            except (EOFError, OSError):
                line = None
            loop.call_soon_threadsafe(queue.put_nowait, line)
            if line is None:
                return

    threading.Thread(target=read, name="console-input", daemon=True).start()
    return queue


async def _next_line(lines: asyncio.Queue, stop: asyncio.Event) -> str | None:
    get = asyncio.ensure_future(lines.get())
    halt = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({get, halt}, return_when=asyncio.FIRST_COMPLETED)
    for f in (get, halt):
        if f not in done:
            f.cancel()
    return get.result() if get in done else None
