"""Long polling that loses nothing: an update is kept in Redis (the inbox) before Telegram
is told it may forget it (the next getUpdates' offset), then handled as its own task.

- Updates are read one by one (decode.py): one we cannot read is logged once with its id
  and error type, counted, and skipped; the others go on.
- Redis cannot keep them: the offset stays, people who wrote are told their answer is
  coming (bot.turns.Apologies), and polling tries again with backoff.
- A turn that finds Redis or PostgreSQL away is tried again with backoff by its task; if
  the process stops first, the update is still in the inbox, and the sweeper of the next
  process (or another one) handles it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging

from redis.exceptions import RedisError

from bot import metrics, turns
from bot.channels.base import Inbound, SendError
from bot.channels.telegram.channel import TelegramChannel, read_qr
from bot.channels.telegram.decode import NAME, Decoded, Unreadable, decode
from bot.runtime import Runtime

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0


async def inbound_of(channel: TelegramChannel, d: Decoded) -> Inbound:
    """Finish what decoding could not do offline: read the QR code of a photo."""
    if d.photo is not None:
        qr = await read_qr(channel, *d.photo)
        return dataclasses.replace(d.inbound, input=dataclasses.replace(d.inbound.input, qr=qr))
    return d.inbound


def decoder(channel: TelegramChannel):
    """For the inbox sweeper: a kept raw update back into an Inbound."""

    async def again(payload: str) -> Inbound | None:
        try:
            d = decode(json.loads(payload))
        except (Unreadable, ValueError):
            return None
        return await inbound_of(channel, d) if d else None

    return again


async def process(rt: Runtime, channel: TelegramChannel, d: Decoded, apologies: turns.Apologies,
                  stop: asyncio.Event | None = None) -> bool:
    """Handle one decoded update; with `stop`, keep trying while the stores are away."""
    if d.callback_id is not None:
        asyncio.ensure_future(channel.answer_callback(d.callback_id))
    inbound = await inbound_of(channel, d)
    delay = 0.5
    while True:
        if await turns.handle(rt, inbound):
            return True
        await apologies.tell(inbound)
        if stop is None or stop.is_set():
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, MAX_BACKOFF)


async def poll(rt: Runtime, channel: TelegramChannel, stop: asyncio.Event, wait: int = 25) -> None:
    apologies = turns.Apologies(rt)
    tasks: set[asyncio.Task] = set()
    offset, delay = 0, 0.5

    async def run(d: Decoded) -> None:
        try:
            await process(rt, channel, d, apologies, stop)
        except Exception as e:  # a bug must not stop polling; the inbox keeps the update
            metrics.inc("healthbot_errors_total")
            log.error("update failed: %s", type(e).__name__, exc_info=log.isEnabledFor(logging.DEBUG))

    with contextlib.suppress(SendError):  # Telegram refuses getUpdates while a webhook is set
        await channel.delete_webhook()
    # What a stopped process accepted but never handled comes first, in the order it came:
    # a person's next message must not overtake their previous one.
    while not stop.is_set():
        try:
            await turns.sweep(rt, {NAME: decoder(channel)}, outbox_after=-1, inbox_after=-1, retry_after=float("inf"))
            break
        except Exception as e:  # Redis away at start: polling would only pile up more
            log.warning("inbox not taken up yet: %s", type(e).__name__)
            await _pause(stop, delay)
            delay = min(delay * 2, MAX_BACKOFF)
    delay = 0.5
    while not stop.is_set():
        getting = asyncio.ensure_future(channel.get_updates(offset, wait))
        halt = asyncio.ensure_future(stop.wait())
        await asyncio.wait({getting, halt}, return_when=asyncio.FIRST_COMPLETED)
        halt.cancel()
        if stop.is_set():
            getting.cancel()
            break
        try:
            raw = getting.result()
        except SendError as e:
            log.warning("getUpdates failed: %s", type(e).__name__)
            await _pause(stop, delay)
            delay = min(delay * 2, MAX_BACKOFF)
            continue
        if not raw:
            continue
        batch: list[tuple[str, str, Decoded]] = []
        for u in raw:
            uid = u.get("update_id") if isinstance(u, dict) else None
            try:
                d = decode(u)
            except Unreadable as e:
                metrics.inc("healthbot_updates_unreadable_total")
                log.warning("update %s skipped: cannot be read (%s)", uid, e)
                continue
            if d is not None:
                batch.append((f"{NAME}:{d.inbound.key}", json.dumps(u, separators=(",", ":")), d))
        try:
            await rt.store.accept([(event, payload) for event, payload, _ in batch])
        except RedisError as e:
            log.warning("updates not accepted, Redis is away: %s", type(e).__name__)
            for _, _, d in batch:
                await apologies.tell(d.inbound)
            await _pause(stop, delay)
            delay = min(delay * 2, MAX_BACKOFF)
            continue
        delay = 0.5
        ids = [u["update_id"] for u in raw if isinstance(u, dict) and isinstance(u.get("update_id"), int)]
        if ids:
            offset = max(ids) + 1
        for _, _, d in batch:
            task = asyncio.ensure_future(run(d))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    # Let turns under way finish (each is short); what is left stays in the inbox.
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=3)
        for task in pending:
            task.cancel()
    # Tell Telegram the offset reached, so a restart is not handed the same batch again.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(channel.get_updates(offset, 0, limit=1), 2)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
