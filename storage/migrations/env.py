"""Alembic environment: async engine, URL passed in by storage.migrate."""

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from storage.db import async_url
from storage.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    engine = create_async_engine(async_url(config.get_main_option("sqlalchemy.url")))
    async with engine.connect() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_main())
