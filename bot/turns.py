"""One event = one turn, the same for every messenger: the only place that loads and saves
a conversation, steps the engine and sends what it said.

The order of a turn, and why it survives a crash at any point, is in storage/state.py:
lease, read, step, commit (state + replies + done mark, atomically), send, ack. `handle`
returns False when Redis or PostgreSQL could not be reached before the turn committed:
the caller gives the event back to the messenger (polling does not move its offset past
it, a webhook answers 503) so that it is handled later, never dropped.

Three sweepers finish what a crash or an outage left (run by `sweep_loop` in every
`healthbot run`): replies committed but never confirmed are sent, events accepted but never
handled are handled, and declarations confirmed while PostgreSQL was down are saved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError

import dialogs.flows  # noqa: F401 - registers the flows
from bot import idle, metrics
from bot.channels.base import (
    Blocked,
    Channel,
    Inbound,
    NotAllowedNow,
    Outgoing,
    Refused,
    SendError,
    split,
)
from bot.config import TIME_ZONE
from bot.render import render
from bot.runtime import Runtime
from dialogs.core import RETRY, Env, Input, Reply, step
from dialogs.ports import Unavailable
from locales import t
from storage import failpoints
from storage.state import Busy, LeaseLost, Turn

log = logging.getLogger(__name__)

# A turn stuck longer than this (a store that stopped answering without closing its
# connections) is abandoned: nothing was committed, or what was is sent by the sweeper.
TURN_DEADLINE = 60.0

# What "a store is away" looks like from here: the turn did not commit, hand the event back.
STORE_DOWN = (RedisError, Busy, LeaseLost, OSError, Unavailable)

# Decodes a raw event kept in the inbox back into an Inbound: channel name -> function.
Decoder = Callable[[str], Awaitable[Inbound | None]]


async def handle(rt: Runtime, inbound: Inbound) -> bool:
    """Handle one event. True when it is done (its effects durable, or nothing to do),
    False when a store was unavailable and the event must come again."""
    metrics.inc("healthbot_updates_total")
    started = time.perf_counter()
    try:
        if inbound.blocked:  # unfollowed / blocked: no answer, stop reminding them
            await rt.services.accounts.mark_blocked(inbound.address, datetime.now(TIME_ZONE))
            return True
        if inbound.input is None:
            return True
        async with asyncio.timeout(TURN_DEADLINE):
            await _turn(rt, inbound.address, f"{inbound.channel}:{inbound.key}" if inbound.key else None,
                        inbound.input, inbound.first_name)
    except STORE_DOWN as e:
        metrics.inc("healthbot_unavailable_total")
        log.warning("event not handled, will come again: %s", type(e).__name__)
        return False
    metrics.inc("healthbot_update_seconds_sum", time.perf_counter() - started)
    metrics.inc("healthbot_update_seconds_count")
    return True


def _slots(rt: Runtime) -> asyncio.Semaphore:
    """Turns under way at once in this process, whatever the messenger (MAX_CONCURRENT_UPDATES):
    each holds at most one Redis connection, and the pool is sized for them."""
    slots = rt.extras.get("slots")
    if slots is None:
        slots = rt.extras["slots"] = asyncio.Semaphore(rt.settings.max_concurrent_updates)
    return slots


async def _turn(rt: Runtime, addr: str, event: str | None, inp: Input | None, first_name: str = "") -> Turn:
    """Lease, read, step (unless `inp` is None or the event was handled), commit, send, ack."""
    store = rt.store
    # The slot is taken after the person's place in line: one busy person cannot hold them all.
    async with store.serial(addr), _slots(rt):
        turn = await store.begin(addr, event)
        if turn.duplicate and not turn.pending:
            metrics.inc("healthbot_updates_duplicate_total")
            return turn
        sent = 0
        try:
            if turn.duplicate:
                metrics.inc("healthbot_updates_duplicate_total")
            elif inp is not None:
                replies, retry, idle_op = await _step(rt, turn, inp, first_name)
                failpoints.hit("turn.stepped")
                await store.commit(turn, replies, retry, idle_op)
                failpoints.hit("turn.committed")
            sent = await deliver(rt, addr, turn.pending)
            failpoints.hit("turn.sent")
        except BaseException:
            with contextlib.suppress(Exception):
                await store.ack(turn, sent)
            raise
        await store.ack(turn, sent)
        return turn


async def _step(rt: Runtime, turn: Turn, inp: Input, first_name: str) -> tuple[list[dict], str, str]:
    """The engine's step on the turn's state; returns the outbox entries, the retry mark
    change ('add', 'rem' or '') and the idle set's (bot/idle.py)."""
    s = rt.settings
    before = turn.state
    now = datetime.now(TIME_ZONE)
    lost = False
    if not before and inp.kind not in ("command", "callback", RETRY):
        # An empty state is a new person, an expired conversation, or a Redis that lost its
        # data; only the last leaves a declaration marked as started in PostgreSQL.
        with contextlib.suppress(Unavailable):
            lost = await rt.services.accounts.draft_since(turn.addr) is not None
    env = Env(
        account=turn.addr,
        now=now,
        services=rt.services,
        default_locale=s.default_locale,
        station_name=s.health_station_name,
        station_phone=s.health_station_phone,
        user_first_name=first_name,
        draft_lost=lost,
    )
    idle_op = ""
    try:
        after, replies = await step(before, inp, env)
    except Unavailable:  # the database is down: the state stays exactly as it was
        after, replies = before, [Reply("common.busy")]
    else:
        turn.save(after)
        idle_op = await idle.track(rt, turn.addr, before, after, now)
    if lost:
        with contextlib.suppress(Unavailable):
            await rt.services.accounts.set_draft(turn.addr, None)
    locale = after.get("locale") or s.default_locale
    entries = [{"to": r.to or turn.addr, "m": render(r, r.locale or locale).to_json()} for r in replies]
    retry = ""
    if after.get(RETRY) and not before.get(RETRY):
        retry = "add"
    elif before.get(RETRY) and not after.get(RETRY):
        retry = "rem"
    return entries, retry, idle_op


