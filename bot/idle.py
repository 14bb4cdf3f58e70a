"""One reminder for a declaration left idle for a day; the conversation stays where it was.

`track` is called by the turn pipeline after every step (bot/turns.py): the engine never
touches Redis. `remind_idle` is one pass; `idle_loop` runs passes until stopped. The
reminder goes out through the person's own channel, like any reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

from bot.channels.base import SendError, split
from bot.config import TIME_ZONE
from bot.render import render
from bot.runtime import Runtime
from dialogs.declare import reminder
from dialogs.draft import in_progress
from dialogs.ports import Unavailable
from storage.idle import IdleStore

log = logging.getLogger(__name__)

IDLE_AFTER = 24 * 3600


def idle_store(rt: Runtime) -> IdleStore:
    store = rt.extras.get("idle")
    if store is None:
        store = rt.extras["idle"] = IdleStore(rt.redis, rt.settings.redis_prefix, rt.store.ttl)
    return store


async def track(rt: Runtime, addr: str, before: dict[str, Any], after: dict[str, Any], now: datetime) -> str:
    """What the turn's commit does to the set of declarations in progress: 'touch' (activity),
    'forget' (finished or cancelled) or ''. The start and end are also kept in PostgreSQL
    (accounts.draft_since), so a Redis that lost its data can tell a person their unfinished
    declaration is gone."""
    was, is_ = in_progress(before), in_progress(after)
    if was != is_:
        with contextlib.suppress(Unavailable):  # only a hint: never worth failing a turn
            await rt.services.accounts.set_draft(addr, now if is_ else None)
    return "touch" if is_ else "forget" if was else ""


async def remind_idle(rt: Runtime, channels: dict, now: datetime) -> int:
    """One pass: remind every conversation idle for IDLE_AFTER, once. Returns how many."""
    store = idle_store(rt)
    stamp = now.timestamp()
    await store.prune(stamp - store.ttl)  # their state has expired: nothing to come back to
    sent = 0
    for addr in await store.idle_since(stamp - IDLE_AFTER):
        state = await rt.store.load(addr)
        msg = reminder(state, now.date())
        if not await store.claim(addr) or msg is None:
            continue
        channel_name, user = split(addr)
        channel = channels.get(channel_name)
        if channel is None:
            continue
        locale = state.get("locale") or rt.settings.default_locale
        try:
            await channel.send(user, render(msg, locale))
            sent += 1
        except SendError as e:  # blocked, outside Zalo's window, unreachable: one try only
            log.info("idle reminder not sent: %s", type(e).__name__)
    return sent


async def idle_loop(rt: Runtime, channels: dict, stop: asyncio.Event, every: float = 300) -> None:
    while not stop.is_set():
        try:
            n = await remind_idle(rt, channels, datetime.now(TIME_ZONE))
            if n:
                log.info("idle reminders sent: %d", n)
        except Exception as e:  # Redis or a messenger down for a moment: try next round
            log.warning("idle pass failed: %s", type(e).__name__)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
