"""Terminal output shared by the CLI commands: one Rich console on stderr for messages and progress.

Results (tables, JSON) go to stdout so they can be piped; everything else goes to stderr.
"""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

err_console = Console(stderr=True, highlight=False)
out_console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
"""Results on stdout; when piped or captured, wide enough that tables are not squeezed to 80 columns."""


def error(message: str) -> None:
    """Print one error line (no traceback) to stderr; the message is shown literally (paths may hold '[')."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def warn(message: str) -> None:
    """Print one warning line to stderr."""
    err_console.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)


def info(message: str) -> None:
    """Print one status line to stderr."""
    err_console.print(message, soft_wrap=True)


class RateColumn(ProgressColumn):
    """Items per second, e.g. ``83.2 clips/s``."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.1f} {self.unit}/s", style="progress.data.speed")


class LineProgress:
    """Progress as plain lines, for a stderr that is not a terminal (a log file, CI, a pipe).

    Rich draws its bar only when the live display stops there, so a captured log showed the embedding
    bar after the lines of later stages. This prints ``embed: 500/2000 clips`` as it goes instead (every
    10 %, and at the end), in order with everything else. Same calls as the subset of ``Progress`` the CLI uses.
    """

    STEP = 0.1

    def __init__(self, unit: str) -> None:
        self.unit = unit
        self.tasks: dict[int, dict] = {}

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        for task in self.tasks.values():
            self._say(task, final=True)

    def add_task(self, description: str, total: float | None = None, visible: bool = True) -> int:
        self.tasks[len(self.tasks)] = {"description": description, "total": total, "done": 0.0,
                                        "visible": visible, "said": -1.0, "start": time.monotonic()}  # fmt: skip
        return len(self.tasks) - 1

    def update(self, task_id: int, completed: float | None = None, total: float | None = None,
               visible: bool | None = None) -> None:  # fmt: skip
        task = self.tasks[task_id]
        if total is not None:
            task["total"] = total
        if visible is not None:
            task["visible"] = visible
        if completed is not None:
            task["done"] = completed
        self._say(task)

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, completed=self.tasks[task_id]["done"] + advance)

    def _say(self, task: dict, final: bool = False) -> None:
        total, done = task["total"], task["done"]
        if not task["visible"] or not total:
            return
        share = min(1.0, done / total)
        step = share if final else int(share / self.STEP) * self.STEP
        if step <= task["said"] or (final and task["said"] >= 1.0):
            return
        task["said"] = step
        seconds = time.monotonic() - task["start"]
        err_console.print(
            f"{task['description']}: {int(done)}/{int(total)} {self.unit} ({seconds:.0f} s)", soft_wrap=True
        )


def progress(unit: str = "files") -> Progress | LineProgress:
    """A progress bar with count, rate, elapsed time and ETA on stderr; plain lines when it is not a terminal."""
    if not err_console.is_terminal:
        return LineProgress(unit)
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err_console,
    )
