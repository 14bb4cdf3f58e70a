"""Progress of long work at the terminal (cards, exports), drawn by rich: a live bar on a
terminal; on a pipe or a log file nothing (the command's own final line says the outcome)."""

from __future__ import annotations

import sys
import threading
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class Bar:
    """`bar.advance(n)` as work is done (from any thread); it appears on the first advance
    and ends, with a line break, when `total` is reached or on leaving `with Bar(…)`."""

    REDRAW = 0.1  # seconds between redraws

    def __init__(self, total: int, label: str, stream=None):
        stream = stream or sys.stderr
        tty = stream.isatty()
        self.total, self.done = total, 0
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), console=Console(file=stream, force_terminal=tty),
                                 disable=not tty, auto_refresh=False)
        self.task = self.progress.add_task(label, total=total)
        self.lock = threading.Lock()
        self.state = "new"
        self.drawn = 0.0

    def advance(self, n: int = 1) -> None:
        with self.lock:
            if self.state == "new":
                self.progress.start()
                self.state = "running"
            self.done += n
            self.progress.update(self.task, completed=min(self.done, self.total))
            now = time.monotonic()
            if now - self.drawn >= self.REDRAW or self.done >= self.total:
                self.drawn = now
                self.progress.refresh()
            if self.done >= self.total:
                self._stop()

    def _stop(self) -> None:
        if self.state == "running":
            self.progress.stop()
        self.state = "stopped"

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc) -> None:
        with self.lock:
            self._stop()
