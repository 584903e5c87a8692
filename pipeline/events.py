"""How long-running work reports to its caller, in one shape everywhere.

``on_message(text)``: one line of plain text (no markup: the CLI decides how it looks).
``on_progress(done, total)``: a count of finished items, e.g. clips embedded.
"""

from __future__ import annotations

from collections.abc import Callable

OnMessage = Callable[[str], None]
OnProgress = Callable[[int, int], None]


def ignore(_message: str) -> None:
    """The default ``on_message``: say nothing."""
