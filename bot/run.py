"""`healthbot run`: the messengers' channels, long polling or the webhook server, the
background jobs, and a clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import text

from bot import metrics
from bot.channels.telegram.channel import TelegramChannel, make_bot
from bot.runtime import Runtime, settle_heap
from locales import t

log = logging.getLogger(__name__)

# Jobs started beside the bot: fn(rt, stop) -> coroutine that returns soon after stop is set.
Job = Callable[[Runtime, asyncio.Event], Awaitable[None]]


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


# The commands Telegram lists under the "Menu" button, in the order residents need them.
MENU_COMMANDS = ("start", "khaibao", "hoso", "nguoithan", "dulieucuatoi", "trogiup", "ngonngu")


def _menu(locale: str) -> list[tuple[str, str]]:
    return [(name, t(locale, f"menu.{name}")) for name in MENU_COMMANDS]


async def announce_commands(channel: TelegramChannel, locale: str) -> None:
    """Best effort: a Bot API hiccup here must not stop the bot from starting."""
    from telegram.error import TelegramError  # noqa: PLC0415

    try:
        await channel.bot.set_my_commands(_menu(locale))
        await channel.bot.set_my_commands(_menu("en"), language_code="en")
    except TelegramError as e:
        log.warning("could not set the command menu: %s", type(e).__name__)


async def open_channels(rt: Runtime, telegram_request=None, updates_request=None, start: bool = True) -> dict:
    """The messengers configured here (Telegram: BOT_TOKEN set; Zalo: ZALO_APP_ID set; either
    may be off). `start` asks each who it is
    (Telegram's getMe); a terminal command that only sends skips it, so that a messenger
    outage does not stop it."""
    s = rt.settings
    channels: dict = {}
    if s.bot_token:
        bot = make_bot(s, s.max_concurrent_updates, telegram_request, updates_request)
        tg = TelegramChannel(bot, s.bot_username, rate=s.broadcast_rate)
        if start:
            try:
                await tg.start()
            except BaseException:
                await tg.close()
                raise
        channels[tg.name] = tg
    if s.zalo_enabled:
        from bot.channels.zalo import ZaloChannel  # noqa: PLC0415

        channels["zalo"] = ZaloChannel(s, rt.redis)
    rt.channels = channels
    return channels


@contextlib.asynccontextmanager
async def sending(rt: Runtime):
    """The channels for a terminal command that sends messages (reminders, outcomes)."""
    opened = not rt.channels
    if opened:
        await open_channels(rt, start=False)
    try:
        yield rt.channels
    finally:
        if opened:
            await close_channels(rt.channels)
            rt.channels = {}


async def close_channels(channels: dict) -> None:
    for ch in channels.values():
        with contextlib.suppress(Exception):
            await ch.close()


def zalo_events(rt: Runtime):
    """Zalo's events into turns; False (answered 503, so Zalo sends it again) when a store is away."""
    from bot.turns import Apologies, handle  # noqa: PLC0415

    apologies = Apologies(rt)

    async def on_event(inbound) -> bool:
        ok = await handle(rt, inbound)
        if not ok:
            await apologies.tell(inbound)
        return ok

    return on_event


def decoders(channels: dict) -> dict:
    """How the inbox sweeper reads back a kept event, per channel."""
    out = {}
    if "telegram" in channels:
        from bot.channels.telegram.polling import decoder  # noqa: PLC0415

        out["telegram"] = decoder(channels["telegram"])
    return out


def jobs(rt: Runtime) -> list[Job]:
    """Background jobs of every `healthbot run` process (shared work goes through the stores)."""
    from bot.broadcaster import worker_loop  # noqa: PLC0415
    from bot.idle import idle_loop  # noqa: PLC0415
    from bot.turns import sweep_loop  # noqa: PLC0415

    return [
        lambda rt, stop: idle_loop(rt, rt.channels, stop),
        lambda rt, stop: sweep_loop(rt, decoders(rt.channels), stop),
        lambda rt, stop: worker_loop(rt, stop),
    ]


async def serve(rt: Runtime, webhook: bool, stop: asyncio.Event, background: list[Job] | None = None) -> None:
    channels = await open_channels(rt)
    tasks: list[asyncio.Task] = []
    runner = None
    try:
        tg = channels.get("telegram")
        if tg is not None:
            await announce_commands(tg, rt.settings.default_locale)
        # Zalo only ever calls us: it always needs the server; so does the console when mounted.
        if webhook or "zalo" in channels or rt.settings.web_console:
            runner = await start_web(rt, channels, telegram_webhook=webhook)
        settle_heap()
        for job in background if background is not None else jobs(rt):
            tasks.append(asyncio.create_task(job(rt, stop)))
        if tg is not None and not webhook:
            from bot.channels.telegram.polling import poll  # noqa: PLC0415

            log.info("polling as @%s", tg.username)
            tasks.append(asyncio.create_task(poll(rt, tg, stop)))
        await stop.wait()
        log.info("stopping")
        if runner is not None:
            await runner.cleanup()
            runner = None
        await _finish(tasks)
    finally:
        if runner is not None:
            await runner.cleanup()
        await close_channels(channels)


async def start_web(rt: Runtime, channels: dict, telegram_webhook: bool = True) -> web.AppRunner:
    s = rt.settings
    app = make_web_app(rt, channels, telegram_webhook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, s.webhook_host, s.webhook_port).start()
    tg = channels.get("telegram")
    if tg is not None and telegram_webhook:
        from telegram import Update  # noqa: PLC0415

        await tg.bot.set_webhook(s.webhook_url, secret_token=s.webhook_secret,
                                 allowed_updates=Update.ALL_TYPES, max_connections=100)
    log.info("webhook server on %s:%s", s.webhook_host, s.webhook_port)
    return runner


async def _finish(tasks: list[asyncio.Task]) -> None:
    """Tasks watch `stop` and return; anything still running after 3 s is cancelled."""
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=3)
    for j in pending:
        j.cancel()
    for j in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await j


