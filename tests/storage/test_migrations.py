"""Stairway: every migration goes up, down and up again on a real PostgreSQL."""

import asyncio
import secrets

import asyncpg
from alembic.script import ScriptDirectory

from storage import migrate
from storage.db import with_database


def test_single_head():
    heads = ScriptDirectory.from_config(migrate.alembic_config("postgresql://x/y")).get_heads()
    assert len(heads) == 1, heads


def test_stairway(server_url):
    name = f"hb_stair_{secrets.token_hex(3)}"

    async def admin(sql):
        conn = await asyncpg.connect(with_database(server_url, "postgres"))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def tables(url):
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
            return {r[0] for r in rows} - {"alembic_version"}
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = with_database(server_url, name)
    try:
        script = ScriptDirectory.from_config(migrate.alembic_config(url))
        revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
        for rev in revisions:
            migrate.upgrade(url, rev)
            migrate.downgrade(url, "-1")
            migrate.upgrade(url, rev)
        assert {"residents", "accounts", "links", "declarations", "staff", "audit_log"} <= asyncio.run(tables(url))
        migrate.downgrade(url, "base")
        assert asyncio.run(tables(url)) == set()
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
