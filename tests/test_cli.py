"""The command line: bad settings and unreachable servers end with one clear line."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from bench.import_bench import generate
from tests.conftest import CODE_SECRET
from tests.e2e.conftest import ROOT, free_port


def healthbot(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if k not in ("BOT_TOKEN", "DATABASE_URL", "REDIS_URL", "DEFAULT_LOCALE", "WEBHOOK_URL", "WEBHOOK_SECRET")}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env={**base, "CODE_SECRET": CODE_SECRET, **env},
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


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
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "DATABASE_URL" in lines[0] and "PostgreSQL" in lines[0], r.stderr
    assert str(port) not in r.stderr  # the URL (which may hold a password) is not echoed


def test_missing_database_and_unreachable_redis_are_one_line_each(database_url, redis_url):
    from storage.db import with_database  # noqa: PLC0415

    missing = with_database(database_url, "hb_no_such_database")
    r = healthbot("stats", DATABASE_URL=missing, REDIS_URL=redis_url, DEFAULT_LOCALE="en")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    [line] = r.stderr.strip().splitlines()
    assert "hb_no_such_database does not exist" in line
    port = free_port()
    r = healthbot("stats", DATABASE_URL=database_url, REDIS_URL=f"redis://127.0.0.1:{port}/0", DEFAULT_LOCALE="en")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    [line] = r.stderr.strip().splitlines()
    assert "Redis" in line and "REDIS_URL" in line and str(port) not in line


def test_out_pointing_at_a_folder_or_into_a_missing_one(database_url, redis_url, clean_db, tmp_path):
    env = dict(DATABASE_URL=database_url, REDIS_URL=redis_url, DEFAULT_LOCALE="en")
    for command in (("export", "--ward", "Phường 27", "--out"), ("stats", "--out")):
        for out, said in ((tmp_path, "is a folder"), (tmp_path / "nope" / "x.xlsx", "does not exist")):
            r = healthbot(*command, str(out), **env)
            assert r.returncode == 2, (command, r.stderr)
            [line] = r.stderr.strip().splitlines()
            assert said in line and "Traceback" not in r.stderr


def _png(path):
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))


@pytest.mark.parametrize(("name", "make", "said"), [
    ("empty.csv", lambda p: p.write_bytes(b""), "is empty"),
    ("ds.xlsx", lambda p: p.write_text("ho_ten,ngay_sinh,phuong\nAn,1950,P27\n"), "is CSV text"),
    ("anh.xlsx", _png, "image"),
    ("anh.png.csv", _png, "image"),
])
def test_bad_files_through_the_real_command(database_url, redis_url, clean_db, tmp_path, name, make, said):
    path = tmp_path / name
    make(path)
    r = healthbot("residents", "import", str(path), DATABASE_URL=database_url, REDIS_URL=redis_url,
                  DEFAULT_LOCALE="en")
    assert r.returncode == 2, r.stderr
    [line] = r.stderr.strip().splitlines()
    assert said in line and name in line and "Traceback" not in r.stderr


def test_garbage_after_a_real_header_imports_nothing(database_url, redis_url, clean_db, tmp_path):
    path = tmp_path / "rac.csv"
    lines = ["ho_ten,ngay_sinh,phuong", "Nguyễn Văn An,05/03/1950,Phường 27"]
    lines += [f"bePoqrXR{i},ymVPo/5duqrl{i},{i}x" for i in range(500)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = dict(DATABASE_URL=database_url, REDIS_URL=redis_url, DEFAULT_LOCALE="en")
    r = healthbot("residents", "import", str(path), **env)
    assert r.returncode == 1
    assert "Nothing imported: 500 of 501 rows rejected (more than 20%)" in r.stdout

    async def count() -> int:
        conn = await asyncpg.connect(database_url)
        try:
            return await conn.fetchval("SELECT count(*) FROM residents")
        finally:
            await conn.close()

    assert asyncio.run(count()) == 0


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


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(int(entry))
        except (OSError, ValueError):
            continue
    return found


def test_ctrl_c_twice_during_an_import_stops_everything_and_imports_nothing(database_url, redis_url,
                                                                            clean_db, tmp_path):
    """uv forwards a Ctrl-C that the program also got itself: the second one arrives while the
    import is stopping its workers. Nothing is imported, no worker is left, one line is said."""
    path = tmp_path / f"ward-{os.getpid()}.csv"
    generate(path, 200_000)
    base = {k: v for k, v in os.environ.items() if k not in ("DEFAULT_LOCALE",)}
    # Held in the middle of loading until the Ctrl-C comes: however fast or busy the machine,
    # it lands while the import is under way.
    env = {**base, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "DEFAULT_LOCALE": "en",
           "CODE_SECRET": CODE_SECRET, "HEALTHBOT_FAILPOINT": "import.copying:pause"}
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "residents", "import", str(path)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(_processes_mentioning(str(path))) < 3 and time.monotonic() < deadline:  # itself and 2 workers
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    # 130, or death by SIGINT when the second one lands after the program has returned
    assert proc.returncode in (130, -signal.SIGINT), err
    assert err.strip().splitlines() == ["healthbot: stopped on request"]
    assert _processes_mentioning(str(path)) == []

    async def count() -> int:
        conn = await asyncpg.connect(database_url)
        try:
            return await conn.fetchval("SELECT count(*) FROM residents")
        finally:
            await conn.close()

    assert asyncio.run(count()) == 0


def test_data_dir_does_not_depend_on_the_current_folder(tmp_path):
    show = "from bot.config import load_settings; print(load_settings().data_dir)"
    base = {k: v for k, v in os.environ.items() if k != "DATA_DIR"}
    for env in ({}, {"DATA_DIR": "var"}, {"DATA_DIR": "./var"}):
        r = subprocess.run([sys.executable, "-c", show], env={**base, **env, "PYTHONPATH": str(ROOT)},
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert r.stdout.strip() == str(Path(ROOT) / "var"), (env, r.stderr)
    r = subprocess.run([sys.executable, "-c", show], env={**base, "DATA_DIR": str(tmp_path / "d"),
                                                          "PYTHONPATH": str(ROOT)},
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == str(tmp_path / "d")
