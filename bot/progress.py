"""Progress of long work at the terminal (cards, exports), with rich: a live bar on a
terminal; on a pipe or a log, nothing but the command's own final line."""

from __future__ import annotations

import sys
import threading

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class Bar:
    """`with Bar(label, total) as bar: bar.advance(n)`; safe to advance from a thread."""

    def __init__(self, label: str, total: int, stream=None):
        stream = stream or sys.stderr
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), console=Console(file=stream),
                                 disable=not stream.isatty(), transient=False)
        self.task = self.progress.add_task(label, total=total)
        self.lock = threading.Lock()

    def advance(self, n: int = 1) -> None:
        with self.lock:
            self.progress.advance(self.task, n)

    def __enter__(self) -> Bar:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        with self.lock:
            self.progress.update(self.task, completed=self.progress.tasks[0].total)
        self.progress.stop()
