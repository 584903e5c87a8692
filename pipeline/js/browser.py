"""Headless Chromium for the web demo tests and the parity stage.

We drive Debian's ``chromium`` (found on PATH) with Playwright's ``executable_path`` instead of a
Playwright-downloaded browser: the machine may be offline and the distro build is what CI installs.
``launch_chromium`` yields a Browser; ``fake_microphone_wav`` prepares the file Chromium's fake
capture device plays as if it were a microphone.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import PipelineError

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


class BrowserError(PipelineError):
    """Chromium or Playwright is missing or failed to start."""


def chromium_executable() -> str:
    """Path of the system Chromium; raises with the install command when there is none."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise BrowserError("no Chromium on PATH; install it with `apt-get install chromium`")


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
        raise BrowserError("Python playwright is missing; `pip install playwright` (no browser download)") from None
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


def fake_microphone_wav(waveform: np.ndarray, sample_rate: int, path: str | os.PathLike[str]) -> Path:
    """Write a mono float waveform as the 16-bit PCM WAV Chromium's fake capture device reads."""
    import soundfile as sf

    path = Path(path)
    pcm = np.clip(np.asarray(waveform, dtype=np.float32), -1.0, 1.0)
    sf.write(str(path), pcm, sample_rate, subtype="PCM_16", format="WAV")
    return path
