"""Dialog state, per-person leases, update de-duplication, the outbox and counters, on Redis.

Every key carries a TTL (see README, "Retention"): nothing personal lingers without one.
Shaped after aiogram's fsm storage: one key builder, locking kept apart from the records.
A person is their messenger address ("telegram:123"): the store never knows more.

How a turn stays correct through crashes (the delivery guarantee, README "Architecture"):

1. `begin` takes the person's lease (a lock that expires LEASE_MS after its holder stops
   renewing it), tells whether this event was already handled, and reads the state and any
   replies still waiting in the person's outbox.
2. The engine steps. Nothing is written yet: a crash here leaves no trace, and the event is
   handled again when it comes back (Telegram redelivers, the inbox is swept).
3. `commit` writes, in one atomic script and only while the lease is still ours: the new
   state, the replies into the outbox, the event's "done" mark, and takes it off the inbox.
   From here a crash cannot lose a reply or re-run the step.
4. The replies are sent, and `ack` drops each one that was confirmed, then gives the lease
   back. A crash between a send and its ack re-sends that one reply later (at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis

from storage.redis_client import Batched

log = logging.getLogger(__name__)

DEDUP_TTL = 24 * 3600  # Telegram redelivers for at most a day
OUTBOX_TTL = 24 * 3600  # a reply not delivered within a day is dropped
LEASE_MS = 10_000  # a dead holder blocks that person at most this long
RENEW_EVERY = LEASE_MS / 3000  # seconds between renewals of the leases this process holds
WAIT = 120.0  # how long a turn waits for a live holder before giving the event back


class KeyBuilder:
    def __init__(self, prefix: str):
        self.prefix = prefix

    def state(self, addr: str) -> str:
        return f"{self.prefix}:state:{addr}"

    def lock(self, addr: str) -> str:
        return f"{self.prefix}:lock:{addr}"

    def outbox(self, addr: str) -> str:
        return f"{self.prefix}:out:{addr}"

    def done(self, event: str) -> str:
        return f"{self.prefix}:done:{event}"

    def counter(self, name: str) -> str:
        return f"{self.prefix}:cnt:{name}"

    @property
    def outq(self) -> str:  # addresses with replies waiting, by time of commit
        return f"{self.prefix}:outq"

    @property
    def retryq(self) -> str:  # addresses whose conversation asked for a `retry` input
        return f"{self.prefix}:retryq"

    @property
    def idle(self) -> str:  # declarations in progress by last activity (storage/idle.py)
        return f"{self.prefix}:idle"

    @property
    def inbox(self) -> str:  # accepted events not handled yet: event -> raw payload
        return f"{self.prefix}:inbox"

    @property
    def inboxq(self) -> str:  # the same events by time of acceptance
        return f"{self.prefix}:inboxq"

    def pattern(self) -> str:
        return f"{self.prefix}:*"


# INCR and start the window on the first hit; also repairs a counter left without a TTL.
_HIT = """
local n = redis.call('incr', KEYS[1])
if n == 1 or redis.call('ttl', KEYS[1]) < 0 then redis.call('expire', KEYS[1], ARGV[1]) end
return n
"""

# KEYS: lock, done, state, outbox. ARGV: token, lease ms.
# {0, pttl} busy; {2} handled before and nothing left to send; {1, done, state, outbox...}
_BEGIN = """
if not redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {0, redis.call('pttl', KEYS[1])}
end
local done = 0
if KEYS[2] ~= KEYS[1] then done = redis.call('exists', KEYS[2]) end
local out = redis.call('lrange', KEYS[4], 0, -1)
if done == 1 and #out == 0 then
  redis.call('del', KEYS[1])
  return {2}