async def deliver(rt: Runtime, addr: str, entries: list[dict[str, Any]]) -> int:
    """Send outbox entries in order; returns how many are settled (sent, or never to be
    sent). Stops at the first that may succeed later (rate limit, messenger unreachable):
    it and those after it stay in the outbox for the sweeper."""
    for i, entry in enumerate(entries):
        to = entry["to"]
        name, user = split(to)
        channel: Channel | None = rt.channels.get(name)
        if channel is None:  # that messenger is turned off here
            log.info("reply dropped: channel %s is not configured", name)
            continue
        try:
            await channel.send(user, Outgoing.from_json(entry["m"]))
            metrics.inc("healthbot_replies_total")
        except Blocked:
            if to != addr:
                with contextlib.suppress(Exception):
                    await rt.services.accounts.mark_blocked(to, datetime.now(TIME_ZONE))
            log.info("reply not delivered: the person blocked the bot")
        except (Refused, NotAllowedNow) as e:
            log.warning("reply refused by the messenger: %s", type(e).__name__)
        except SendError as e:
            log.warning("reply not sent yet (%s): will be sent again", type(e).__name__)
            return i
    return len(entries)


# ---------------------------------------------------------------- the sweepers


async def flush(rt: Runtime, addr: str) -> None:
    """Send what a person's outbox still holds (a crash between commit and send)."""
    await _turn(rt, addr, None, None)


async def retry(rt: Runtime, addr: str) -> None:
    """Give a conversation that asked for it a `retry` input (a save the database refused)."""
    turn = await _turn(rt, addr, None, Input(kind=RETRY))
    if turn.state.get(RETRY):
        await rt.store.bump_retry(addr)


async def sweep(rt: Runtime, decoders: dict[str, Decoder], *, outbox_after: float = 5.0,
                inbox_after: float = 30.0, retry_after: float = 10.0) -> int:
    """One pass of the three sweepers; returns how many people or events it took up."""
    n = 0
    for addr in await rt.store.outbox_waiting(outbox_after):
        await flush(rt, addr)
        n += 1
    for event, payload in await rt.store.inbox_waiting(inbox_after):
        decode = decoders.get(event.partition(":")[0])
        inbound = await decode(payload) if decode else None
        if inbound is None:
            await rt.store.drop_inbox(event)
        else:
            await handle(rt, inbound)
        n += 1
    for addr in await rt.store.retry_waiting(retry_after):
        await retry(rt, addr)
        n += 1
    return n


async def sweep_loop(rt: Runtime, decoders: dict[str, Decoder], stop: asyncio.Event, every: float = 2.0) -> None:
    """At start everything waiting is taken up at once (its process is gone: Telegram lets one
    process poll at a time); then only what has waited a while. Taking up work that another
    process is still doing is safe, only wasted: the lease and the done mark decide."""
    first = True
    while not stop.is_set():
        try:
            if first:
                await sweep(rt, decoders, outbox_after=-1, inbox_after=-1, retry_after=-1)
                first = False
            else:
                await sweep(rt, decoders)
        except Exception as e:  # a store away: next round
            log.warning("sweep failed: %s", type(e).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


# ---------------------------------------------------------------- when the stores are away


class Apologies:
    """While Redis or PostgreSQL is away, a person who writes is told once (per minute) that
    the answer will come, straight through their channel: never silence, and nothing to
    store. The real answer follows when the event is handled."""

    def __init__(self, rt: Runtime, every: float = 60.0):
        self.rt = rt
        self.every = every
        self.last: dict[str, float] = {}

    async def tell(self, inbound: Inbound) -> None:
        now = time.monotonic()
        if inbound.input is None or now - self.last.get(inbound.address, -1e9) < self.every:
            return
        self.last[inbound.address] = now
        channel = self.rt.channels.get(inbound.channel)
        if channel is None:
            return
        with contextlib.suppress(SendError):
            await channel.send(inbound.user, Outgoing(t(self.rt.settings.default_locale, "common.delayed")))
