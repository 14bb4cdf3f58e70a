"""Checking a registry file's rows, on every core when the file is large.

Checking a city's million rows in Python is most of an import's time. The file goes out in
chunks to one worker process per core; each checks its chunk and hands back what crosses
between processes cheaply: a COPY payload (bytes), the codes it drew, and 64-bit marks of
the keys the whole-file duplicate check compares. Chunks come back in file order, so the
parent streams them into COPY while the workers check the rest. A small file is checked
in-process, the same way.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import signal
from array import array
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from storage import code_vault, copy_text
from storage.registry_check import Checker, repeat_marks
from storage.registry_rows import Chunk, Layout, Rejection

# The payload's columns, in order; "line" only for the staging table.
COLUMNS = ("line", "ward", "quarter", "group_name", "full_name", "birth_date", "birth_year",
           "sex", "insurance_code", "citizen_id", "phone", "address", "import_source", "code_hash", "code_sealed")
_BYTEA = {"import_source", "code_hash", "code_sealed"}
_FEW_VALUES = {"ward", "quarter", "group_name", "full_name", "birth_date", "birth_year", "sex"}
CHUNK_ROWS = 12_500
PARALLEL_MIN_BYTES = 3_000_000  # about 25,000 rows: below that, starting workers costs more


@dataclass(frozen=True)
class Setup:
    """What a worker needs to check rows the way the parent would."""

    layout: Layout
    default_ward: str | None
    today: date
    with_line: bool  # rows for the staging table carry their line number
    order: str = "dmy"  # day and month in d/d/yyyy dates (registry_check.date_order)
    run: int = 0  # one import: a checker's memos and date evidence do not outlive it


@dataclass
class Checked:
    """One chunk checked: its good rows as a COPY payload, in line order, and what the
    parent needs besides, packed so that it crosses between processes as a few strings."""

    payload: bytes
    rejected: list[Rejection]
    lines: Sequence[int] | None  # the good rows' line numbers (None: all the chunk's)
    codes: str  # each good row's code, dialogs.codes.LENGTH characters
    marks: dict[str, bytes]  # registry_check.repeat_marks, as arrays of 64-bit integers
    evidence: frozenset[str] = frozenset()  # the date orders seen so far (order_evidence)


class _State:
    """A checker and the encoded form of repeating values, kept by a worker from chunk to
    chunk (a name or a date seen in one chunk is not checked or encoded again)."""

    def __init__(self, setup: Setup):
        self.setup = setup
        self.checker = Checker(setup.layout, setup.default_ward, setup.today, setup.order)
        self.memos: dict[str, dict] = {name: {} for name in _FEW_VALUES}
        self.lowered: dict[str, str] = {}


_state: _State | None = None


def check(chunk: Chunk, setup: Setup) -> Checked:
    global _state
    if _state is None or _state.setup != setup:
        _state = _State(setup)
    lines, values, rejected = _state.checker.check_columns(*chunk.cells())
    # Codes are drawn here, chunk by chunk: two alike in one file (~1e-8 for a million
    # 65-bit codes) are caught by the unique index, and those rows drawn again. Only their
    # keyed hashes and sealed copies are stored (storage/code_vault.py).
    drawn, hashes, sealed = code_vault.issue(len(lines))
    values |= {"line": lines, "code_hash": hashes, "code_sealed": sealed}
    encoded = [copy_text.bytea_column(values[name]) if name in _BYTEA
               else copy_text.column(values[name], _state.memos.get(name))
               for name in COLUMNS[0 if setup.with_line else 1 :]]
    marks = {name: array("q", column).tobytes() for name, column in repeat_marks(values, _state.lowered).items()}
    return Checked(copy_text.rows(encoded), rejected, None if lines is chunk.lines else list(lines), "".join(drawn),
                   marks, frozenset(_state.checker.evidence))


def _worker_start() -> None:
    # a fork of the importing process: signals are the parent's to handle
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN if sig == signal.SIGINT else signal.SIG_DFL)
    gc.disable()  # a chunk is ~a million short-lived objects, none in a cycle


def _ready() -> None:
    """Sent once per worker so that it starts at once."""


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Workers:
    """One process per core. They are forks of this process (everything is imported
    already, so they are ready at once; they only ever run check()), started before the
    file is read so that the fork copies little."""

    def __init__(self, count: int):
        self.count = count
        self.pool: ProcessPoolExecutor | None = None

    @classmethod
    def for_file(cls, path: Path) -> Workers | None:
        """Workers when the file is large enough and there is more than one core."""
        cores = _cores()
        try:
            large = path.stat().st_size >= PARALLEL_MIN_BYTES
        except OSError:
            return None  # reading it will say why
        return cls(cores) if large and cores > 1 else None

    def start(self) -> ProcessPoolExecutor:
        if self.pool is None:
            # fork, not spawn: a worker must share the parent's hash seed (repeat_marks)
            self.pool = ProcessPoolExecutor(self.count, mp_context=multiprocessing.get_context("fork"),
                                            initializer=_worker_start)
            for _ in range(self.count):
                self.pool.submit(_ready)
        return self.pool

    def close(self) -> None:
        """Stop the workers, waiting for the chunks they are checking (a fraction of a
        second). Interrupted meanwhile (a second Ctrl-C), it kills them instead: left
        alone, they would keep the program from exiting."""
        if self.pool is None:
            return
        processes = list((self.pool._processes or {}).values())  # the pool's own, not public
        try:
            self.pool.shutdown(wait=True, cancel_futures=True)
        except BaseException:
            # and any the pool started meanwhile (it spawns on demand, from its own thread)
            for process in {*processes, *(self.pool._processes or {}).values()}:
                process.kill()
            raise


async def checked(chunks: Sequence[Chunk], setup: Setup, workers: Workers | None) -> AsyncIterator[Checked]:
    """Each chunk checked, in order: by the workers when there are any and more than one
    chunk, else here."""
    if workers is None or len(chunks) < 2:
        for chunk in chunks:
            yield _with_lines(check(chunk, setup), chunk)
        return
    pool = workers.start()
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future] = []
    try:
        for chunk in chunks:  # the first chunks are being checked while later ones are sent
            futures.append(loop.run_in_executor(pool, check, chunk, setup))
            await asyncio.sleep(0)
        for chunk, future in zip(chunks, futures, strict=True):
            yield _with_lines(await future, chunk)
    finally:
        # Left to Workers.close(), which stops what has not started: cancelling from here
        # races the pool's own bookkeeping when a worker dies (an error in its thread).
        for future in futures:
            future.add_done_callback(_seen)


def _seen(future: asyncio.Future) -> None:
    """An outcome nobody waits for any more (the import has failed): retrieved, not logged."""
    if not future.cancelled():
        future.exception()


def _with_lines(result: Checked, chunk: Chunk) -> Checked:
    if result.lines is None:
        result.lines = chunk.lines
    return result
