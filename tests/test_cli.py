"""The command line: bad settings and unreachable servers end with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.e2e.conftest import ROOT, free_port


def healthbot(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if k not in ("BOT_TOKEN", "DATABASE_URL", "REDIS_URL", "DEFAULT_LOCALE", "WEBHOOK_URL", "WEBHOOK_SECRET")}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env={**base, **env}, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("env, name", [
    ({}, "BOT_TOKEN"),
    ({"BOT_TOKEN": "not-a-token"}, "BOT_TOKEN"),
    ({"BOT_TOKEN": "1:a", "DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
    ({"BOT_TOKEN": "1:a", "REDIS_URL": "http://x"}, "REDIS_URL"),
    ({"BOT_TOKEN": "1:a", "DEFAULT_LOCALE": "fr"}, "DEFAULT_LOCALE"),
    ({"BOT_TOKEN": "1:a", "WEBHOOK_PORT": "99999"}, "WEBHOOK_PORT"),
    ({"BOT_TOKEN": "1:a", "BROADCAST_RATE": "100"}, "BROADCAST_RATE"),
])
def test_bad_setting_is_one_line_naming_it(env, name):
    r = healthbot("run", **env)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_webhook_mode_needs_its_settings():
    r = healthbot("run", "--webhook", BOT_TOKEN="1:a", DATABASE_URL="postgresql://127.0.0.1:1/x",
                  REDIS_URL="redis://127.0.0.1:1/0")
    assert r.returncode in (1, 2)
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_unreachable_database_is_one_line():
    port = free_port()  # nothing listens there
    r = healthbot("run", BOT_TOKEN="1:a", DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/x",
                  REDIS_URL=f"redis://127.0.0.1:{port}/0", DEFAULT_LOCALE="en")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "DATABASE_URL" in lines[0], r.stderr
    assert str(port) not in r.stderr  # the URL (which may hold a password) is not echoed


def test_db_upgrade(database_url):
    r = healthbot("db", "upgrade", DATABASE_URL=database_url, DEFAULT_LOCALE="en")
    assert r.returncode == 0, r.stderr
    assert "up to date" in r.stdout


def test_every_staff_command_is_wired():
    from bot.cli import build_parser  # noqa: PLC0415

    parser = build_parser()
    for argv in (["residents", "unlink", "X"], ["residents", "import", "f.csv"], ["cards", "--ward", "W", "--out", "c.pdf"],
                 ["staff", "list"], ["stats"], ["export", "--ward", "W", "--format", "csv", "--out", "f"],
                 ["privacy", "requests"], ["audit", "--staff", "1"]):
        args = parser.parse_args(argv)
        assert callable(args.func), argv
