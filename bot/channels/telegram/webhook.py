"""Telegram's webhook: POST of one update, handled before answering.

200 once the update's effects are durable (or it needs nothing); 503 when Redis or
PostgreSQL were away, so Telegram sends it again later (the person is told the answer is
coming); 400 for a body that is not a JSON object; an update we cannot read is logged,
counted and answered 200 (sending it again would not help); 403 without the secret.
"""

from __future__ import annotations

import hmac
import json
import logging

from aiohttp import web

from bot import metrics, turns
from bot.channels.telegram.channel import TelegramChannel
from bot.channels.telegram.decode import Unreadable, decode
from bot.channels.telegram.polling import process
from bot.runtime import Runtime

log = logging.getLogger(__name__)


def route(rt: Runtime, channel: TelegramChannel, secret: str):
    given_secret = secret.encode()
    apologies = turns.Apologies(rt)

    async def webhook(request: web.Request) -> web.Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        if not hmac.compare_digest(given, given_secret):  # constant time
            return web.Response(status=403)
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.Response(status=400)
        if not isinstance(body, dict):
            return web.Response(status=400)
        try:
            d = decode(body)
        except Unreadable as e:
            metrics.inc("healthbot_updates_unreadable_total")
            log.warning("update %s skipped: cannot be read (%s)", body.get("update_id"), e)
            return web.Response(text="ok")
        if d is None:
            return web.Response(text="ok")
        ok = await process(rt, channel, d, apologies)
        return web.Response(text="ok") if ok else web.Response(status=503)

    return webhook
