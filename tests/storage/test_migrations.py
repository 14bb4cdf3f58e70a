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


def test_staff_keep_their_rows_and_get_names(server_url):
    """0012: staff added before names stay, with an empty name; going down keeps them too."""
    name = f"hb_names_{secrets.token_hex(3)}"

    async def run(url, sql, *args):
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    admin = with_database(server_url, "postgres")
    asyncio.run(run(admin, f'CREATE DATABASE "{name}"'))
    url = with_database(server_url, name)
    try:
        migrate.upgrade(url, "0011")
        asyncio.run(run(url, "INSERT INTO staff (account, ward, role) VALUES ('telegram:5', 'P27', 'staff')"))
        migrate.upgrade(url, "0012")
        rows = asyncio.run(run(url, "SELECT account, ward, full_name FROM staff"))
        assert [tuple(r) for r in rows] == [("telegram:5", "P27", "")]
        asyncio.run(run(url, "UPDATE staff SET full_name = 'Nguyễn Thị Lan'"))
        migrate.downgrade(url, "0011")
        assert [tuple(r) for r in asyncio.run(run(url, "SELECT account, ward FROM staff"))] == [("telegram:5", "P27")]
    finally:
        asyncio.run(run(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