MESSENGER_MAX = 1024 * 1024  # bytes in a webhook's body


def make_web_app(rt: Runtime, channels: dict, telegram_webhook: bool = True) -> web.Application:
    """The server's routes; with WEB_CONSOLE, the staff console's pages beside them."""
    s = rt.settings

    async def healthz(request: web.Request) -> web.Response:
        status = {"postgres": "ok", "redis": "ok"}
        try:
            async with rt.engine.connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), 2)
        except Exception as e:
            status["postgres"] = type(e).__name__
        try:
            await asyncio.wait_for(rt.redis.ping(), 2)
        except Exception as e:
            status["redis"] = type(e).__name__
        ok = all(v == "ok" for v in status.values())
        return web.json_response(status, status=200 if ok else 503)

    async def prometheus(request: web.Request) -> web.Response:
        if not metrics.allowed(rt.settings, request.remote, request.headers.get("Authorization")):
            return web.Response(status=403)
        return web.Response(text=metrics.render(), content_type="text/plain", charset="utf-8")

    own: list[web.RouteDef] = []
    if "telegram" in channels and telegram_webhook and s.webhook_url:
        from bot.channels.telegram.webhook import route  # noqa: PLC0415

        own.append(web.post(urlsplit(s.webhook_url).path or "/", route(rt, channels["telegram"], s.webhook_secret)))
    if "zalo" in channels:
        from bot.channels.zalo import make_routes  # noqa: PLC0415

        own.extend(make_routes(s, rt.redis, zalo_events(rt)))
    from bot.card_page import route as card_page  # noqa: PLC0415

    own += [web.get("/c/{code}", card_page(s, channels)), web.get("/healthz", healthz),
            web.get("/metrics", prometheus)]
    if s.web_console:
        return with_console(rt, channels, own)
    app = web.Application(client_max_size=MESSENGER_MAX)
    app.add_routes(own)
    return app


def with_console(rt: Runtime, channels: dict, own: list[web.RouteDef]) -> web.Application:
    """The console at the root with the server's routes beside it: a route of ours on a
    console path stops the start (which page would answer is not for the router to guess);
    the console's sessions, CSRF and headers apply to its pages only, and the webhooks keep
    their own body limit."""
    from bot.config import ConfigError  # noqa: PLC0415
    from web.app import FOREIGN, clashes, mount  # noqa: PLC0415

    tg = channels.get("telegram")
    app = mount(rt, tg.username if tg is not None else "")
    for r in own:
        if clashes(app, r.path):
            raise ConfigError("web.cli.clash", "ZALO_WEBHOOK_PATH" if r.path == rt.settings.zalo_webhook_path
                              else "WEBHOOK_URL")
    console_resources = set(app.router.resources())
    app.add_routes(own)
    app[FOREIGN] = set(app.router.resources()) - console_resources

    @web.middleware
    async def messenger_limit(request: web.Request, handler):
        if request.match_info.route.resource in request.app[FOREIGN]:
            request = request.clone(client_max_size=MESSENGER_MAX)
        return await handler(request)

    app.middlewares.append(messenger_limit)
    return app
