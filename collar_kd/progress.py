"""Progress reporting for long work: rich bars on a terminal, nothing with --quiet."""

from __future__ import annotations

import sys
from contextlib import contextmanager


class Quiet:
    @contextmanager
    def task(self, description: str, total: int):
        yield lambda n=1: None

    def log(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        """Said at once, even with --quiet: a warning that may make the user stop the run."""
        print(f"collar-kd: warning: {message}", file=sys.stderr, flush=True)


class RichBars(Quiet):
    def __init__(self):
        from rich.console import Console

        self.console = Console(stderr=True)

    @contextmanager
    def task(self, description: str, total: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=self.console, transient=True,
        ) as bars:
            tid = bars.add_task(description, total=total)
            yield lambda n=1: bars.advance(tid, n)

    def log(self, message: str) -> None:
        self.console.print(message)

    def warn(self, message: str) -> None:
        self.console.print(f"collar-kd: warning: {message}", style="yellow", markup=False, highlight=False)
