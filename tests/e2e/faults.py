"""Tools of the fault tests: a TCP proxy that cuts PostgreSQL or Redis on demand, and a
person whose every message is waited on until the bot has handled it (its done mark is in
Redis and nothing is left in the outbox), an event rather than a pause.

The proxy stands between the bot process and the machine's (or the embedded) servers, so
the tests break the connection the way a network or a restarting server does, without
stopping servers other tests share.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import parse_qs, urlsplit, urlunsplit

from redis.asyncio import Redis

from tests.chat import Chat, addr
from tests.standin import BotApi


class Proxy:
    """Forwards TCP connections to a server. `down()` cuts every connection and refuses new
    ones (a server that stopped); `up()` lets them through again; `cut()` drops the open
    connections only (a server that restarted: the client's pooled connections are stale)."""

    def __init__(self, target: str):
        self.target = target  # "host:port" or a unix socket path
        self.refusing = False
        self.conns: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> Proxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _connect(self):
        if self.target.startswith("/"):
            return await asyncio.open_unix_connection(self.target)
        host, port = self.target.rsplit(":", 1)
        return await asyncio.open_connection(host, int(port))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await self._connect()
        except OSError:
            writer.transport.abort()
            return
        self.conns.update((writer, up_writer))
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                self.conns.discard(w)
                w.transport.abort()

    def cut(self) -> None:
        for w in list(self.conns):
            w.transport.abort()
        self.conns.clear()

    def down(self) -> None:
        self.refusing = True
        self.cut()

    def up(self) -> None:
        self.refusing = False

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await self.server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(Exception):
        writer.transport.abort()


def pg_target(url: str) -> str:
    parts = urlsplit(url)
    host = parse_qs(parts.query).get("host", [None])[0]
    if host and host.startswith("/"):
        return f"{host}/.s.PGSQL.{parts.port or 5432}"
    return f"{parts.hostname}:{parts.port or 5432}"


def pg_through(url: str, port: int) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    auth = f"{user}:{parts.password}@" if parts.password else f"{user}@"
    return urlunsplit(("postgresql", f"{auth}127.0.0.1:{port}", parts.path, "", ""))


def redis_target(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname}:{parts.port or 6379}"


def redis_through(url: str, port: int) -> str:
    parts = urlsplit(url)
    db = parts.path if parts.scheme != "unix" and parts.path not in ("", "/") else "/0"
    return f"redis://127.0.0.1:{port}{db}"


class Waiter:
    """Knows when the bot has handled an update: its done mark is in Redis and the person's
    outbox is empty (every reply of that turn confirmed sent)."""

    def __init__(self, redis: Redis, prefix: str):
        self.redis = redis
        self.prefix = prefix

    async def handled(self, update_id: int, user_id: int, timeout: float = 60.0, alive=None) -> None:
        done = f"{self.prefix}:done:telegram:{update_id}"
        out = f"{self.prefix}:out:{addr(user_id)}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self.redis.exists(done) and not await self.redis.exists(out):
                return
            if alive is not None:
                alive()
            await asyncio.sleep(0.02)
        raise AssertionError(f"update {update_id} of {user_id} not handled within {timeout:.0f} s")


def person(api: BotApi, user_id: int, waiter: Waiter, alive=None) -> Chat:
    """A Chat whose every message is waited on until handled (through crashes and restarts:
    `alive()` is called while waiting, to restart a bot that died)."""

    async def deliver(update: dict) -> None:
        api.push(update)
        await waiter.handled(update["update_id"], user_id, alive=alive)

    return Chat(api, user_id, deliver)
