"""Shared fixtures: a real PostgreSQL and a real Redis, never mocks.

TEST_DATABASE_URL / TEST_REDIS_URL point at running servers (CI, a developer's machine);
without them the embedded servers start under var/test. Each run gets a fresh database
and its own Redis key prefix, both removed at the end.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from storage import code_vault, migrate
from storage.db import make_engine, make_sessions, with_database
from storage.embedded import start_postgres, start_redis
from storage.redis_client import make_redis
from storage.state import StateStore

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_DIR = ROOT / "var" / "test"
# Keys the card codes at rest (storage/code_vault.py) for rows the tests write directly.
CODE_SECRET = "test-code-secret-" + "x" * 32
code_vault.use(CODE_SECRET)


@pytest.fixture(scope="session")
def server_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or start_postgres(EMBEDDED_DIR)


@pytest.fixture(scope="session")
def database_url(server_url: str):
    """A fresh database for this run, migrated to head."""
    name = f"hb_test_{os.getpid()}_{secrets.token_hex(3)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(with_database(server_url, "postgres"))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = with_database(server_url, name)
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
    r = make_redis(redis_url, 64)  # the client the product uses
    yield r
    async for k in r.scan_iter(f"{redis_prefix}:*", count=1000):
        await r.delete(k)
    await r.aclose()


@pytest.fixture
def store(redis, redis_prefix: str) -> StateStore:
    return StateStore(redis, redis_prefix, ttl_seconds=14 * 86400)


# ---------------------------------------------------------------- the bot, in process


def test_settings(database_url: str, redis_url: str, redis_prefix: str, **overrides):
    from bot.config import Settings  # noqa: PLC0415
    from tests.standin import TOKEN  # noqa: PLC0415

    values = dict(
        bot_token=TOKEN,
        bot_username="healthbot_test_bot",
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        telegram_api_url="http://standin.invalid",
        health_station_phone="028 3899 0000",
        code_secret=CODE_SECRET,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
async def runtime(database_url, redis_url, redis_prefix, clean_db, redis):
    from bot.runtime import open_runtime  # noqa: PLC0415

    rt = await open_runtime(test_settings(database_url, redis_url, redis_prefix), upgrade=False)
    yield rt
    await rt.close()


@pytest.fixture
def api():
    from tests.standin import BotApi  # noqa: PLC0415

    return BotApi()


@dataclass
class InProcess:
    """The real turn pipeline and Telegram channel, its Bot talking to the stand-in through a
    recording request object. `deliver(update)` hands one raw update to it, as polling does;
    anything raised while handling it fails the test, even if a reply went out."""

    rt: object
    channels: dict

    async def deliver(self, update: dict) -> bool:
        from bot.channels.telegram.decode import decode  # noqa: PLC0415
        from bot.channels.telegram.polling import process  # noqa: PLC0415
        from bot.turns import Apologies  # noqa: PLC0415

        d = decode(update)
        if d is None:
            return True
        return await process(self.rt, self.channels["telegram"], d, Apologies(self.rt))


@pytest.fixture
async def app(runtime, api):
    from bot.run import close_channels, open_channels  # noqa: PLC0415
    from tests.standin import RecordingRequest  # noqa: PLC0415

    channels = await open_channels(runtime, RecordingRequest(api), RecordingRequest(api))
    yield InProcess(runtime, channels)
    await close_channels(channels)


@pytest.fixture
def chat_factory(app, api):
    """chat_factory(user_id) -> a Chat that talks to the in-process pipeline."""
    from tests.chat import Chat  # noqa: PLC0415

    async def deliver(update: dict) -> None:
        assert await app.deliver(update), "the update was not handled"

    def make(user_id: int = 1001, first_name: str = "Lan") -> Chat:
        return Chat(api, user_id, deliver, first_name)

    return make
