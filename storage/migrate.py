"""Apply Alembic migrations (`healthbot db upgrade`, and at start-up).

Several processes may start at once on a new database (the bot's replicas, a command run
meanwhile): an upgrade holds a PostgreSQL advisory lock, so one applies the migrations and
the others wait, then find nothing left to do.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from storage.db import async_url, plain_url

MIGRATIONS = Path(__file__).with_name("migrations")
LOCK_KEY = 0x6862_6D69_6772  # "hbmigr": the advisory lock every upgrade takes


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", plain_url(database_url).replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    asyncio.run(upgrade_async(database_url, revision))


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    """Upgrade under the advisory lock, on the connection that holds it (Alembic's
    connection-sharing recipe: storage/migrations/env.py uses the connection it is given)."""
    cfg = alembic_config(database_url)
    engine = create_async_engine(async_url(database_url), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
            await conn.commit()
            try:
                def run(sync_conn) -> None:
                    cfg.attributes["connection"] = sync_conn
                    command.upgrade(cfg, revision)

                await conn.run_sync(run)
                await conn.commit()
            finally:
                await conn.rollback()
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
                await conn.commit()
    finally:
        await engine.dispose()
