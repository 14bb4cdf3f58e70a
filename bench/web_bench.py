"""Console benchmark: the overview and resident-search pages of a 1,000,000-resident
registry under 20 concurrent staff.

    uv run python -m bench.web_bench [--rows 1000000] [--clients 20] [--requests 50]
                                     [--processes 1,2] [--database-url URL] [--redis-url URL] [--keep]

Loads the registry with bench/import_bench.py's generator and the real import (every row in
one ward, "Phường 27", as the generator makes it: the worst case for one ward's pages), then
links half the residents to accounts and gives 40% a declaration spread over 120 days. Starts
`healthbot web` as its own process (then two of them sharing the port) and has N signed-in
staff request pages back to back.
Baseline in the same run: GET /healthz (no database) under the same concurrency.
--keep keeps the loaded database (hb_web_bench) for the next run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import asyncpg
from redis.asyncio import Redis

from bench.import_bench import FAMILY, GIVEN, MIDDLE, _admin, _server_url, _with_db, generate
from dialogs.text import fold
from storage import code_vault, migrate, registry
from storage.console import ConsoleLinks

NAME = "hb_web_bench"  # --rows other than the default: use another name or drop it first
WARD = "Phường 27"
STAFF = "telegram:777000001"
PREFIX = "hbwebbench"

ACTIVITY = """
INSERT INTO accounts (address, locale)
  SELECT 'telegram:' || (10000000 + g), 'vi' FROM generate_series(1, {accounts}) g;
INSERT INTO links (account_id, resident_id, relation, consent_version, consented_at)
  SELECT 'telegram:' || (10000000 + 1 + (id % {accounts})), id, 'self', '1', now() FROM residents WHERE id % 2 = 0;
INSERT INTO declarations (resident_id, version, submission_key, submitted_by, relation, questionnaire_version,
                          submitted_at, answers)
  SELECT id, 1, 'bench-' || id, 'telegram:1', 'self', '1', now() - make_interval(days => (id % 120)::int), '{{}}'::jsonb
  FROM residents WHERE id % 5 < 2;
