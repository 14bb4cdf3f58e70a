"""Several processes starting at once on a new database: one upgrades, the others wait."""

import asyncio
import secrets
import subprocess
import sys

import asyncpg

from storage.db import with_database
from tests.conftest import ROOT

UPGRADE = "import sys; from storage import migrate; migrate.upgrade(sys.argv[1])"


async def _admin(server_url: str, sql: str) -> None:
    conn = await asyncpg.connect(with_database(server_url, "postgres"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def test_processes_upgrading_at_once_all_succeed(server_url):
    name = f"hb_race_{secrets.token_hex(3)}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    url = with_database(server_url, name)
    try:
        procs = [subprocess.Popen([sys.executable, "-c", UPGRADE, url], cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for _ in range(4)]
        outcomes = [(p.wait(120), p.stdout.read()) for p in procs]
        assert [code for code, _ in outcomes] == [0, 0, 0, 0], outcomes

        async def version() -> str:
            conn = await asyncpg.connect(url)
            try:
                return await conn.fetchval("SELECT version_num FROM alembic_version")
            finally:
                await conn.close()

        from alembic.script import ScriptDirectory  # noqa: PLC0415

        from storage import migrate  # noqa: PLC0415

        assert asyncio.run(version()) == ScriptDirectory.from_config(migrate.alembic_config(url)).get_current_head()
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
