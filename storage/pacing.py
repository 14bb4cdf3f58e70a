"""A send rate shared by every broadcast worker, kept in Redis.

Each send reserves the next free slot on one timeline (`next`, in microseconds of Redis's
clock): slots are `1/rate` apart however many workers ask, so N workers together keep the
rate, and nobody polls. A 429 from Telegram sets `pause` (until now + retry_after): no slot
is handed out before it ends, and a sender that reserved a slot before the 429 arrived
checks again when its slot comes (`confirm`) and queues behind the pause.

Only broadcasts use this; replies to residents go through another Bot and never wait here.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

# KEYS: next, pause. ARGV: interval µs, key ttl ms, mode ('reserve' | 'confirm').
# Returns the µs to wait before sending; 0 from 'confirm' means "go now".
_SLOT = """
local t = redis.call('time')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pause = tonumber(redis.call('get', KEYS[2]) or '0')
if ARGV[3] == 'confirm' and pause <= now then return 0 end
local slot = math.max(now, pause, tonumber(redis.call('get', KEYS[1]) or '0'))
redis.call('set', KEYS[1], string.format('%d', slot + tonumber(ARGV[1])), 'px', ARGV[2])
return slot - now
"""

# KEYS: next, pause. ARGV: pause µs, key ttl ms. The pause only ever grows.
_PAUSE = """
local t = redis.call('time')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local untl = math.max(now + tonumber(ARGV[1]), tonumber(redis.call('get', KEYS[2]) or '0'))
redis.call('set', KEYS[2], string.format('%d', untl), 'px', ARGV[2])
local nxt = tonumber(redis.call('get', KEYS[1]) or '0')
if nxt < untl then redis.call('set', KEYS[1], string.format('%d', untl), 'px', ARGV[2]) end
return untl - now
"""

KEY_TTL_MS = 3_600_000  # an idle limiter forgets itself; a longer pause keeps its own key alive


class SharedRate:
    def __init__(self, redis: Redis, prefix: str, rate: float):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.redis = redis
        self.keys = [f"{prefix}:bcast:next", f"{prefix}:bcast:pause"]
        self.interval_us = round(1_000_000 / rate)
        self.grace = max(2 / rate, 0.05)  # seconds late before a slot counts as missed
        self._slot = redis.register_script(_SLOT)
        self._pause = redis.register_script(_PAUSE)

    async def acquire(self) -> None:
        """Wait for this sender's slot; returns when it may send.

        A sender that wakes well after its slot (a busy event loop) takes a new slot once
        instead of sending at once: otherwise every late sender would fire together, a
        burst above the rate."""
        loop = asyncio.get_running_loop()
        wait = await self._call("reserve")
        missed = False
        while wait > 0:
            due = loop.time() + wait / 1_000_000
            await asyncio.sleep(wait / 1_000_000)
            if not missed and loop.time() - due > self.grace:
                missed = True
                wait = await self._call("reserve")
                continue
            wait = await self._call("confirm")

    async def _call(self, mode: str) -> int:
        return int(await self._slot(keys=self.keys, args=[self.interval_us, KEY_TTL_MS, mode]))

    async def pause(self, seconds: float) -> float:
        """Telegram said 429: nobody sends for `seconds`. Returns the seconds left to wait."""
        ttl = max(KEY_TTL_MS, int(seconds * 1000) + 60_000)
        left = int(await self._pause(keys=self.keys, args=[int(seconds * 1_000_000), ttl]))
        return left / 1_000_000

    async def paused_for(self) -> float:
        """Seconds left of a pause (0 if none)."""
        raw = await self.redis.get(self.keys[1])
        if not raw:
            return 0.0
        now_s, now_us = await self.redis.time()
        return max(0.0, (int(raw) - (now_s * 1_000_000 + now_us)) / 1_000_000)
