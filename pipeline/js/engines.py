"""One small interface over the three browser engines, so parity and the tests drive each the same way.

Each engine has its own automation stack, because no single one drives all three here: Chromium
through Playwright (:mod:`.browser`), Firefox over WebDriver BiDi through npm ``puppeteer-core``
(:mod:`.firefox`; Playwright cannot drive Debian's Firefox), WebKitGTK through its WebKitWebDriver
and Selenium (:mod:`.webkit`). Each driver offers a :class:`Session` whose pages speak
:class:`Page`; :func:`launch` picks the driver by engine name (:data:`pipeline.js.runtimes.BROWSER_ENGINES`).

Functions handed to :meth:`Page.evaluate` are JavaScript source (``"arg => ..."``), may be async,
and get one JSON-serialisable argument: the same text runs in every engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from ..errors import PipelineError
from .runtimes import BROWSER_ENGINES


class Page(Protocol):
    """One open tab."""

    def goto(self, url: str) -> None:
        """Load ``url`` and wait for its ``load`` event."""

    def evaluate(self, function: str, arg: Any = None, timeout: float = 3600) -> Any:
        """Call the JavaScript ``function`` (source text) with ``arg``; its (awaited) JSON result."""

    def wait_for(self, expression: str, timeout: float = 60) -> None:
        """Wait until the JavaScript ``expression`` is truthy; BrowserError after ``timeout`` seconds."""

    def click(self, selector: str) -> None:
        """Click the element as a user would (a trusted gesture: starts audio, asks for the microphone)."""

    def upload(self, selector: str, path: Path) -> None:
        """Choose ``path`` in the file input ``selector`` (fires its ``change`` event)."""

    def close(self) -> None:
        """Close the tab (or leave it blank where the engine has only one)."""


class Session(Protocol):
    """A running browser."""

    engine: str
    version: str

    def new_page(self, microphone: bool = False) -> Page:
        """A fresh page; ``microphone`` grants it the (fake) microphone where permission is per page."""


def text(page: Page, testid: str) -> str:
    """The trimmed text of the page element with ``data-testid=testid`` ('' when absent)."""
    return page.evaluate("id => (document.querySelector(`[data-testid=\"${id}\"]`)?.textContent ?? '').trim()", testid)


@contextmanager
def launch(engine: str, fake_microphone: bool | Path = False) -> Iterator[Session]:
    """Start ``engine``'s browser; yields a Session and closes the browser afterwards.

    Args:
        engine: ``chromium``, ``firefox`` or ``webkit``.
        fake_microphone: True gives pages the engine's own fake capture device (Chromium: beeps,
            Firefox: a 1 kHz sine, WebKit: its mock microphone); a WAV file is played as the
            microphone, which only Chromium can do.

    Raises:
        BrowserMissing: the browser, its driver or its automation package is not installed; the
            message says what to install.
        BrowserError (or a subclass naming the engine): the browser failed to start.
    """
    if engine not in BROWSER_ENGINES:
        raise PipelineError(f"no browser engine '{engine}'; choose from {', '.join(BROWSER_ENGINES)}")
    if engine == "chromium":
        from .browser import chromium_session as start
    elif engine == "firefox":
        from .firefox import firefox_session as start
    else:
        from .webkit import webkit_session as start
    with start(fake_microphone) as session:
        yield session
