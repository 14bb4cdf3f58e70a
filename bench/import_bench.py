"""Import benchmark: `healthbot residents import` against a bare COPY of the same file.

    uv run python -m bench.import_bench [--rows 1000000] [--repeat 3] [--database-url URL]

Generates a registry CSV, then in each round: COPY into a bare table with no index, import
into an empty registry, and re-import the same file unchanged. Prints medians and ratios.
Without --database-url (or DATABASE_URL) it uses the embedded PostgreSQL under var/bench.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import uvloop

from storage import code_vault, migrate, registry
from storage.db import plain_url

FAMILY = "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý".split()
MIDDLE = "Văn Thị Minh Ngọc Thanh Hữu Đức Quốc Thu Kim Hoài Xuân Gia Bảo Anh".split()
GIVEN = (
    "An Bình Chi Dũng Giang Hà Hạnh Hải Hiếu Hoa Hùng Hương Khánh Lan Linh Long Mai Minh Nam "
    "Nga Ngân Nhung Phong Phúc Phương Quân Quang Sơn Tâm Thảo Thắng Thủy Trang Trí Trung Tuấn "
    "Tú Uyên Việt Vy Yến"
).split()
HEADER = ["ho_ten", "ngay_sinh", "gioi_tinh", "ma_bhyt", "cccd", "so_dien_thoai", "dia_chi",
          "to_dan_pho", "khu_pho", "phuong"]
BARE_TABLE = "CREATE UNLOGGED TABLE bench_bare ({})".format(", ".join(f"{h} text" for h in HEADER))


def generate(path: Path, rows: int, seed: int = 27) -> None:
    """A plausible ward registry: unique identifiers (every row has an insurance code, so no
    two rows are the same person), some fields missing, a few bare years of birth."""
    rnd = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        for i in range(rows):
            year = rnd.randint(1925, 2024)
            born = (
                str(year)
                if year < 1940 and rnd.random() < 0.3
                else f"{rnd.randint(1, 28):02d}/{rnd.randint(1, 12):02d}/{year}"
            )
            female = rnd.random() < 0.5
            name = f"{rnd.choice(FAMILY)} {'Thị' if female else rnd.choice(MIDDLE)} {rnd.choice(GIVEN)}"
            bhxh = f"79{(i * 7_919 + 13) % 10**8:08d}"
            insurance = f"{rnd.choice(('GD', 'HT', 'DN', 'HS', 'TE'))}{rnd.randint(1, 5)}79{bhxh}"
            citizen = f"079{(i * 104_729 + 7) % 10**9:09d}" if year < 2012 else ""
            phone = f"09{rnd.randint(0, 99_999_999):08d}" if rnd.random() < 0.7 else ""
            quarter, group = rnd.randint(1, 6), rnd.randint(1, 40)
            out.writerow([
                name, born, "Nữ" if female else "Nam", insurance,
                citizen, phone, f"{rnd.randint(1, 300)} Lê Văn Việt", f"Tổ {group}",
                f"Khu phố {quarter}", "Phường 27",
            ])


def _with_db(url: str, name: str) -> str:
    p = urlsplit(plain_url(url))
    return urlunsplit((p.scheme, p.netloc, "/" + name, p.query, ""))


async def _timed(coro) -> float:
    start = time.perf_counter()
    await coro
    return time.perf_counter() - start


async def bare_copy(url: str, path: Path) -> float:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP TABLE IF EXISTS bench_bare")
        await conn.execute(BARE_TABLE)
        return await _timed(conn.copy_to_table("bench_bare", source=path, format="csv", header=True))
    finally:
        await conn.execute("DROP TABLE IF EXISTS bench_bare")
        await conn.close()


async def registry_import(url: str, path: Path, empty_first: bool) -> tuple[float, registry.ImportReport]:
    conn = await asyncpg.connect(url)
    try:
        if empty_first:
            await conn.execute("TRUNCATE residents RESTART IDENTITY CASCADE")
            await conn.execute("VACUUM ANALYZE residents")
        start = time.perf_counter()
        report = await registry.import_file(conn, path)
        return time.perf_counter() - start, report
    finally:
        await conn.close()


async def run(url: str, path: Path, repeat: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"bare COPY": [], "first import": [], "unchanged re-import": []}
    for round_ in range(repeat):
        times["bare COPY"].append(await bare_copy(url, path))
        seconds, first = await registry_import(url, path, empty_first=True)
        times["first import"].append(seconds)
        seconds, again = await registry_import(url, path, empty_first=False)
        times["unchanged re-import"].append(seconds)
        if first.rejected or again.added or again.updated or again.unchanged != first.added:
            sys.exit(f"unexpected import result: first added {first.added}, rejected "
                     f"{len(first.rejected)}; again {again.added}/{again.updated}/{again.unchanged}")
        print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()),
              file=sys.stderr)
    return times


def table(times: dict[str, list[float]], rows: int) -> str:
    base = statistics.median(times["bare COPY"])
    lines = ["| step | median (s) | rows/s | × bare COPY |", "|---|---:|---:|---:|"]
    for name, values in times.items():
        m = statistics.median(values)
        lines.append(f"| {name} | {m:.2f} | {rows / m:,.0f} | {m / base:.2f} |")
    return "\n".join(lines)


def _server_url(explicit: str | None) -> str:
    url = explicit or os.environ.get("DATABASE_URL")
    if url:
        return url
    from storage.embedded import start_postgres  # noqa: PLC0415

    return start_postgres(Path("var/bench"))


async def _admin(server: str, sql: str) -> None:
    conn = await asyncpg.connect(_with_db(server, "postgres"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--database-url")
    ap.add_argument("--keep-file", type=Path, help="write the generated CSV here and keep it")
    args = ap.parse_args(argv)

    code_vault.use(secrets.token_urlsafe(48))  # this run's key for the card codes at rest
    server = _server_url(args.database_url)
    name = f"hb_bench_{secrets.token_hex(3)}"
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep_file or Path(tmp) / "residents.csv"
        start = time.perf_counter()
        generate(path, args.rows)
        print(f"generated {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) "
              f"in {time.perf_counter() - start:.1f}s", file=sys.stderr)
        asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
        try:
            url = _with_db(server, name)
            migrate.upgrade(url)
            times = uvloop.run(run(url, path, args.repeat))  # the loop `healthbot` runs on
        finally:
            asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print(f"{args.rows:,} rows, {args.repeat} rounds, {os.cpu_count()} cores\n")
    print(table(times, args.rows))


if __name__ == "__main__":
    main()
