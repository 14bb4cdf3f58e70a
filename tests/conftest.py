"""Shared fixtures: a real PostgreSQL and a real Redis, never mocks.

TEST_DATABASE_URL / TEST_REDIS_URL point at running servers (CI, a developer's machine);
without them the embedded servers start under var/test. Each run gets a fresh database
and its own Redis key prefix, both removed at the end.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from storage import migrate
from storage.db import make_engine, make_sessions, plain_url
from storage.embedded import start_postgres, start_redis
from storage.state import StateStore

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_DIR = ROOT / "var" / "test"


def _with_db(url: str, name: str) -> str:
    p = urlsplit(plain_url(url))
    return urlunsplit((p.scheme, p.netloc, "/" + name, p.query, ""))


@pytest.fixture(scope="session")
def server_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or start_postgres(EMBEDDED_DIR)


@pytest.fixture(scope="session")
def database_url(server_url: str):
    """A fresh database for this run, migrated to head."""
    name = f"hb_test_{os.getpid()}_{secrets.token_hex(3)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(_with_db(server_url, "postgres"))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = _with_db(server_url, name)
    migrate.upgrade(url)
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ.get("TEST_REDIS_URL") or start_redis(EMBEDDED_DIR)


@pytest.fixture(scope="session")
def redis_prefix(redis_url: str):
    prefix = f"hbtest{secrets.token_hex(4)}"
    yield prefix

    async def cleanup() -> None:
        r = Redis.from_url(redis_url)
        async for k in r.scan_iter(f"{prefix}:*", count=1000):
            await r.delete(k)
        await r.aclose()

    asyncio.run(cleanup())


@pytest.fixture(scope="session")
async def engine(database_url: str):
    eng = make_engine(database_url)
    yield eng
    await eng.dispose()


@pytest.fixture(scope="session")
def sessions(engine):
    return make_sessions(engine)


@pytest.fixture
async def clean_db(engine):
    """Empty every table (the schema stays) so each test starts from nothing."""
    async with engine.begin() as conn:
        names = (
            await conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname='public' "
                    "AND tablename <> 'alembic_version'"
                )
            )
        ).scalars().all()
        if names:
            await conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
    yield


@pytest.fixture
async def redis(redis_url: str, redis_prefix: str):
    r = Redis.from_url(redis_url, decode_responses=True)
    yield r
    async for k in r.scan_iter(f"{redis_prefix}:*", count=1000):
        await r.delete(k)
    await r.aclose()


@pytest.fixture
def store(redis, redis_prefix: str) -> StateStore:
    return StateStore(redis, redis_prefix, ttl_seconds=14 * 86400)