end
return {1, done, redis.call('get', KEYS[3]) or false, unpack(out)}
"""

# KEYS: lock, state, outbox, done, outq, inbox, inboxq, retryq, idle.
# ARGV: token, mode (set|del|keep), state, state ttl, dedup ttl, now, address, event, retry
# (add|rem|''), outbox ttl, idle (touch|forget|''), then the replies. Returns 0 when the lease
# was lost (nothing written).
_COMMIT = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == 'set' then redis.call('set', KEYS[2], ARGV[3], 'EX', ARGV[4])
elseif ARGV[2] == 'del' then redis.call('del', KEYS[2]) end
if ARGV[11] == 'touch' then
  redis.call('zadd', KEYS[9], ARGV[6], ARGV[7])
  redis.call('expire', KEYS[9], ARGV[4] + 86400)
elseif ARGV[11] == 'forget' then redis.call('zrem', KEYS[9], ARGV[7]) end
if #ARGV > 11 then
  for i = 12, #ARGV do redis.call('rpush', KEYS[3], ARGV[i]) end
  redis.call('expire', KEYS[3], ARGV[10])
  redis.call('zadd', KEYS[5], 'NX', ARGV[6], ARGV[7])
  redis.call('expire', KEYS[5], ARGV[10])
end
if KEYS[4] ~= KEYS[1] then
  redis.call('set', KEYS[4], 1, 'EX', ARGV[5])
  redis.call('hdel', KEYS[6], ARGV[8])
  redis.call('zrem', KEYS[7], ARGV[8])
end
if ARGV[9] == 'add' then
  redis.call('zadd', KEYS[8], ARGV[6], ARGV[7])
  redis.call('expire', KEYS[8], ARGV[4])
elseif ARGV[9] == 'rem' then redis.call('zrem', KEYS[8], ARGV[7]) end
return 1
"""

