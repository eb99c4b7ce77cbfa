"""Progress on stderr for long commands (``simulate``, ``backtest``).

A rich progress bar while a person watches: only when stderr is a terminal and the user
did not pass ``--quiet``. Otherwise every call is a no-op, so pipes, CI logs and tests
see exactly the output they saw before. Code that reports progress takes a plain
callable ``report(task, fraction)`` and knows nothing of rich.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Report = Callable[[str, float], None]


def _quiet(task: str, fraction: float) -> None:
    """The reporter when nobody watches."""


@contextmanager
def progress(enabled: bool, stream: Any = None) -> Iterator[Report]:
    """``report(task, fraction)``: one bar per task name, fraction 0..1 of it done."""
    stream = sys.stderr if stream is None else stream
    if not enabled or not bool(getattr(stream, "isatty", lambda: False)()):
        yield _quiet
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    bars = Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f} %"),
        TimeElapsedColumn(),
        console=Console(file=stream),
        transient=False,
    )
    tasks: dict[str, TaskID] = {}

    def report(task: str, fraction: float) -> None:
        if task not in tasks:
            tasks[task] = bars.add_task(task, total=1.0)
        bars.update(tasks[task], completed=min(1.0, max(0.0, fraction)))

    with bars:
        yield report
