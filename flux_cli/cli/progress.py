"""What people see while a batch runs: a bar with the spend so far on a terminal, one plain line
per finished item otherwise (a log file), nothing with --quiet."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from flux_cli.cli.context import App
from flux_cli.planning import Item
from flux_cli.pricing import format_usd


@dataclass
class Progress:
    """What people see while a batch runs: a bar on a terminal, plain lines otherwise."""

    app: App
    total: int
    done: int = 0
    spent_micros: int = 0
    bar: Any = None
    task: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Progress:
        if not self.app.quiet and self.app.stderr_is_tty():
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bar

            self.bar = Bar(
                TextColumn("batch"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("· spent {task.fields[spent]}"),
                TimeElapsedColumn(),
                console=self.app.err,
                transient=True,
                # Rich would otherwise capture stdout and print it on stderr above the bar:
                # stdout is data for the next program and must stay where it is.
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self.bar.__enter__()
            self.app.live = self.bar.live  # paths written meanwhile go above the bar
            self.task = self.bar.add_task("batch", total=self.total, spent=format_usd(0))
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.app.live = None
            self.bar.__exit__(None, None, None)

    def finished(self, item: Item) -> None:
        outcome = item.outcome
        with self.lock:
            self.done += 1
            if outcome is not None and outcome.result is not None and outcome.result.cost_micros:
                self.spent_micros += outcome.result.cost_micros
            if self.bar is not None:
                self.bar.update(self.task, completed=self.done, spent=format_usd(self.spent_micros))
                return
            if self.app.quiet:
                return
            from flux_cli.cli.live import stamp
            from flux_cli.results import progress_line

            self.app.err.print(
                progress_line(item, self.done, self.total, stamp(self.app)),
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
