"""Dialog state, per-user locks, update de-duplication and counters, all on Redis.

Every key carries a TTL (see README, "Retention"): nothing personal lingers without one.
Shaped after aiogram's fsm storage: a frozen key, one key builder, locking kept apart.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

DEDUP_TTL = 24 * 3600  # Telegram redelivers for at most a day
LOCK_TTL_MS = 30_000  # a crashed holder blocks that user at most this long


@dataclass(frozen=True, slots=True)
class StateKey:
    chat_id: int
    user_id: int


class KeyBuilder:
    def __init__(self, prefix: str):
        self.prefix = prefix

    def state(self, key: StateKey) -> str:
        return f"{self.prefix}:state:{key.chat_id}:{key.user_id}"

    def lock(self, key: StateKey) -> str:
        return f"{self.prefix}:lock:{key.chat_id}:{key.user_id}"

    def update(self, update_id: int) -> str:
        return f"{self.prefix}:upd:{update_id}"

    def counter(self, name: str) -> str:
        return f"{self.prefix}:cnt:{name}"

    def pattern(self) -> str:
        return f"{self.prefix}:*"


# INCR and start the window on the first hit; also repairs a counter left without a TTL.
_HIT = """
local n = redis.call('incr', KEYS[1])
if n == 1 or redis.call('ttl', KEYS[1]) < 0 then redis.call('expire', KEYS[1], ARGV[1]) end
return n
"""

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


# One round trip to start a turn: take the user's lock, mark the update as seen, read state.
# Returns {0} lock busy, {2} update already handled (lock given back), {1, state} go ahead.
_BEGIN = """
if not redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {0} end
if KEYS[2] ~= KEYS[1] and not redis.call('set', KEYS[2], 1, 'NX', 'EX', ARGV[3]) then
  redis.call('del', KEYS[1])
  return {2}
end
return {1, redis.call('get', KEYS[3])}
"""

# And one to end it: save (or delete) the state, then give the lock back if still ours.
_END = """
if ARGV[2] == 'set' then redis.call('set', KEYS[1], ARGV[3], 'EX', ARGV[4])
elseif ARGV[2] == 'del' then redis.call('del', KEYS[1]) end
if redis.call('get', KEYS[2]) == ARGV[1] then redis.call('del', KEYS[2]) end
return 1
"""


class LockTimeout(Exception):
    pass


@dataclass(slots=True)
class Turn:
    """One update's hold on a user's state. Set `state` to what should be saved."""

    state: dict[str, Any]
    duplicate: bool = False
    changed: bool = False

    def save(self, state: dict[str, Any]) -> None:
        self.state = state
        self.changed = True


class StateStore:
    """One JSON record per (chat, user), with a TTL refreshed on every save."""

    def __init__(self, redis: Redis, prefix: str, ttl_seconds: int):
        self.redis = redis
        self.keys = KeyBuilder(prefix)
        self.ttl = ttl_seconds
        self._release = redis.register_script(_RELEASE)
        self._hit = redis.register_script(_HIT)
        self._begin = redis.register_script(_BEGIN)
        self._end = redis.register_script(_END)
        self._local: dict[StateKey, list] = {}  # in-process queue per user: [asyncio.Lock, waiters]

    async def load(self, key: StateKey) -> dict[str, Any]:
        raw = await self.redis.get(self.keys.state(key))
        return json.loads(raw) if raw else {}

    async def save(self, key: StateKey, state: dict[str, Any]) -> None:
        if state:
            await self.redis.set(self.keys.state(key), _dump(state), ex=self.ttl)
        else:
            await self.redis.delete(self.keys.state(key))

    async def erase(self, key: StateKey) -> None:
        await self.redis.delete(self.keys.state(key))

    async def first_delivery(self, update_id: int) -> bool:
        """True the first time an update id is seen, across all processes."""
        return bool(await self.redis.set(self.keys.update(update_id), 1, nx=True, ex=DEDUP_TTL))

    async def forget_delivery(self, update_id: int) -> None:
        """After a failed attempt, so a redelivery is handled."""
        await self.redis.delete(self.keys.update(update_id))

    @asynccontextmanager
    async def user_lock(self, key: StateKey, wait: float = 20.0) -> AsyncIterator[None]:
        """Serialise one user's updates: first within this process (FIFO, no Redis traffic for
        waiters), then across processes with a Redis lock that expires if its holder dies."""
        entry = self._local.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                token = secrets.token_hex(8)
                name = self.keys.lock(key)
                delay = 0.002
                loop = asyncio.get_running_loop()
                deadline = loop.time() + wait
                while not await self.redis.set(name, token, nx=True, px=LOCK_TTL_MS):
                    if loop.time() > deadline:
                        raise LockTimeout(name)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.05)
                try:
                    yield
                finally:
                    await self._release(keys=[name], args=[token])
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._local.pop(key, None)

    @asynccontextmanager
    async def turn(self, key: StateKey, update_id: int | None = None, wait: float = 20.0) -> AsyncIterator[Turn]:
        """The unit of work around one update, in two Redis round trips: serialised per user
        (in process, then across processes), acted on once per update id, state saved at
        the end even if sending the replies failed."""
        entry = self._local.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                token = secrets.token_hex(8)
                lock, skey = self.keys.lock(key), self.keys.state(key)
                seen = self.keys.update(update_id) if update_id is not None else lock
                delay = 0.002
                loop = asyncio.get_running_loop()
                deadline = loop.time() + wait
                while True:
                    res = await self._begin(keys=[lock, seen, skey], args=[token, LOCK_TTL_MS, DEDUP_TTL])
                    if res[0] != 0:
                        break
                    if loop.time() > deadline:
                        raise LockTimeout(lock)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.05)
                if res[0] == 2:
                    yield Turn({}, duplicate=True)
                    return
                turn = Turn(json.loads(res[1]) if len(res) > 1 and res[1] else {})
                try:
                    yield turn
                finally:
                    mode, data = ("keep", "")
                    if turn.changed:
                        mode, data = ("set", _dump(turn.state)) if turn.state else ("del", "")
                    await self._end(keys=[skey, lock], args=[token, mode, data, self.ttl])
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._local.pop(key, None)

    async def hit(self, name: str, window_seconds: int) -> int:
        """Count one event in a fixed window; returns the count so far."""
        return int(await self._hit(keys=[self.keys.counter(name)], args=[window_seconds]))

    async def count(self, name: str) -> int:
        return int(await self.redis.get(self.keys.counter(name)) or 0)

    async def reset(self, name: str) -> None:
        await self.redis.delete(self.keys.counter(name))


def _dump(state: dict[str, Any]) -> str:
    return json.dumps(state, ensure_ascii=False, separators=(",", ":"), default=str)
