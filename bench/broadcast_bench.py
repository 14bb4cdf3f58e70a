"""Broadcast benchmark: a reminder to N chats through the Bot API stand-in over HTTP.

    uv run python -m bench.broadcast_bench [--chats 100000 --rate 400] [--small-chats 2000 --small-rate 25]
                                           [--workers 2] [--delay 0.05] [--readme]

Each row seeds a fresh database with N linked accounts (every fifth holding three residents),
starts `--workers` worker processes (bot.broadcaster.worker_loop, sharing one rate through
Redis) against the stand-in served in this process with a round trip of `--delay`, and
sends one broadcast to everybody. The stand-in answers 403 for 1% of the chats and 429
(retry_after 1 s) once every `--429-every` sends. Reported: the rate achieved against the
configured one (mean over the run, median of per-second counts, and the mean with the 429
pauses taken out), duplicates (a chat given two messages) and lost deliveries (a chat that
neither got its message nor blocked the bot). The product caps the rate at 30/s; the bench
sets the limiter directly so that 100,000 chats take minutes, not an hour.

Uses TEST_DATABASE_URL / TEST_REDIS_URL (or DATABASE_URL / REDIS_URL) when set, else the
embedded servers under var/bench.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dialogs.ports import Audience  # noqa: E402
from storage import code_vault, migrate  # noqa: E402
from storage.db import plain_url, with_database  # noqa: E402
from tests.standin import TOKEN, BotApi, serve  # noqa: E402

WARD = "Phường 27"
FIRST_CHAT = 10_000_000
RETRY_AFTER = 1


class CountingApi(BotApi):
    """The stand-in, keeping counts instead of every call (100,000 calls would be a lot of
    memory), with the faults of the run."""

    def __init__(self, delay: float, blocked: set[int], refuse_every: int):
        super().__init__(delay)
        self.blocked = blocked
        self.refuse_every = refuse_every
        self.delivered: Counter[int] = Counter()
        self.times: list[float] = []
        self.refused = self.forbidden = 0

    async def handle(self, method, params):
        if method != "sendMessage":
            return await super().handle(method, params)
        await asyncio.sleep(self.delay)
        self.times.append(time.monotonic())
        chat = int(params["chat_id"])
        if self.refuse_every and len(self.times) % self.refuse_every == 0:
            self.refused += 1
            return 429, {"ok": False, "error_code": 429, "description": "Too Many Requests",
                         "parameters": {"retry_after": RETRY_AFTER}}
        if chat in self.blocked:
            self.forbidden += 1
            return 403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
        self.delivered[chat] += 1
        return 200, {"ok": True, "result": {"message_id": len(self.times), "date": int(time.time()),
                                            "chat": {"id": chat, "type": "private"}, "text": ""}}


# ---------------------------------------------------------------- one row


@dataclass
class Row:
    chats: int
    workers: int
    delay: float
    rate: float
    mean: float
    median: float
    unpaused: float
    refused: int
    forbidden: int
    duplicates: int
    lost: int
    start_s: float
    wall_s: float
    statuses: dict[str, int]


CODE_SECRET = secrets.token_urlsafe(48)  # this run's key for the card codes at rest


async def seed(url: str, chats: int) -> None:
    """N accounts, each linked to one resident, every fifth to three (ids 1.. in order)."""
    sizes = [3 if i % 5 == 0 else 1 for i in range(chats)]
    code_vault.use(CODE_SECRET)
    _, hashes, sealed = code_vault.issue(sum(sizes))
    codes = iter(zip(hashes, sealed, strict=True))
    now = datetime.now(UTC)
    accounts, residents, links = [], [], []
    rid = 0
    for i, size in enumerate(sizes):
        chat = FIRST_CHAT + i
        accounts.append((chat, chat, "vi"))
        for k in range(size):
            rid += 1
            residents.append((*next(codes), WARD, f"Khu phố {1 + i % 6}", f"Nguyễn Văn Thử {k}", 1960 + i % 60,
                              "M" if k % 2 else "F"))
            links.append((chat, rid, "self", "bench", now))
    conn = await asyncpg.connect(url)
    try:
        await conn.copy_records_to_table("accounts", records=accounts, columns=["telegram_id", "chat_id", "locale"])
        await conn.copy_records_to_table("residents", records=residents,
                                         columns=["code_hash", "code_sealed", "ward", "quarter", "full_name",
                                                  "birth_year", "sex"])
        await conn.copy_records_to_table("links", records=links, columns=[
            "account_id", "resident_id", "relation", "consent_version", "consented_at"])
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def measure(args, server: str, redis_url: str, chats: int, rate: float) -> Row:
    name = f"hb_bench_{secrets.token_hex(3)}"
    await _admin(server, f'CREATE DATABASE "{name}"')
    url = with_database(server, name)
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        await seed(url, chats)
        blocked = {FIRST_CHAT + i for i in range(chats) if i % 100 == 37}  # 1%
        api = CountingApi(args.delay, blocked, args.refuse_every)
        runner, api_url = await serve(api)
        prefix = f"hbbench{secrets.token_hex(3)}"
        env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "REDIS_PREFIX": prefix,
               "BOT_TOKEN": TOKEN, "CODE_SECRET": CODE_SECRET, "TELEGRAM_API_URL": api_url, "LOG_LEVEL": "ERROR"}
        workers = [await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.broadcast_bench", "--worker", "--rate", str(rate), env=env, cwd=ROOT,
            stdout=asyncio.subprocess.PIPE) for _ in range(args.workers)]
        try:
            for w in workers:  # each says "ready" once connected, so start-up is not timed
                await w.stdout.readline()
            created, started, finished, statuses = await run_broadcast(url, chats)
        finally:
            for w in workers:
                w.send_signal(signal.SIGTERM)
            await asyncio.gather(*(w.wait() for w in workers))
            await runner.cleanup()
            await _flush_redis(redis_url, prefix)
    finally:
        await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return summarise(args, chats, rate, api, blocked, created, started, finished, statuses)


async def run_broadcast(url: str, chats: int):
    from storage.broadcasts import create  # noqa: PLC0415
    from storage.db import make_engine, make_sessions  # noqa: PLC0415

    engine = make_engine(url, pool_size=2, max_overflow=0)
    sessions = make_sessions(engine)
    try:
        async with sessions.begin() as s:
            bid = await create(s, Audience(WARD, undeclared=True), None, None, actor_kind="cli", actor_id="bench")
        created = time.monotonic()
        started = None
        conn = await asyncpg.connect(plain_url(url))
        try:
            while True:
                row = await conn.fetchrow("SELECT started_at, finished_at FROM broadcasts WHERE id = $1", bid)
                if started is None and row["started_at"] is not None:
                    started = time.monotonic()
                if row["finished_at"] is not None:
                    break
                done = await conn.fetchval(
                    "SELECT count(*) FROM deliveries WHERE broadcast_id = $1 AND status NOT IN "
                    "('pending', 'claimed', 'sending')", bid)
                if sys.stderr.isatty():
                    print(f"\r{done:,}/{chats:,}", end="", file=sys.stderr, flush=True)
                await asyncio.sleep(1)
            finished = time.monotonic()
            statuses = dict(await conn.fetch(
                "SELECT status, count(*) FROM deliveries WHERE broadcast_id = $1 GROUP BY status", bid))
        finally:
            await conn.close()
        print(file=sys.stderr)
        return created, started or finished, finished, statuses
    finally:
        await engine.dispose()


def summarise(args, chats, rate, api: CountingApi, blocked, created, started, finished, statuses) -> Row:
    times = api.times
    span = times[-1] - times[0]
    per_second = Counter(int(t - times[0]) for t in times)
    full = [per_second.get(s, 0) for s in range(int(span))]  # whole seconds only
    if args.timeline:
        print("per second:", full, file=sys.stderr)
    paused = api.refused * RETRY_AFTER
    expected = {FIRST_CHAT + i for i in range(chats)} - blocked
    return Row(
        chats=chats, workers=args.workers, delay=args.delay, rate=rate,
        mean=(len(times) - 1) / span, median=statistics.median(full) if full else 0.0,
        unpaused=(len(times) - 1) / max(span - paused, 1e-9),
        refused=api.refused, forbidden=api.forbidden,
        duplicates=sum(1 for n in api.delivered.values() if n > 1),
        lost=sum(1 for c in expected if api.delivered[c] == 0),
        start_s=started - created, wall_s=finished - created, statuses=statuses,
    )


def table(rows: list[Row]) -> str:
    lines = [
        "| chats | workers | RTT | configured /s | mean /s | median /s | median ÷ configured | "
        "mean without 429 pauses ÷ configured | 429s | 403s | duplicates | lost | start (s) | wall (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.chats:,} | {r.workers} | {r.delay * 1000:.0f} ms | {r.rate:g} | {r.mean:.1f} | {r.median:g} | "
            f"{r.median / r.rate:.3f} | {r.unpaused / r.rate:.3f} | {r.refused} | {r.forbidden:,} | "
            f"{r.duplicates} | {r.lost} | {r.start_s:.1f} | {r.wall_s:.1f} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- worker processes


def worker_main(rate: float) -> None:
    from bot.broadcaster import Tuning, worker_loop  # noqa: PLC0415
    from bot.config import load_settings  # noqa: PLC0415
    from bot.runtime import open_runtime  # noqa: PLC0415

    logging.basicConfig(level=logging.ERROR)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        rt = await open_runtime(load_settings(), upgrade=False)
        print("ready", flush=True)
        try:
            await worker_loop(rt, stop, tuning=Tuning(rate=rate))
        finally:
            await rt.close()

    asyncio.run(run())


# ---------------------------------------------------------------- servers


async def _admin(server: str, sql: str) -> None:
    conn = await asyncpg.connect(with_database(server, "postgres"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _flush_redis(url: str, prefix: str) -> None:
    from redis.asyncio import Redis  # noqa: PLC0415

    r = Redis.from_url(url)
    async for k in r.scan_iter(f"{prefix}:*", count=1000):
        await r.delete(k)
    await r.aclose()


def _servers() -> tuple[str, str]:
    db = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    rd = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL")
    if not db or not rd:
        from storage.embedded import start_postgres, start_redis  # noqa: PLC0415

        db = db or start_postgres(ROOT / "var" / "bench")
        rd = rd or start_redis(ROOT / "var" / "bench")
    return db, rd


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chats", type=int, default=100_000)
    ap.add_argument("--rate", type=float, default=400.0, help="configured rate of the first row")
    ap.add_argument("--small-chats", type=int, default=2_000, help="second row (0: none)")
    ap.add_argument("--small-rate", type=float, default=25.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--delay", type=float, default=0.05, help="stand-in round trip, seconds")
    ap.add_argument("--429-every", dest="refuse_every", type=int, default=25_000)
    ap.add_argument("--readme", action="store_true", help="append the table to bench/README.md")
    ap.add_argument("--timeline", action="store_true", help="print the sends of each second")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker_main(args.rate)
        return

    server, redis_url = _servers()
    rows = [(args.chats, args.rate)] + ([(args.small_chats, args.small_rate)] if args.small_chats else [])
    results = []
    for chats, rate in rows:
        print(f"{chats:,} chats at {rate:g}/s …", file=sys.stderr)
        r = asyncio.run(measure(args, server, redis_url, chats, rate))
        results.append(r)
        print(f"  statuses {r.statuses}\n{table([r]).splitlines()[-1]}", file=sys.stderr)
    out = table(results)
    print(f"\n{os.cpu_count()} cores, 429 (retry_after {RETRY_AFTER} s) every {args.refuse_every:,} sends, "
          f"403 for 1% of chats\n")
    print(out)
    if args.readme:
        append_readme(args, out)


def append_readme(args, out: str) -> None:
    path = ROOT / "bench" / "README.md"
    text = path.read_text("utf-8") if path.exists() else "# Benchmarks\n"
    section = (
        "\n## Broadcast: rate, duplicates, lost deliveries (`bench/broadcast_bench.py`)\n\n"
        f"`uv run python -m bench.broadcast_bench` on {os.cpu_count()} cores: {args.workers} worker processes "
        f"sharing one Redis rate, the Bot API stand-in over HTTP with {args.delay * 1000:.0f} ms round trips, "
        f"403 for 1% of chats, a 429 (retry_after {RETRY_AFTER} s) every {args.refuse_every:,} sends.\n\n"
        + out + "\n"
    )
    path.write_text(text.rstrip("\n") + "\n" + section, "utf-8")


if __name__ == "__main__":
    main()
