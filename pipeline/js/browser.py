"""Headless Chromium for the web demo tests and the parity stage.

We drive Debian's ``chromium`` (found on PATH) with Playwright's ``executable_path`` instead of a
Playwright-downloaded browser: the machine may be offline and the distro build is what CI installs.
``launch_chromium`` yields a Playwright Browser; ``chromium_session`` the same browser behind the
engine-neutral :class:`pipeline.js.engines.Session`; ``fake_microphone_wav`` prepares the file
Chromium's fake capture device plays as if it were a microphone.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import PipelineError

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


class BrowserError(PipelineError):
    """A browser, its driver or its automation package is missing, failed to start, or timed out."""


class BrowserMissing(BrowserError):
    """The browser, its driver or its automation package is not installed (nothing was started).

    Kept apart from failures so parity can skip a runtime the user asked for on a machine without
    that engine, saying what to install, instead of reporting broken bounds.
    """


def chromium_executable() -> str:
    """Path of the system Chromium; raises with the install command when there is none."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise BrowserMissing("no Chromium on PATH; install it with `apt-get install chromium`")


def chromium_args(fake_audio: str | os.PathLike[str] | None = None, auto_accept_media: bool = False) -> list[str]:
    """Command-line flags for headless Chromium.

    Args:
        fake_audio: a WAV file that the fake microphone plays. Chromium delivers it at 44.1 kHz
            stereo whatever the file's rate, after a few hundred to ~1800 silent samples, and loops it.
        auto_accept_media: accept every microphone/camera prompt (``--use-fake-ui-for-media-stream``).
            Leave it off to decide per page instead: ``browser.new_context(permissions=["microphone"])``
            grants, a context without that permission is denied, so one browser serves both cases.
    """
    args = []
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to start its sandbox as root
    if fake_audio is not None:
        wav = Path(fake_audio).resolve()
        args += ["--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={wav}"]
    if auto_accept_media:
        args += ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    # Autoplay policy would otherwise keep AudioContexts started outside a gesture suspended.
    args.append("--autoplay-policy=no-user-gesture-required")
    return list(dict.fromkeys(args))


@contextmanager
def launch_chromium(
    fake_audio: str | os.PathLike[str] | None = None,
    auto_accept_media: bool = False,
    headless: bool = True,
    extra_args: Sequence[str] = (),
) -> Iterator[Browser]:
    """Start Playwright + the system Chromium; yields the Browser and closes both afterwards.

    Open pages with ``browser.new_context(permissions=["microphone"])`` to grant the microphone (see
    :func:`chromium_args`).
    """
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise BrowserMissing("Python playwright is missing; `pip install playwright` (no browser download)") from None
    executable = chromium_executable()
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(
                executable_path=executable,
                headless=headless,
                args=[*chromium_args(fake_audio, auto_accept_media), *extra_args],
            )
        except PlaywrightError as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else "unknown error"
            raise BrowserError(f"{executable} failed to start: {first}") from None
        try:
            yield browser
        finally:
            browser.close()


class PlaywrightPage:
    """A Chromium page (in its own context, so permissions are per page) as a :class:`~.engines.Page`."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.page = context.new_page()

    def goto(self, url: str) -> None:
        self.page.goto(url)

    def evaluate(self, function: str, arg: Any = None, timeout: float = 3600) -> Any:
        """Playwright awaits the call without a time limit of its own; ``timeout`` is not needed here."""
        return self.page.evaluate(function, arg)

    def wait_for(self, expression: str, timeout: float = 60) -> None:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(expression, timeout=timeout * 1000)
        except PlaywrightTimeout:
            raise BrowserError(f"chromium: waited {timeout:g} s for `{expression}`") from None

    def click(self, selector: str) -> None:
        self.page.click(selector)

    def upload(self, selector: str, path: Path) -> None:
        self.page.set_input_files(selector, str(path))

    def close(self) -> None:
        self.context.close()


class ChromiumSession:
    """Headless Chromium as an engine-neutral :class:`~.engines.Session`."""

    engine = "chromium"

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.version = browser.version

    def new_page(self, microphone: bool = False) -> PlaywrightPage:
        """A page in a fresh context; ``microphone`` grants the microphone, otherwise it is denied."""
        return PlaywrightPage(self.browser.new_context(permissions=["microphone"] if microphone else []))


@contextmanager
def chromium_session(fake_microphone: bool | os.PathLike[str] = False) -> Iterator[ChromiumSession]:
    """Chromium for :func:`pipeline.js.engines.launch`: True fakes a device that beeps, a path plays a WAV."""
    if fake_microphone is True:
        with launch_chromium(extra_args=["--use-fake-device-for-media-stream"]) as browser:
            yield ChromiumSession(browser)
    else:
        with launch_chromium(fake_audio=fake_microphone or None) as browser:
            yield ChromiumSession(browser)


def fake_microphone_wav(waveform: np.ndarray, sample_rate: int, path: str | os.PathLike[str]) -> Path:
    """Write a mono float waveform as the 16-bit PCM WAV Chromium's fake capture device reads."""
    import soundfile as sf

    path = Path(path)
    pcm = np.clip(np.asarray(waveform, dtype=np.float32), -1.0, 1.0)
    sf.write(str(path), pcm, sample_rate, subtype="PCM_16", format="WAV")
    return path
