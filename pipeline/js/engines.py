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

import base64
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
            Firefox: a 1 kHz sine, WebKit: its mock microphone). A WAV file is played as the microphone:
            Chromium's capture device plays it; Firefox's and WebKit's fake devices are generated signals,
            so there every page's ``getUserMedia`` is replaced by a stream of the file
            (:class:`FileMicrophonePage`): the page's whole live chain runs, only the device is not a device.

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
    if engine == "chromium" or not isinstance(fake_microphone, Path):
        with start(fake_microphone) as session:
            yield session
        return
    with start(True) as session:  # the engine's fake device settings (Firefox needs its mock audio backend)
        yield FileMicrophoneSession(session, fake_microphone)


FILE_MICROPHONE_JS = """async (b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer;
  const getUserMedia = async () => {
    const ctx = new AudioContext();
    const buffer = await ctx.decodeAudioData(bytes.slice(0));
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.loop = true; // as Chromium's file device: a stream that stops would leave the page waiting
    const sink = ctx.createMediaStreamDestination();
    source.connect(sink);
    await ctx.resume();
    source.start();
    window.fileMicrophone = {rate: ctx.sampleRate, seconds: buffer.duration};
    return sink.stream;
  };
  // On the prototype: WebKitGTK replaced navigator.mediaDevices while the page loaded, dropping an own property.
  if (typeof MediaDevices !== 'undefined') MediaDevices.prototype.getUserMedia = getUserMedia;
  else Object.defineProperty(navigator, 'mediaDevices', {value: {getUserMedia}});
  return true;
}"""
"""Replace ``getUserMedia`` with a stream that plays the given WAV (base64) through Web Audio in a loop, at the
AudioContext's rate (the browser resamples the file, the page resamples the stream back to 16 kHz)."""


class FileMicrophonePage:
    """A page whose microphone plays a file: after every ``goto``, ``getUserMedia`` is replaced
    (:data:`FILE_MICROPHONE_JS`) before the page can ask for it (it asks on a click)."""

    def __init__(self, page: Page, wav: Path) -> None:
        self.page, self.b64 = page, base64.b64encode(Path(wav).read_bytes()).decode()

    def goto(self, url: str) -> None:
        self.page.goto(url)
        self.page.evaluate(FILE_MICROPHONE_JS, self.b64)

    def __getattr__(self, name: str) -> Any:  # evaluate, wait_for, click, upload, close
        return getattr(self.page, name)


class FileMicrophoneSession:
    """A session whose every page plays the file as its microphone (:class:`FileMicrophonePage`)."""

    def __init__(self, session: Session, wav: Path) -> None:
        self.session, self.wav = session, wav
        self.engine, self.version = session.engine, session.version

    def new_page(self, microphone: bool = False) -> FileMicrophonePage:
        return FileMicrophonePage(self.session.new_page(microphone=True), self.wav)
