"""WebKit (WebKitGTK's MiniBrowser) for parity and the page tests, driven by Selenium.

WebKitGTK ships its own WebDriver (``WebKitWebDriver``, Debian package ``webkit2gtk-driver``), which
starts ``MiniBrowser`` in automation mode. This build has no headless mode, and without a display
the session hangs silently, so each session gets its own virtual X display (``Xvfb``, package
``xvfb``) unless ``$DISPLAY`` already names one. :func:`webkit_session` yields a
:class:`pipeline.js.engines.Session`.

What WebKitGTK offers here: wasm (SIMD), cpu, and WebGL rendered in software by llvmpipe that calls
itself "Apple GPU" (so the page measures instead of trusting the name, see ``src/model.js``). Its
mock capture devices stand in for a microphone; permission is granted automatically.
"""

from __future__ import annotations

import glob
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .browser import BrowserError, BrowserMissing

MINIBROWSER_GLOBS = (
    "/usr/lib/*/webkit2gtk-4.*/MiniBrowser",
    "/usr/libexec/webkit2gtk-4.*/MiniBrowser",
    "/usr/lib/*/webkitgtk-6.*/MiniBrowser",
)
"""Where Debian (and Fedora-style) packages put MiniBrowser; it is never on PATH."""

MOCK_MICROPHONE_ARGS = ("--enable-media-stream=true", "--enable-mock-capture-devices=true")

POLL_SECONDS = 0.1


class WebKitError(BrowserError):
    """WebKit failed to start, or a call in it failed or timed out (missing: :class:`BrowserMissing`)."""


def webkit_binaries() -> tuple[str, str]:
    """(WebKitWebDriver, MiniBrowser); raises with the install command when either is missing."""
    driver = shutil.which("WebKitWebDriver")
    browsers = sorted(p for pattern in MINIBROWSER_GLOBS for p in glob.glob(pattern))
    if not driver or not browsers:
        raise BrowserMissing("WebKitGTK's WebDriver or MiniBrowser is missing; `apt-get install webkit2gtk-driver`")
    return driver, browsers[-1]


@contextmanager
def virtual_display() -> Iterator[str]:
    """A private X display for one browser (``$DISPLAY`` when one is already set); yields its name.

    Xvfb picks a free display number itself (``-displayfd``), so concurrent sessions never collide.
    """
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    xvfb = shutil.which("Xvfb")
    if not xvfb:
        raise BrowserMissing("WebKitGTK needs a display and there is none; `apt-get install xvfb` (or set DISPLAY)")
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        [xvfb, "-displayfd", str(write_end), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        number = b""
        deadline = time.monotonic() + 30
        while not number.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([read_end], [], [], 1)
            chunk = os.read(read_end, 16) if ready else b""
            if ready and not chunk:
                break
            number += chunk
        if not number.strip():
            raise WebKitError(f"Xvfb did not start (exit code {proc.poll()})")
        yield f":{number.decode().strip()}"
    finally:
        os.close(read_end)
        proc.terminate()
        proc.wait()


class WebKitPage:
    """The MiniBrowser window as a :class:`pipeline.js.engines.Page` (WebKitGTK automation has one)."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def goto(self, url: str) -> None:
        self.driver.get(url)

    def evaluate(self, function: str, arg: Any = None, timeout: float = 3600) -> Any:
        """Start the call in the page, then poll for its result: WebDriver's own script and HTTP time
        limits (minutes at most) would cut a long cpu-backend run short."""
        self.driver.execute_script(
            "const call = window.__yamnetCall = {done: false};"
            f"Promise.resolve().then(() => ({function})(JSON.parse(arguments[0])))"
            ".then((v) => { call.value = JSON.stringify(v ?? null); call.done = true; },"
            " (e) => { call.error = String(e?.message ?? e); call.done = true; });",
            json.dumps(arg),
        )
        self._poll("window.__yamnetCall.done", timeout, "the call to finish")
        call = self.driver.execute_script("const c = window.__yamnetCall; delete window.__yamnetCall; return c;")
        if "error" in call:
            raise WebKitError(f"webkit: {call['error']}")
        return json.loads(call["value"])

    def wait_for(self, expression: str, timeout: float = 60) -> None:
        self._poll(expression, timeout, f"`{expression}`")

    def _poll(self, expression: str, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not self.driver.execute_script(f"return Boolean({expression});"):
            if time.monotonic() > deadline:
                raise WebKitError(f"webkit: waited {timeout:g} s for {what}")
            time.sleep(POLL_SECONDS)

    def click(self, selector: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.CSS_SELECTOR, selector).click()

    def upload(self, selector: str, path: Path) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.CSS_SELECTOR, selector).send_keys(str(Path(path).resolve()))

    def close(self) -> None:
        self.driver.get("about:blank")


class WebKitSession:
    """MiniBrowser under WebKitWebDriver as a :class:`pipeline.js.engines.Session`."""

    engine = "webkit"

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.version = str(driver.capabilities.get("browserVersion", ""))

    def new_page(self, microphone: bool = False) -> WebKitPage:
        """The one window, blank. The microphone is a browser-wide setting (see :func:`webkit_session`)."""
        self.driver.get("about:blank")
        return WebKitPage(self.driver)


@contextmanager
def webkit_session(fake_microphone: bool | Path = False) -> Iterator[WebKitSession]:
    """Start MiniBrowser through WebKitWebDriver on a private display; True enables its mock microphone.

    A WAV file cannot be the microphone in WebKitGTK (its mock device is generated), so a path is refused.
    """
    if isinstance(fake_microphone, Path):
        raise WebKitError("webkit: the mock microphone is generated and cannot play a file")
    driver_path, minibrowser = webkit_binaries()
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.webkitgtk.options import Options
        from selenium.webdriver.webkitgtk.service import Service
    except ImportError:
        raise BrowserMissing("Python selenium is missing; `pip install selenium` (it downloads no browser)") from None
    options = Options()
    options.binary_location = minibrowser
    options.add_argument("--automation")
    for arg in MOCK_MICROPHONE_ARGS if fake_microphone else ():
        options.add_argument(arg)
    with virtual_display() as display:
        env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
        service = Service(driver_path, env={**env, "DISPLAY": display})
        try:
            driver = webdriver.WebKitGTK(options=options, service=service)
        except WebDriverException as err:
            first = (err.msg or str(err)).strip().splitlines()[0] if (err.msg or str(err)).strip() else "unknown"
            raise WebKitError(f"{minibrowser} failed to start: {first}") from None
        try:
            yield WebKitSession(driver)
        finally:
            driver.quit()
