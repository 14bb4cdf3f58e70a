"""Answered messages per second: the real `healthbot run` process against the Bot API
stand-in with a network round trip, N simulated people walking through the declaration.

Each simulated person answers as soon as the bot's question arrives (pressing the first
offered button, or typing a plausible value when there is none). Also runs a baseline in
the same session: a minimal python-telegram-bot echo bot (no Redis, no database, same
aiohttp request class) on the same stand-in, the ceiling of the plumbing itself.

    uv run python bench/throughput.py --users 200 --rtt 0.05 --seconds 20

Uses TEST_DATABASE_URL / TEST_REDIS_URL when set, else embedded servers under var/bench.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import itertools
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import psutil
import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dialogs.text import fold  # noqa: E402
from locales import t  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import plain_url, with_database  # noqa: E402
from storage.embedded import start_postgres, start_redis  # noqa: E402
from tests.standin import TOKEN, BotApi, message_update, serve  # noqa: E402

folded = functools.lru_cache(maxsize=4096)(fold)  # the harness folds the same labels over and over
NAV = {fold(t(loc, m)) for loc in ("vi", "en") for m in ("btn.back", "btn.cancel", "btn.help")}
TYPED = ["1m65", "60", "120/80", "2", "khong", "Kỹ sư", "12 Nguyễn Xí"]
FIRST_USER = 900_000


class Measured(BotApi):
    """Stand-in that tells the simulated person the moment a reply reaches their chat."""

    def __init__(self, delay: float):
        super().__init__(delay=delay)
        self.waiting: dict[int, tuple[float, asyncio.Future]] = {}
        self.latencies: list[float] = []

    def api_sendMessage(self, p):
        chat = int(p["chat_id"])
        pending = self.waiting.pop(chat, None)
        if pending is not None:
            sent_at, fut = pending
            self.latencies.append(time.monotonic() - sent_at)
            if not fut.done():
                fut.set_result(p)
        return super().api_sendMessage(p)


async def person(api: Measured, uid: int, stop: asyncio.Event, first: str, counts: dict) -> None:
    loop = asyncio.get_running_loop()
    typed = itertools.cycle(TYPED)
    text = first
    while not stop.is_set():
        fut = loop.create_future()
        api.waiting[uid] = (time.monotonic(), fut)
        api.push(message_update(api, uid, text=text))
        counts["sent"] += 1
        try:
            reply = await asyncio.wait_for(fut, 10)
        except TimeoutError:
            counts["unanswered"] += 1
            api.waiting.pop(uid, None)
            text = first
            continue
        counts["answered"] += 1
        # let the rest of this turn's messages arrive (e.g. the BMI, then the next question)
        await asyncio.sleep(0)
        buttons = [b["text"] if isinstance(b, dict) else b
                   for row in (reply.get("reply_markup") or {}).get("keyboard", []) for b in row]
        choices = [b for b in buttons if folded(b) not in NAV]
        text = choices[0] if choices else next(typed)
        if counts["answered"] % 97 == uid % 97:  # now and then start over, like real people
            text = first


CODE_SECRET = secrets.token_urlsafe(48)  # this run's key for the card codes at rest


async def seed(db_url: str, users: int) -> None:
    """Residents already linked to their accounts, so people go straight to declaring."""
    from storage import code_vault  # noqa: PLC0415

    conn = await asyncpg.connect(plain_url(db_url))
    try:
        await conn.execute("TRUNCATE residents, accounts, links RESTART IDENTITY CASCADE")
        code_vault.use(CODE_SECRET)
        _, hashes, sealed = code_vault.issue(users)
        now = datetime.now(UTC)
        await conn.copy_records_to_table(
            "residents",
            columns=["code_hash", "code_sealed", "ward", "quarter", "full_name", "birth_year", "birth_date", "sex"],
            records=[(h, c, "Bench", "KP1", f"Người Thử {i}", 1960 + i % 50, date(1960 + i % 50, 1, 1),
                      "F" if i % 2 else "M") for i, (h, c) in enumerate(zip(hashes, sealed, strict=True))],
        )
        await conn.copy_records_to_table(
            "accounts", columns=["address", "locale"],
            records=[(f"telegram:{FIRST_USER + i}", "vi") for i in range(users)],
        )
        await conn.execute(
            """INSERT INTO links (account_id, resident_id, relation, consent_version, consented_at)
               SELECT 'telegram:' || ($1 + id - 1), id, 'self', 'bench', $2 FROM residents""", FIRST_USER, now)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def seeded(users: int) -> AsyncIterator[tuple[str, str]]:
    """A fresh database with `users` linked people, and the Redis to use; dropped after."""
    data = ROOT / "var" / "bench"
    server = os.environ.get("TEST_DATABASE_URL") or start_postgres(data)
    redis_url = os.environ.get("TEST_REDIS_URL") or start_redis(data)
    name = f"hb_bench_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(plain_url(server))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    db_url = with_database(server, name)
    try:
        await asyncio.to_thread(migrate.upgrade, db_url)
        await seed(db_url, users)
        yield db_url, redis_url
    finally:
        admin = await asyncpg.connect(plain_url(server))
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def one_run(label: str, cmd: list[str], env: dict, users: int, rtt: float, seconds: float, first: str) -> dict:
    api = Measured(delay=rtt)
    runner, url = await serve(api)
    # A fresh key prefix: the stand-in numbers updates from 1 again, and the bot rightly
    # ignores update ids it has already handled under the old prefix.
    env = {**env, "TELEGRAM_API_URL": url, "REDIS_PREFIX": f"bench{secrets.token_hex(3)}"}
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    log = open(ROOT / "var" / "bench" / "bot.log", "w")  # closed with the process
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not any(c.method == "deleteWebhook" for c in api.calls):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{label}: bot did not start; see var/bench/bot.log")
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        ps = psutil.Process(proc.pid)
        stop = asyncio.Event()
        counts = {"sent": 0, "answered": 0, "unanswered": 0}
        tasks = [asyncio.create_task(person(api, FIRST_USER + i, stop, first, counts)) for i in range(users)]
        await asyncio.sleep(2)  # warm-up: connections, caches
        api.latencies.clear()
        base = dict(counts)
        cpu0 = sum(ps.cpu_times()[:2])
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        elapsed = time.monotonic() - t0
        cpu = sum(ps.cpu_times()[:2]) - cpu0
        answered = counts["answered"] - base["answered"]
        lat = sorted(api.latencies)
        stop.set()
        await asyncio.wait(tasks, timeout=15)
        unanswered = counts["unanswered"] + len(api.waiting)
        return {
            "label": label,
            "answered_per_s": answered / elapsed,
            "p50_ms": 1000 * statistics.median(lat) if lat else float("nan"),
            "p99_ms": 1000 * lat[int(0.99 * (len(lat) - 1))] if lat else float("nan"),
            "unanswered": unanswered,
            "cpu_ms_per_answer": 1000 * cpu / max(answered, 1),
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        await runner.cleanup()
        log.close()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--rtt", type=float, default=0.05, help="seconds per Bot API call")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each; medians are reported")
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()

    data = ROOT / "var" / "bench"
    async with seeded(args.users) as (db_url, redis_url):
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
        env.update(CODE_SECRET=CODE_SECRET, BOT_TOKEN=TOKEN, BOT_USERNAME="bench_bot", DATABASE_URL=db_url, REDIS_URL=redis_url,
                   LOG_LEVEL="WARNING", DATA_DIR=str(data))
        runs = []
        for _ in range(args.repeat):
            if not args.no_baseline:
                runs.append(await one_run("baseline: echo bot", [sys.executable, str(ROOT / "bench" / "echo_bot.py")],
                                          env, args.users, args.rtt, args.seconds, "hi"))
            runs.append(await one_run("healthbot run", [sys.executable, "-m", "bot.cli", "run"],
                                      env, args.users, args.rtt, args.seconds, "/khaibao"))
            for r in runs[-2:] if not args.no_baseline else runs[-1:]:
                print(f"  {r['label']:22} {r['answered_per_s']:8.1f}/s  p99 {r['p99_ms']:6.0f} ms  "
                      f"{r['cpu_ms_per_answer']:.2f} ms CPU/answer", file=sys.stderr)
    report(runs, args)


def reference_seconds() -> float:
    """CPU seconds of a fixed pure-Python loop: how fast this machine is today, so numbers
    from different machines (or days) can be compared by their ratio to it."""
    start, total = time.process_time(), 0
    for i in range(10_000_000):
        total += i
    return time.process_time() - start


def report(runs: list[dict], args) -> None:
    print(f"\nmachine reference: a 10,000,000-step Python loop takes {reference_seconds():.2f} s of CPU")
    print(f"\n{args.users} users, {args.rtt * 1000:.0f} ms round trip, {args.seconds:.0f} s measured, "
          f"{args.repeat} run(s) each (medians)\n")
    cols = ["answered_per_s", "p50_ms", "p99_ms", "unanswered", "cpu_ms_per_answer"]
    print(f"{'':22}" + "".join(f"{c:>20}" for c in cols))
    rows = {}
    for label in dict.fromkeys(r["label"] for r in runs):
        mine = [r for r in runs if r["label"] == label]
        rows[label] = {c: statistics.median(r[c] for r in mine) for c in cols}
        print(f"{label:22}" + "".join(f"{rows[label][c]:>20.2f}" for c in cols))
    if len(rows) == 2:
        base, ours = rows.values()
        print(f"\nhealthbot / baseline answered per second: {ours['answered_per_s'] / base['answered_per_s']:.2f}")


if __name__ == "__main__":
    uvloop.run(main())
