"""Card output against bare `segno.make` for the same deep links on the same cores.

    uv run python -m bench.cards_bench [--cards 22000] [--formats pdf,png,svg] [--repeat 1]

Both sides use a pool of one worker process per core and the same batches; the baseline
only builds the QR codes and throws them away. Prints cards/s and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import segno

from bot import cards
from dialogs import codes

BOT = "hb_phuong27_bot"


def _bare(links: list[str]) -> int:
    for link in links:
        segno.make(link)
    return len(links)


def bare_segno(links: list[str], workers: int) -> float:
    start = time.perf_counter()
    with cards._pool(workers) as pool:
        assert sum(pool.map(_bare, cards._batches(links, 32))) == len(links)
    return time.perf_counter() - start


def card_output(batch: list[cards.Card], fmt: str, workers: int, folder: Path) -> float:
    start = time.perf_counter()
    if fmt == "pdf":
        cards.make_pdf(batch, folder / "cards.pdf", workers=workers)
    else:
        cards.make_files(batch, folder / fmt, fmt, workers=workers)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cards", type=int, default=22_000)
    ap.add_argument("--formats", default="pdf")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    args = ap.parse_args(argv)

    batch = [cards.Card(i, code, "Nguyễn Thị Ngọc Ánh", 1950 + i % 60, "Phường 27", "Khu phố 3",
                        f"Tổ {i % 40}", cards.deep_link(BOT, code))
             for i, code in enumerate(codes.new_codes(args.cards))]
    links = [c.link for c in batch]
    times: dict[str, list[float]] = {"bare segno.make": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.repeat):
            times["bare segno.make"].append(bare_segno(links, args.workers))
            for fmt in args.formats.split(","):
                folder = Path(tmp) / f"r{round_}"
                folder.mkdir(exist_ok=True)
                times.setdefault(f"cards {fmt}", []).append(card_output(batch, fmt, args.workers, folder))
            print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.1f}s" for k, v in times.items()),
                  file=sys.stderr)
    base = statistics.median(times["bare segno.make"])
    print(f"{args.cards:,} cards, {args.workers} worker processes, {os.cpu_count()} cores\n")
    print("| output | median (s) | cards/s | rate vs bare segno.make |")
    print("|---|---:|---:|---:|")
    for name, values in times.items():
        m = statistics.median(values)
        print(f"| {name} | {m:.1f} | {args.cards / m:,.0f} | {base / m:.0%} |")


if __name__ == "__main__":
    main()
