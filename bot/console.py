"""`healthbot demo`: the same engine and turn pipeline as the messengers, in the terminal:
the console is one more channel (bot/channels). Buttons are shown numbered; type the
number (or the label) to press one. Ctrl-D leaves.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading

import segno

from bot import turns
from bot.channels.base import Inbound, Outgoing
from bot.runtime import Runtime
from dialogs import codes
from dialogs.core import Input
from locales import t
from storage import demo

NAME = "console"
DEMO_USER = "demo"  # one console "account": the address console:demo


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


class ConsoleChannel:
    """Prints replies at the terminal; remembers the buttons last shown, so that typing a
    number presses one."""

    name = NAME
    rate = 1000.0

    def __init__(self, out=None):
        self.out = out or sys.stdout
        self.buttons: list[str] = []

    async def send(self, user: str, out: Outgoing) -> None:
        print("\n🤖 " + out.text.replace("\n", "\n   "), file=self.out)
        buttons: list[str] = []
        if out.keyboard is not None or out.contact_button:
            buttons = [b for row in (out.keyboard or ()) for b in row]
            if out.contact_button:
                buttons.insert(0, CONTACT + out.contact_button)
        if out.inline:
            buttons = [label for row in out.inline for label, _ in row]
        if buttons:
            self.buttons = buttons
            print("   " + "  ".join(f"[{i}] {b.removeprefix(CONTACT)}" for i, b in enumerate(buttons, 1)),
                  file=self.out)

    def card_link(self, code: str) -> str | None:
        return None

    async def close(self) -> None:
        pass


async def run_demo(rt: Runtime) -> int:
    residents = await demo.seed(rt.sessions)
    loc = rt.settings.default_locale
    print(t(loc, "demo.welcome", ward=demo.WARD))
    print(card(rt, residents[0]))
    print(t(loc, "demo.others"))
    for r in residents[1:]:
        print(f"   {codes.display(r.code)}  {r.full_name} ({r.birth_year})")
    print(t(loc, "demo.how", code=residents[0].code))
    console = ConsoleChannel()
    rt.channels[NAME] = console
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
        inbound = Inbound(NAME, DEMO_USER, "", parse_line(line, console.buttons), first_name="Demo")
        if not await turns.handle(rt, inbound):
            print(t(loc, "common.delayed"))


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