# KEYS: lock, outbox, outq. ARGV: token, replies confirmed, release (1|0), address.
_ACK = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[2])
if n > 0 then redis.call('ltrim', KEYS[2], n, -1) end
if redis.call('llen', KEYS[2]) == 0 then redis.call('zrem', KEYS[3], ARGV[4]) end
if ARGV[3] == '1' then redis.call('del', KEYS[1]) end
return 1
"""

_RENEW = """
local n = 0
for i = 1, #KEYS do
  if redis.call('get', KEYS[i]) == ARGV[i] then redis.call('pexpire', KEYS[i], ARGV[#KEYS + 1]); n = n + 1 end
end
return n
"""

# KEYS: inbox, inboxq. ARGV: now, ttl, then event/payload pairs. Accepted once: a second
# copy of an event already waiting keeps the first.
_ACCEPT = """
for i = 3, #ARGV, 2 do
  if redis.call('hsetnx', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then redis.call('zadd', KEYS[2], ARGV[1], ARGV[i]) end
end
redis.call('expire', KEYS[1], ARGV[2])
redis.call('expire', KEYS[2], ARGV[2])
return 1
"""


class Busy(Exception):
    """The person's lease stayed taken by a live holder for longer than the wait: the event
    was not handled and must be given back (not confirmed) to be tried again."""


class LeaseLost(Exception):
    """Our lease expired before the commit (we were stalled): nothing was written."""


@dataclass(slots=True)
class Turn:
    """One event's hold on a person's state. Set `state` (via save) and `replies` to commit."""

    addr: str
    token: str
    event: str | None
    state: dict[str, Any]
    duplicate: bool = False  # handled before: only `pending` (replies never confirmed) to send
    pending: list[dict] = field(default_factory=list)  # outbox entries left by an earlier turn
    changed: bool = False

    def save(self, state: dict[str, Any]) -> None:
        self.state = state
        self.changed = True


class StateStore:
    """One JSON record per person, with a TTL refreshed on every save."""

    def __init__(self, redis: Redis, prefix: str, ttl_seconds: int):
        self.redis = redis
        self.keys = KeyBuilder(prefix)
        self.ttl = ttl_seconds
        self._hit = redis.register_script(_HIT)
        self._begin = redis.register_script(_BEGIN)
        self._commit = redis.register_script(_COMMIT)
        self._ack = redis.register_script(_ACK)
        self._renew = redis.register_script(_RENEW)
        self._accept = redis.register_script(_ACCEPT)
        self._batched = Batched(redis)  # the turn's three scripts, sent with other turns'
        self._local: dict[str, list] = {}  # in-process queue per person: [asyncio.Lock, waiters]
        self._held: dict[str, str] = {}  # lock key -> token, renewed while held
        self._renewer: asyncio.Task | None = None

    # ------------------------------------------------------------ plain reads and writes

    async def load(self, addr: str) -> dict[str, Any]:
        raw = await self.redis.get(self.keys.state(addr))
        return orjson.loads(raw) if raw else {}

    async def save(self, addr: str, state: dict[str, Any]) -> None:
        if state:
            await self.redis.set(self.keys.state(addr), _dump(state), ex=self.ttl)
        else:
            await self.redis.delete(self.keys.state(addr))

    async def erase(self, addr: str) -> None:
        await self.redis.delete(self.keys.state(addr))

    # ------------------------------------------------------------ the turn

    async def begin(self, addr: str, event: str | None = None, wait: float = WAIT) -> Turn:
        """Take the person's lease (waiting while a live holder works; a dead holder's lease
        runs out within LEASE_MS) and read what the turn needs. Raises Busy after `wait`."""
        token = secrets.token_hex(8)
        lock = self.keys.lock(addr)
        done = self.keys.done(event) if event else lock
        keys = [lock, done, self.keys.state(addr), self.keys.outbox(addr)]
        delay, deadline = 0.002, time.monotonic() + wait
        while True:
            res = await self._batched(self._begin, keys, [token, LEASE_MS])
            if res[0] != 0:
                break
            if time.monotonic() > deadline:
                raise Busy(addr)
            await asyncio.sleep(min(delay, max(0.001, int(res[1]) / 1000)))
            delay = min(delay * 2, 0.05)
        if res[0] == 2:
            return Turn(addr, token, event, {}, duplicate=True)
        self._hold(lock, token)
        raw = res[2]
        return Turn(addr, token, event, orjson.loads(raw) if raw else {}, duplicate=res[1] == 1,
                    pending=[orjson.loads(x) for x in res[3:]])

    async def commit(self, turn: Turn, replies: list[dict], retry: str = "", idle: str = "") -> None:
        """The new state, its replies and the event's done mark, atomically (and the person's
        place among declarations in progress: `idle` touch|forget). LeaseLost if another
        holder took over meanwhile (then nothing was written)."""
        mode, data = ("keep", "")
        if turn.changed:
            mode, data = ("set", _dump(turn.state)) if turn.state else ("del", "")
        k = self.keys
        lock = k.lock(turn.addr)
        keys = [lock, k.state(turn.addr), k.outbox(turn.addr), k.done(turn.event) if turn.event else lock,
                k.outq, k.inbox, k.inboxq, k.retryq, k.idle]
        args = [turn.token, mode, data, self.ttl, DEDUP_TTL, time.time(), turn.addr, turn.event or "", retry,
                OUTBOX_TTL, idle, *(_dump(r) for r in replies)]
        if not await self._batched(self._commit, keys, args):
            self._held.pop(lock, None)
            raise LeaseLost(turn.addr)
        turn.pending.extend(replies)

    async def ack(self, turn: Turn, sent: int, release: bool = True) -> None:
        """Drop the first `sent` outbox entries (confirmed) and give the lease back."""
        k = self.keys
        lock = k.lock(turn.addr)
        if release:
            self._held.pop(lock, None)
        await self._batched(self._ack, [lock, k.outbox(turn.addr), k.outq], [turn.token, sent, int(release), turn.addr])

    async def release(self, turn: Turn) -> None:
        await self.ack(turn, 0)

    @contextlib.asynccontextmanager
    async def serial(self, addr: str) -> AsyncIterator[None]:
        """One turn at a time per person within this process (FIFO, no Redis traffic for
        waiters); across processes the lease does the same."""
        entry = self._local.setdefault(addr, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._local.pop(addr, None)

    @contextlib.asynccontextmanager
    async def user_lock(self, addr: str, wait: float = WAIT) -> AsyncIterator[None]:
        """Hold a person's lease for work outside a turn (erasing their drafts)."""
        async with self.serial(addr):
            turn = await self.begin(addr, None, wait)
            try:
                yield
            finally:
                await self.release(turn)

    # ------------------------------------------------------------ leases

    def _hold(self, lock: str, token: str) -> None:
        self._held[lock] = token
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_loop())

    async def _renew_loop(self) -> None:
        """Keep the leases of turns in progress alive (one call for all of them), so a slow
        turn keeps its person and only a dead process lets go."""
        while self._held:
            await asyncio.sleep(RENEW_EVERY)
            held = list(self._held.items())
            if not held:
                break
            try:
                await self._renew(keys=[k for k, _ in held], args=[*(t for _, t in held), LEASE_MS])
            except Exception as e:  # Redis away for a moment: the next round tries again
                log.warning("lease renewal failed: %s", type(e).__name__)

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._renewer

    # ------------------------------------------------------------ waiting work (sweepers)

    async def accept(self, events: list[tuple[str, str]]) -> None:
        """Keep raw events (event key, payload) until their turn commits: once accepted the
        messenger may forget them (Telegram's offset moves on) and a crash loses nothing."""
        if not events:
            return
        args: list[Any] = [time.time(), DEDUP_TTL]
        for event, payload in events:
            args += [event, payload]
        await self._accept(keys=[self.keys.inbox, self.keys.inboxq], args=args)

    async def inbox_waiting(self, older_than: float, limit: int = 200) -> list[tuple[str, str]]:
        """Accepted events not handled `older_than` seconds after they came (their process died)."""
        names = await self.redis.zrangebyscore(self.keys.inboxq, "-inf", time.time() - older_than, start=0, num=limit)
        if not names:
            return []
        payloads = await self.redis.hmget(self.keys.inbox, names)
        out = []
        for name, payload in zip(names, payloads, strict=True):
            if payload is None:  # handled meanwhile
                await self.redis.zrem(self.keys.inboxq, name)
            else:
                out.append((name, payload))
        return out

    async def drop_inbox(self, event: str) -> None:
        async with self.redis.pipeline(transaction=False) as p:
            p.hdel(self.keys.inbox, event)
            p.zrem(self.keys.inboxq, event)
            await p.execute()

    async def outbox_waiting(self, older_than: float, limit: int = 200) -> list[str]:
        """People with replies committed but not confirmed for `older_than` seconds."""
        return list(await self.redis.zrangebyscore(self.keys.outq, "-inf", time.time() - older_than,
                                                   start=0, num=limit))

    async def retry_waiting(self, older_than: float, limit: int = 200) -> list[str]:
        """Conversations that asked to be tried again (a save the database refused)."""
        return list(await self.redis.zrangebyscore(self.keys.retryq, "-inf", time.time() - older_than,
                                                   start=0, num=limit))

    async def bump_retry(self, addr: str) -> None:
        """Tried and still failing: look again later."""
        await self.redis.zadd(self.keys.retryq, {addr: time.time()}, xx=True)

    # ------------------------------------------------------------ counters

    async def hit(self, name: str, window_seconds: int) -> int:
        """Count one event in a fixed window; returns the count so far."""
        return int(await self._hit(keys=[self.keys.counter(name)], args=[window_seconds]))

    async def count(self, name: str) -> int:
        return int(await self.redis.get(self.keys.counter(name)) or 0)

    async def reset(self, name: str) -> None:
        await self.redis.delete(self.keys.counter(name))


def _dump(value: Any) -> bytes:
    """UTF-8 JSON (orjson: a turn writes its state and replies, ~10× faster than json)."""
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS)
