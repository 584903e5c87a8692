"""Terminal output shared by the CLI commands: one Rich console on stderr for messages and progress.

Results (tables, JSON) go to stdout so they can be piped; everything else goes to stderr.
"""

from __future__ import annotations

import sys

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


def progress(unit: str = "files") -> Progress:
    """A progress bar with count, rate, elapsed time and ETA, drawn on stderr."""
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
