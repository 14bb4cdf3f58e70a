"""`healthbot run`: long polling or an aiohttp webhook server, with clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import text
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application

from bot import metrics
from bot.runtime import Runtime
from locales import t

log = logging.getLogger(__name__)

# Background jobs started beside the bot: fn(rt, app, stop) -> coroutine that returns on stop.
Background = Callable[[Runtime, Application, asyncio.Event], Awaitable[None]]


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


# The commands Telegram lists under the "Menu" button, in the order residents need them.
MENU_COMMANDS = ("start", "khaibao", "hoso", "nguoithan", "dulieucuatoi", "trogiup", "ngonngu")


def _menu(locale: str) -> list[tuple[str, str]]:
    return [(name, t(locale, f"menu.{name}")) for name in MENU_COMMANDS]


async def announce_commands(app: Application, locale: str) -> None:
    """Best effort: a Bot API hiccup here must not stop the bot from starting."""
    try:
        await app.bot.set_my_commands(_menu(locale))
        await app.bot.set_my_commands(_menu("en"), language_code="en")
    except TelegramError as e:
        log.warning("could not set the command menu: %s", type(e).__name__)


async def run_polling(rt: Runtime, app: Application, background: list[Background], stop: asyncio.Event) -> None:
    async with app:
        await app.start()
        await announce_commands(app, rt.settings.default_locale)
        # Pending updates are kept: a resident's message sent while we were down is answered.
        await app.updater.start_polling(
            allowed_updates=Update.ALL_TYPES, drop_pending_updates=False, timeout=25, poll_interval=0
        )
        log.info("polling as @%s", app.bot.username)
        jobs = [asyncio.create_task(job(rt, app, stop)) for job in background]
        await stop.wait()
        log.info("stopping")
        await app.updater.stop()
        await _finish(jobs)
        await app.stop()


async def run_webhook(rt: Runtime, app: Application, background: list[Background], stop: asyncio.Event) -> None:
    s = rt.settings
    path = urlsplit(s.webhook_url).path or "/"
    async with app:
        await app.start()
        await announce_commands(app, s.default_locale)
        runner = web.AppRunner(make_web_app(rt, app, path), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, s.webhook_host, s.webhook_port)
        await site.start()
        await app.bot.set_webhook(
            s.webhook_url, secret_token=s.webhook_secret, allowed_updates=Update.ALL_TYPES, max_connections=100
        )
        log.info("webhook server on %s:%s%s", s.webhook_host, s.webhook_port, path)
        jobs = [asyncio.create_task(job(rt, app, stop)) for job in background]
        await stop.wait()
        log.info("stopping")
        await runner.cleanup()
        await _finish(jobs)
        await app.stop()


async def _finish(jobs: list[asyncio.Task]) -> None:
    """Background jobs watch `stop` and return; anything still running after 3 s is cancelled."""
    if not jobs:
        return
    _, pending = await asyncio.wait(jobs, timeout=3)
    for j in pending:
        j.cancel()
    for j in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await j


def make_web_app(rt: Runtime, app: Application, path: str) -> web.Application:
    secret = rt.settings.webhook_secret.encode()

    async def webhook(request: web.Request) -> web.Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        if not hmac.compare_digest(given, secret):  # constant time
            return web.Response(status=403)
        try:
            update = Update.de_json(json.loads(await request.read()), app.bot)
        except (ValueError, TypeError, KeyError):
            return web.Response(status=400)
        # Handled before answering: if this process dies mid-way, Telegram delivers again
        # and the update-id de-duplication makes sure it is acted on once.
        await app.process_update(update)
        return web.Response(text="ok")

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

    web_app = web.Application(client_max_size=1024 * 1024)
    web_app.router.add_post(path, webhook)
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", prometheus)
    return web_app
