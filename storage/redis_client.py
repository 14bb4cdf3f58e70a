"""The Redis client every process uses: one bounded pool, stale connections retried, and
commands packed by hiredis.

Why hiredis packs: redis-py's asyncio connection packs commands in Python (its sync one
already uses hiredis). A turn's commit script has about twenty arguments; packing it cost
~66 µs in Python and ~7 µs in hiredis, byte for byte the same output (measured), and a turn
sends three such scripts.
"""

from __future__ import annotations

import asyncio
from typing import Any

import hiredis
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError


class _HiredisPacking:
    def pack_command(self, *args):
        # As redis-py's own HiredisRespSerializer: "SCRIPT LOAD" is two words on the wire.
        if isinstance(args[0], str):
            args = tuple(args[0].encode().split()) + args[1:]
        elif b" " in args[0]:
            args = tuple(args[0].split()) + args[1:]
        try:
            return [hiredis.pack_command(args)]
        except TypeError as e:
            raise DataError(str(e)) from None


class PackedConnection(_HiredisPacking, Connection):
    pass


class PackedUnixConnection(_HiredisPacking, UnixDomainSocketConnection):
    pass


_PACKED = {Connection: PackedConnection, UnixDomainSocketConnection: PackedUnixConnection}


def make_redis(url: str, max_connections: int) -> Redis:
    """A connection left stale by a Redis restart is retried on a fresh one (a command that
    failed to reach the server). The pool does not wait for a free connection: callers bound
    how many they use (the turns' slots, MAX_CONCURRENT_UPDATES) and it is sized for them.
    No per-command socket timeout (a timer per command cost a fifth of a turn's CPU): a turn
    as a whole has one deadline (bot/turns.py, TURN_DEADLINE)."""
    pool = ConnectionPool.from_url(
        url, decode_responses=True, socket_connect_timeout=5, socket_timeout=None,
        max_connections=max_connections,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.02), 2),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
    pool.connection_class = _PACKED.get(pool.connection_class, pool.connection_class)  # rediss:// keeps its own
    return Redis(connection_pool=pool)


class Batched:
    """Script calls made while the event loop runs one round go to Redis together, as one
    pipeline without a transaction (each script stays atomic on its own, and calls for one
    person never share a round: a person's turns run one at a time). Under load a turn's
    three scripts cost a fraction of three separate round trips: one connection taken from
    the pool, one write and one read per round instead of per call. Errors come back to
    the call they belong to; a server that lost its scripts (a restart) gets them again."""

    def __init__(self, redis: Redis):
        self.redis = redis
        self._queue: list[tuple[AsyncScript, list, list, asyncio.Future]] = []
        self._sending: set[asyncio.Task] = set()

    async def __call__(self, script: AsyncScript, keys: list, args: list) -> Any:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._queue.append((script, keys, args, fut))
        if len(self._queue) == 1:
            loop.call_soon(self._flush)
        return await fut

    def _flush(self) -> None:
        batch, self._queue = self._queue, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as p:
                for script, keys, args, _ in batch:
                    p.evalsha(script.sha, len(keys), *keys, *args)
                results = await p.execute(raise_on_error=False)
        except BaseException as e:  # the connection or the server: every call in the round
            for *_, fut in batch:
                if not fut.done():
                    fut.set_exception(e)
            return
        for (script, keys, args, fut), result in zip(batch, results, strict=True):
            if fut.done():  # its turn was abandoned meanwhile
                continue
            if isinstance(result, NoScriptError):
                self._alone(script, keys, args, fut)
            elif isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)

    def _alone(self, script: AsyncScript, keys: list, args: list, fut: asyncio.Future) -> None:
        async def run() -> None:
            try:
                result = await script(keys=keys, args=args)  # loads the script, then runs it
            except BaseException as e:
                if not fut.done():
                    fut.set_exception(e)
            else:
                if not fut.done():
                    fut.set_result(result)

        task = asyncio.get_running_loop().create_task(run())
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)
