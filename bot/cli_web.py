"""`healthbot web`: the staff web console (web/) on WEB_HOST:WEB_PORT (127.0.0.1:8081)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.run import stop_on_signals
from bot.runtime import settle_heap
from bot.terminal import help_text
from locales import t


def register(subparsers) -> None:
    p = subparsers.add_parser("web", help=help_text("web.cli.help"))
    p.set_defaults(func=cmd_web)


async def serve(rt, stop: asyncio.Event, ready=None) -> None:
    from web.app import make_app  # noqa: PLC0415

    runner = web.AppRunner(make_app(rt), access_log=None)  # URLs hold sign-in tokens: no access log
    await runner.setup()
    # reuse_port: one `healthbot web` per core may share the port (state lives in Redis and
    # PostgreSQL; the kernel spreads the connections).
    site = web.TCPSite(runner, rt.settings.web_host, rt.settings.web_port, reuse_port=True)
    await site.start()
    settle_heap()
    try:
        if ready:
            ready()
        await stop.wait()
    finally:
        await runner.cleanup()


async def cmd_web(args, rt) -> int:
    stop = asyncio.Event()
    stop_on_signals(stop)
    await serve(rt, stop, lambda: print(t(rt.settings.default_locale, "web.cli.serving", url=rt.settings.web_url),
                                        flush=True))
    return 0


DEMO_STAFF = "console:demo"  # the console demo's staff member: the terminal demo's account


async def run_web_demo(rt) -> int:
    """The demo ward, a staff member for it, and a sign-in link printed at the terminal."""
    from storage import demo, staff  # noqa: PLC0415
    from storage.console import seed_demo_activity  # noqa: PLC0415

    loc = rt.settings.default_locale
    await demo.seed(rt.sessions)
    async with rt.sessions.begin() as s:
        await staff.add(s, DEMO_STAFF, demo.WARD, "staff", t(loc, "web.cli.demo_staff"))
    await seed_demo_activity(rt.sessions, demo.WARD)
    member = await rt.services.staff.member(DEMO_STAFF)
    link = await rt.services.console.sign_in_link(member)
    stop = asyncio.Event()
    stop_on_signals(stop)
    # Printed once the server listens, so the link works as soon as it is shown.
    await serve(rt, stop, lambda: print(t(loc, "web.cli.demo_ready", url=rt.settings.web_url, link=link.url,
                                          minutes=link.minutes, ward=demo.WARD), flush=True))
    return 0
