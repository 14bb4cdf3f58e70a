"""FHIR export benchmark: `storage.fhir.export` (NDJSON and transaction Bundles) against a
baseline of the same rows, through the same server-side cursor, each dumped as a bare
json.dumps line (no mapping at all).

    uv run python -m bench.fhir_bench [--residents 100000] [--repeat 3] [--no-bundles] [--database-url URL]

Seeds a fresh database: every resident a registry row, 5 in 6 of them a declaration, one in
five of those a second version. Prints medians and ratios (residents per second, by the
wall clock and per CPU-second of this process: the machine is shared), and the peak memory
of one more NDJSON export. Without
--database-url (or DATABASE_URL) it uses the embedded PostgreSQL under var/bench.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
import tracemalloc
from contextlib import aclosing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import uvloop

from bench.import_bench import _admin, _server_url, _with_db
from dialogs.questionnaire import VERSION, typed_columns
from storage import migrate
from storage.db import make_engine, make_sessions
from storage.fhir.export import export, residents
from tests.fhir.seed import AGES, NAMES, answers_for

WARD = "Phường 27"
DECL_COLUMNS = ("resident_id", "version", "submission_key", "submitted_by", "relation", "questionnaire_version",
                "submitted_at", "answers", "height_cm", "weight_kg", "bmi", "systolic", "diastolic",
                "pregnancies", "children", "covid_doses")


async def seed(url: str, n: int) -> int:
    conn = await asyncpg.connect(url)
    now = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    try:
        people = []
        for i in range(n):
            age = AGES[i % len(AGES)]
            people.append((i + 1, f"B{i:011d}", WARD, f"Khu phố {1 + i % 5}", f"Tổ {1 + i % 9}", NAMES[i % len(NAMES)],
                           date(2026 - age, 1 + i % 12, 1 + i % 28), 2026 - age, "F" if i % 2 == 0 else "M",
                           f"+8491{i:07d}", f"{1 + i % 300} Nguyễn Trãi", f"0791{i:08d}" if i % 3 == 0 else None))
        await conn.copy_records_to_table(
            "residents", records=people,
            columns=("id", "code", "ward", "quarter", "group_name", "full_name", "birth_date", "birth_year",
                     "sex", "phone", "address", "citizen_id"))
        decls = []
        for i in range(n):
            if i % 6 == 5:
                continue
            age, sex = AGES[i % len(AGES)], "F" if i % 2 == 0 else "M"
            for v in range(1, 3 if i % 5 == 0 else 2):
                a = answers_for(i + v, sex, age, f"{1 + i % 300} Nguyễn Trãi")
                cols = typed_columns(a)
                decls.append((i + 1, v, secrets.token_hex(16), 880000 + i, "self" if i % 4 else "child", VERSION,
                              now - timedelta(days=30 * v, minutes=i % 1000), json.dumps(a, ensure_ascii=False),
                              *(cols.get(k) for k in DECL_COLUMNS[8:])))
        await conn.copy_records_to_table("declarations", records=decls, columns=DECL_COLUMNS)
        await conn.execute("SELECT setval(pg_get_serial_sequence('residents', 'id'), $1)", n)
        await conn.execute("ANALYZE")
        return len(decls)
    finally:
        await conn.close()


def _plain(v):
    return v.isoformat() if isinstance(v, date | datetime) else float(v) if hasattr(v, "as_integer_ratio") else str(v)


async def baseline(sessions, out: Path) -> int:
    """The same rows through the same cursor, each written as json.dumps of the row: no mapping."""
    n = 0
    with (out / "rows.ndjson").open("w", encoding="utf-8") as f:
        async with aclosing(residents(sessions, WARD)) as rows:
            async for r, decls in rows:
                f.write(json.dumps(r._asdict(), default=_plain, ensure_ascii=False) + "\n")
                for d in decls[1:]:
                    f.write(json.dumps(d._asdict(), default=_plain, ensure_ascii=False) + "\n")
                n += 1
    return n


BASE = "baseline: rows as json.dumps"
JOBS = (
    (BASE, lambda sessions, out: baseline(sessions, out)),
    ("FHIR NDJSON", lambda sessions, out: export(sessions, WARD, out / "nd", "ndjson")),
    ("FHIR Bundle per resident", lambda sessions, out: export(sessions, WARD, out / "b", "bundle")),
)


async def run(url: str, repeat: int, bundles: bool) -> tuple[dict[str, list[tuple[float, float]]], float]:
    """(name -> [(wall s, CPU s of this process)]), and the peak traced memory of an NDJSON export."""
    engine = make_engine(url)
    sessions = make_sessions(engine)
    jobs = [j for j in JOBS if bundles or "Bundle" not in j[0]]
    times: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in jobs}
    sizes: dict[str, int] = {}
    try:
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp)
                for name, job in jobs:
                    wall, cpu = time.perf_counter(), time.process_time()
                    await job(sessions, out)
                    times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
                sizes = {p.name: p.stat().st_size for p in out.rglob("*") if p.is_file()}
        with tempfile.TemporaryDirectory() as tmp:  # memory: one more NDJSON export, traced (slower, not timed)
            tracemalloc.start()
            await export(sessions, WARD, Path(tmp), "ndjson")
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    finally:
        await engine.dispose()
    print("output MB: " + ", ".join(f"{k} {v / 1e6:.1f}" for k, v in sorted(sizes.items())), file=sys.stderr)
    return times, peak


def table(times: dict[str, list[tuple[float, float]]], n: int) -> str:
    base = statistics.median(w for w, _ in times[BASE])
    lines = ["| run | median wall s | residents/s | ÷ baseline time | median CPU s | residents per CPU s |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, values in times.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        lines.append(f"| {name} | {wall:.2f} | {n / wall:,.0f} | {wall / base:.2f} | {cpu:.2f} | {n / cpu:,.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--residents", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--database-url")
    ap.add_argument("--no-bundles", action="store_true", help="time the NDJSON export and the baseline only")
    args = ap.parse_args(argv)
    server = _server_url(args.database_url)
    name = f"hb_fhir_bench_{secrets.token_hex(3)}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    try:
        url = _with_db(server, name)
        migrate.upgrade(url)
        start = time.perf_counter()
        decls = asyncio.run(seed(url, args.residents))
        print(f"seeded {args.residents:,} residents, {decls:,} declarations in {time.perf_counter() - start:.1f}s",
              file=sys.stderr)
        times, peak = uvloop.run(run(url, args.repeat, not args.no_bundles))
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print(f"{args.residents:,} residents ({decls:,} declarations), {args.repeat} rounds, {os.cpu_count()} cores\n")
    print(table(times, args.residents))
    print(f"\npeak Python memory of one NDJSON export (tracemalloc): {peak / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
