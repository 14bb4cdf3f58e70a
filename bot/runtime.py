"""Everything a process needs, built once: settings, database, Redis, the engine's services."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from redis.asyncio import BlockingConnectionPool, Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from storage import migrate
from storage.db import make_engine, make_sessions, plain_url
from storage.embedded import resolve_urls
from storage.services import StorageServices, build_services
from storage.state import StateStore

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    database_url: str
    redis_url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    store: StateStore
    services: StorageServices
    extras: dict = field(default_factory=dict)

    async def close(self) -> None:
        await self.redis.aclose()
        await self.engine.dispose()


def resolve(settings: Settings) -> tuple[str, str]:
    """The URLs to use, starting embedded servers for the ones not configured."""
    db, rd = resolve_urls(settings.database_url, settings.redis_url, settings.data_dir)
    if not settings.database_url or not settings.redis_url:
        log.info("using embedded servers under %s", settings.data_dir)
    return plain_url(db), rd


async def open_runtime(settings: Settings, upgrade: bool = True) -> Runtime:
    db_url, redis_url = resolve(settings)
    if upgrade:
        await migrate.upgrade_async(db_url)
    engine = make_engine(db_url)
    sessions = make_sessions(engine)
    # Bounded pool that waits for a free connection instead of failing under load.
    pool = BlockingConnectionPool.from_url(
        redis_url, max_connections=settings.max_concurrent_updates + 32, timeout=20, decode_responses=True
    )
    redis = Redis(connection_pool=pool)
    store = StateStore(redis, settings.redis_prefix, settings.state_ttl_seconds)
    services = build_services(sessions, store, settings.web_url)
    return Runtime(settings, db_url, redis_url, engine, sessions, redis, store, services)
