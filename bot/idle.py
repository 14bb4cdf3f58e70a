"""One reminder for a declaration left idle for a day; the conversation stays where it was.

`track` is called by the adapter after every step (bot/conversation.py): the engine never
touches Redis. `remind_idle` is one pass; `idle_loop` runs passes until stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime
from typing import Any

from telegram import Bot
from telegram.error import Forbidden, TelegramError

from bot.config import TIME_ZONE
from bot.render import text_of
from bot.runtime import Runtime
from dialogs.declare import reminder
from dialogs.draft import in_progress
from storage.idle import IdleStore
from storage.state import StateKey

log = logging.getLogger(__name__)

IDLE_AFTER = 24 * 3600


def idle_store(rt: Runtime) -> IdleStore:
    store = rt.extras.get("idle")
    if store is None:
        store = rt.extras["idle"] = IdleStore(rt.redis, rt.settings.redis_prefix, rt.store.ttl)
    return store


async def track(rt: Runtime, key: StateKey, before: dict[str, Any], after: dict[str, Any]) -> None:
    """Record activity of a declaration in progress; drop it once finished or cancelled."""
    if in_progress(after):
        await idle_store(rt).touch(key, time.time())
    elif in_progress(before):
        await idle_store(rt).forget(key)


async def remind_idle(rt: Runtime, bot: Bot, now: datetime) -> int:
    """One pass: remind every conversation idle for IDLE_AFTER, once. Returns how many."""
    store = idle_store(rt)
    stamp = now.timestamp()
    await store.prune(stamp - store.ttl)  # their state has expired: nothing to come back to
    sent = 0
    for key in await store.idle_since(stamp - IDLE_AFTER):
        state = await rt.store.load(key)
        msg = reminder(state, now.date())
        if not await store.claim(key) or msg is None:
            continue
        locale = state.get("locale") or rt.settings.default_locale
        try:
            await bot.send_message(key.chat_id, text_of(msg, locale))
            sent += 1
        except Forbidden:
            pass  # blocked the bot: nothing to remind
        except TelegramError as e:
            log.warning("idle reminder not sent: %s", type(e).__name__)
    return sent


async def idle_loop(rt: Runtime, bot: Bot, stop: asyncio.Event, every: float = 300) -> None:
    while not stop.is_set():
        try:
            n = await remind_idle(rt, bot, datetime.now(TIME_ZONE))
            if n:
                log.info("idle reminders sent: %d", n)
        except Exception as e:  # Redis or the Bot API down for a moment: try next round
            log.warning("idle pass failed: %s", type(e).__name__)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