INSERT INTO staff (account, ward, role) VALUES ('{staff}', '{ward}', 'staff') ON CONFLICT DO NOTHING;
VACUUM ANALYZE;
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def load(url: str, rows: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        if await conn.fetchval("SELECT count(*) FROM residents") >= rows:
            print("registry already loaded", file=sys.stderr)
            return
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "residents.csv"
            start = time.perf_counter()
            generate(path, rows)
            report = await registry.import_file(conn, path)
            print(f"imported {report.added:,} residents in {time.perf_counter() - start:.0f}s", file=sys.stderr)
        start = time.perf_counter()
        for statement in ACTIVITY.format(accounts=rows // 4, staff=STAFF, ward=WARD).split(";\n"):
            if statement.strip():
                await conn.execute(statement)
        print(f"links and declarations in {time.perf_counter() - start:.0f}s", file=sys.stderr)
    finally:
        await conn.close()


def queries(n: int, seed: int = 7) -> list[str]:
    """What staff type, without diacritics: a given name, a middle and given name, or "thi"
    and a given name (the end of a name: ix_residents_name_end)."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        given, middle = fold(rnd.choice(GIVEN)), fold(rnd.choice(MIDDLE))
        out.append((given, f"{middle} {given}", f"thi {given}")[i % 3])
    return out


def queries_inside(n: int, seed: int = 8) -> list[str]:
    """A family and a middle name ("nguyen van"): not the end of a name, so found by its
    words (ix_residents_name_words), the slower way."""
    rnd = random.Random(seed)
    return [f"{fold(rnd.choice(FAMILY))} {fold(rnd.choice(MIDDLE))}" for _ in range(n)]


async def client(base: str, cookie: str, paths: list[str], times: list[float]) -> None:
    async with aiohttp.ClientSession(base, cookies={"hb_console": cookie},
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for path in paths:
            start = time.perf_counter()
            async with http.get(path) as r:
                await r.read()
                if r.status != 200:
                    sys.exit(f"{path}: HTTP {r.status}")
            times.append(time.perf_counter() - start)


async def measure(base: str, cookies: list[str], make_paths) -> list[float]:
    times: list[float] = []
    await asyncio.gather(*(client(base, c, make_paths(i), times) for i, c in enumerate(cookies)))
    return times


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def row(name: str, times: list[float], cpu: float, base: float | None) -> str:
    q = statistics.quantiles(times, n=100)
    p50, p95 = statistics.median(times) * 1000, q[94] * 1000
    ratio = f"{p50 / base:.1f}" if base else "1.0"
    return (f"| {name} | {len(times):,} | {p50:.0f} | {p95:.0f} | {max(times) * 1000:.0f} | {ratio} | "
            f"{cpu * 1000 / len(times):.1f} |")


async def start_servers(env: dict[str, str], port: int, n: int) -> list[subprocess.Popen]:
    """n `healthbot web` processes sharing one port (SO_REUSEPORT: the kernel spreads the
    connections), each started once it says it listens."""
    procs = []
    for _ in range(n):
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "web"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        procs.append(proc)
        line = await asyncio.to_thread(proc.stdout.readline)
        if str(port) not in line:
            sys.exit(f"healthbot web did not start: {line}{proc.stdout.read()}")
    return procs


async def bench(db_url: str, redis_url: str, secret: str, clients: int, requests: int, processes: int) -> list[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "BOT_"))}
    env.update(DATABASE_URL=db_url, REDIS_URL=redis_url, REDIS_PREFIX=PREFIX, WEB_PORT=str(port), CODE_SECRET=secret,
               LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1")
    redis = Redis.from_url(redis_url, decode_responses=True)
    procs = await start_servers(env, port, processes)
    try:
        links = ConsoleLinks(redis, PREFIX, "")
        cookies = [(await links.open(STAFF, "vi")).id for _ in range(clients)]
        base = f"http://127.0.0.1:{port}"
        await redis.delete(f"{PREFIX}:web:overview:{WARD}")
        start = time.perf_counter()
        await measure(base, cookies[:1], lambda i: ["/"])
        cold = (time.perf_counter() - start) * 1000
        await measure(base, cookies, lambda i: ["/residents?f=linked"])  # each process lists the khu phố once
        words, inside = queries(clients * requests), queries_inside(clients * requests)
        plans = {
            "baseline: /healthz": lambda i: ["/healthz"] * requests,
            "overview /": lambda i: ["/"] * requests,
            "search by name": lambda i: [f"/residents?q={w}" for w in words[i * requests:(i + 1) * requests]],
            "search by name, not its end": lambda i: [f"/residents?q={w}"
                                                      for w in inside[i * requests:(i + 1) * requests]],
            "list: not declared this quarter": lambda i: ["/residents?f=undeclared"] * requests,
        }
        results, cpu = {}, {}
        for name, plan in plans.items():
            before = sum(cpu_seconds(p.pid) for p in procs)
            results[name] = await measure(base, cookies, plan)
            cpu[name] = sum(cpu_seconds(p.pid) for p in procs) - before
        base_p50 = statistics.median(results["baseline: /healthz"]) * 1000
        lines = [f"{processes} process(es): overview computed from cold: {cold:.0f} ms "
                 f"(later views: the kept figures)"]
        lines += [row(f"{processes} × {name}", times, cpu[name], None if name.startswith("baseline") else base_p50)
                  for name, times in results.items()]
        return lines
    finally:
        async for k in redis.scan_iter(f"{PREFIX}:*"):
            await redis.delete(k)
        await redis.aclose()
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            await asyncio.to_thread(proc.wait, 15)


async def run_all(db_url: str, redis_url: str, secret: str, clients: int, requests: int,
                  processes: list[int]) -> str:
    notes, rows = [], []
    for n in processes:
        lines = await bench(db_url, redis_url, secret, clients, requests, n)
        notes.append(lines[0])
        rows += lines[1:]
    head = [f"{clients} concurrent staff, {requests} requests each per page, {os.cpu_count()} cores", *notes, "",
            "| processes × page | requests | p50 ms | p95 ms | max ms | p50 ÷ baseline p50 | server CPU ms per request |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    return "\n".join(head + rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--processes", default="1,2", help="`healthbot web` processes to compare, e.g. 1,2")
    ap.add_argument("--database-url")
    ap.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    ap.add_argument("--keep", action="store_true", help="keep the loaded database for the next run")
    args = ap.parse_args(argv)
    server = _server_url(args.database_url)
    redis_url = args.redis_url
    if not redis_url:
        from storage.embedded import start_redis  # noqa: PLC0415

        redis_url = start_redis(Path("var/bench"))
    exists = asyncio.run(_exists(server))
    if not exists:
        asyncio.run(_admin(server, f'CREATE DATABASE "{NAME}"'))
    url = _with_db(server, NAME)
    # The key of the card codes at rest, kept beside the bench's data so a --keep'd
    # registry opens again on the next run (bench data only: no real codes).
    secret = code_vault.local_secret(Path("var/bench"))
    code_vault.use(secret)
    try:
        migrate.upgrade(url)
        asyncio.run(load(url, args.rows))
        processes = [int(n) for n in args.processes.split(",")]
        print(asyncio.run(run_all(url, redis_url, secret, args.clients, args.requests, processes)))
    finally:
        if not args.keep:
            asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)'))


async def _exists(server: str) -> bool:
    conn = await asyncpg.connect(_with_db(server, "postgres"))
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", NAME))
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
