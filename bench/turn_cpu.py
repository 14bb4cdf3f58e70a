"""CPU per turn inside one process: the engine, Redis and PostgreSQL as `healthbot run` uses
them, without HTTP (replies are recorded, not sent), so the number does not depend on the
Bot API stand-in sharing the cores. Baseline in the same run: the same people's turns with
the dialog step left out (lease, commit, acknowledge only): what the crash-safe pipeline
costs by itself.

    uv run python -m bench.turn_cpu [--users 200] [--rounds 30] [--repeat 3]

Uses TEST_DATABASE_URL / TEST_REDIS_URL when set, else embedded servers under var/bench.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.throughput import CODE_SECRET, FIRST_USER, NAV, TYPED, folded, seeded  # noqa: E402


class Recorded:
    """A channel that keeps the last reply to each person instead of sending it."""

    name = "telegram"

    def __init__(self):
        self.last: dict[str, object] = {}

    async def send(self, user, out):
        self.last[user] = out


async def run(db_url: str, redis_url: str, users: int, rounds: int, step: bool) -> float:
    os.environ.update(CODE_SECRET=CODE_SECRET, BOT_TOKEN="1:bench", DATABASE_URL=db_url, REDIS_URL=redis_url,
                      REDIS_PREFIX=f"turncpu{secrets.token_hex(3)}", LOG_LEVEL="WARNING")
    from bot import turns  # noqa: PLC0415
    from bot.channels.base import Inbound  # noqa: PLC0415
    from bot.config import load_settings  # noqa: PLC0415
    from bot.runtime import open_runtime, settle_heap  # noqa: PLC0415
    from dialogs.core import Input  # noqa: PLC0415

    rt = await open_runtime(load_settings(), upgrade=False)
    channel = Recorded()
    rt.channels["telegram"] = channel
    events, typed = itertools.count(1), itertools.cycle(TYPED)
    said = {u: "/khaibao" for u in range(users)}

    async def one(u: int) -> None:
        uid, text = str(FIRST_USER + u), said[u]
        inp = (Input(kind="command", text="", command="khaibao") if text == "/khaibao"
               else Input(kind="text", text=text))
        if step:
            await turns.handle(rt, Inbound("telegram", uid, str(next(events)), inp))
        else:  # the pipeline alone: lease, an unchanged commit, acknowledge
            async with rt.store.serial(f"telegram:{uid}"):
                turn = await rt.store.begin(f"telegram:{uid}", f"telegram:{next(events)}")
                await rt.store.commit(turn, [])
                await rt.store.ack(turn, 0)
        out = channel.last.get(uid)
        buttons = [b for row in (getattr(out, "keyboard", None) or ()) for b in row]
        choices = [b for b in buttons if folded(b) not in NAV]
        said[u] = choices[0] if choices else next(typed)

    try:
        for _ in range(3):  # warm-up: connections, caches
            await asyncio.gather(*(one(u) for u in range(users)))
        settle_heap()  # as `healthbot run` does once it serves
        start = time.process_time()
        for r in range(rounds):
            await asyncio.gather(*(one(u) for u in range(users)))
            if r % 10 == 9:  # now and then start over, like real people
                said.update(dict.fromkeys(said, "/khaibao"))
        return 1000 * (time.process_time() - start) / (rounds * users)
    finally:
        await rt.close()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    async with seeded(args.users) as (db_url, redis_url):
        pipeline, full = [], []
        for _ in range(args.repeat):  # alternately, so both see the same moments of the machine
            pipeline.append(await run(db_url, redis_url, args.users, args.rounds, step=False))
            full.append(await run(db_url, redis_url, args.users, args.rounds, step=True))
    base, ours = statistics.median(pipeline), statistics.median(full)
    print(f"\n{args.users} people, {args.rounds} rounds, {args.repeat} run(s) each (medians)\n")
    print(f"{'':42}{'CPU ms per turn':>18}")
    print(f"{'baseline: lease, commit, ack only':42}{base:>18.3f}")
    print(f"{'turn: + dialog step, person read, render':42}{ours:>18.3f}")
    print(f"\nturn / baseline: {ours / base:.2f}")


if __name__ == "__main__":
    uvloop.run(main())
