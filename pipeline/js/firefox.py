"""Headless Firefox (Debian's ``firefox-esr``) for parity and the page tests.

Firefox is driven over WebDriver BiDi by npm ``puppeteer-core`` (which never downloads a browser)
in a small Node process, ``node/firefox_bridge.mjs`` beside the page sources: no geckodriver exists
offline and Playwright cannot drive the distro Firefox. This module starts that bridge and speaks its
one-JSON-object-per-line protocol; :func:`firefox_session` yields a :class:`pipeline.js.engines.Session`.

What Firefox offers here: wasm (SIMD, no threads without cross-origin isolation) and cpu; headless
Firefox has no WebGL. Its fake microphone is a 1 kHz sine, never a file, and needs a mock audio
backend (:data:`FAKE_MICROPHONE_PREFS`).
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .assets import web_root
from .browser import BrowserError, BrowserMissing
from .node import NodeError, node_binary

FIREFOX_NAMES = ("firefox-esr", "firefox")

BRIDGE = Path("node") / "firefox_bridge.mjs"
"""The Node bridge, relative to the page sources (:func:`pipeline.js.assets.web_root`)."""

PREFS = {
    # Let pages start AudioContexts and media without a click (tests click anyway; parity never does).
    "media.autoplay.default": 0,
    "media.autoplay.blocking_policy": 0,
}

FAKE_MICROPHONE_PREFS = {
    "media.navigator.streams.fake": True,  # getUserMedia gets a generated 1 kHz sine
    "media.navigator.permission.disabled": True,  # no prompt
    # Without an audio device AudioContext.resume() never settles; a mock cubeb backend fixes that.
    "media.cubeb.force_mock_context": True,
}

START_TIMEOUT = 120.0
"""Seconds Firefox may take to start (4-10 s on a busy 2-core machine)."""


class FirefoxError(BrowserError):
    """Firefox failed to start, or a command in it failed or timed out (missing: :class:`BrowserMissing`)."""


def firefox_executable() -> str:
    """Path of the system Firefox; raises with the install command when there is none."""
    for name in FIREFOX_NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise BrowserMissing("no Firefox on PATH; install it with `apt-get install firefox-esr`")


class FirefoxBridge:
    """The Node bridge process: send a command, wait for its reply (one at a time)."""

    def __init__(self, executable: str, prefs: dict[str, Any]) -> None:
        script = web_root() / BRIDGE
        if not script.is_file():
            raise BrowserMissing(f"{script} is missing from this installation; reinstall yamnet-tfjs")
        config = json.dumps({"executablePath": executable, "prefs": prefs})
        try:
            node = node_binary()
        except NodeError as err:
            raise BrowserMissing(f"firefox is driven from Node: {err}") from None
        self.proc = subprocess.Popen(
            [node, str(script), config],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.stderr: deque[str] = deque(maxlen=20)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self.next_id = 0
        hello = self._reply(START_TIMEOUT, "start")
        if "error" in hello:
            self.close()
            raise (BrowserMissing if hello.get("missing") else FirefoxError)(f"firefox: {hello['error']}")
        self.version = str(hello.get("version", "")).removeprefix("firefox/")  # BiDi says "firefox/153.8.0"

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                self.replies.put(json.loads(line))
        self.replies.put(None)  # the bridge exited

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if line.strip():
                self.stderr.append(line.rstrip())

    def _reply(self, timeout: float, what: str) -> dict[str, Any]:
        try:
            reply = self.replies.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise FirefoxError(f"firefox: no answer to {what} within {timeout:g} s") from None
        if reply is None:
            last = self.stderr[-1] if self.stderr else f"exit code {self.proc.wait()}"
            raise FirefoxError(f"firefox: the bridge exited during {what}: {last}")
        return reply

    def call(self, cmd: str, timeout: float = 120, **args: Any) -> Any:
        """Run one bridge command (``timeout`` goes along: waitFor uses it); its result, or FirefoxError."""
        self.next_id += 1
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps({"id": self.next_id, "cmd": cmd, "timeout": timeout, **args}) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise FirefoxError(f"firefox: the bridge is gone ({cmd})") from None
        # The bridge enforces waitFor's own limit; leave it room to report that before giving up here.
        reply = self._reply(timeout + 30, cmd)
        if reply.get("id") != self.next_id:
            raise FirefoxError(f"firefox: reply out of order for {cmd}")
        if "error" in reply:
            raise FirefoxError(f"firefox: {cmd} failed: {reply['error']}")
        return reply.get("result")

    def close(self) -> None:
        """Quit Firefox and the bridge (closing stdin makes the bridge close Firefox too)."""
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"id": 0, "cmd": "quit"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


class FirefoxPage:
    """One Firefox tab as a :class:`pipeline.js.engines.Page`."""

    def __init__(self, bridge: FirefoxBridge) -> None:
        self.bridge = bridge
        self.id = bridge.call("newPage")

    def goto(self, url: str) -> None:
        self.bridge.call("goto", page=self.id, url=url)

    def evaluate(self, function: str, arg: Any = None, timeout: float = 3600) -> Any:
        return self.bridge.call("evaluate", timeout=timeout, page=self.id, function=function, arg=arg)

    def wait_for(self, expression: str, timeout: float = 60) -> None:
        self.bridge.call("waitFor", timeout=timeout, page=self.id, expression=expression)

    def click(self, selector: str) -> None:
        self.bridge.call("click", page=self.id, selector=selector)

    def upload(self, selector: str, path: Path) -> None:
        self.bridge.call("upload", page=self.id, selector=selector, path=str(Path(path).resolve()))

    def close(self) -> None:
        self.bridge.call("closePage", page=self.id)


class FirefoxSession:
    """Headless Firefox as a :class:`pipeline.js.engines.Session`."""

    engine = "firefox"

    def __init__(self, bridge: FirefoxBridge) -> None:
        self.bridge = bridge
        self.version = bridge.version

    def new_page(self, microphone: bool = False) -> FirefoxPage:
        """A new tab. The microphone is a browser-wide setting in Firefox (see :func:`firefox_session`)."""
        return FirefoxPage(self.bridge)


@contextmanager
def firefox_session(fake_microphone: bool | Path = False) -> Iterator[FirefoxSession]:
    """Start headless Firefox; True gives every page a fake microphone playing a 1 kHz sine.

    A WAV file cannot be the microphone in Firefox (its fake stream is generated), so a path is refused.
    """
    if isinstance(fake_microphone, Path):
        raise FirefoxError("firefox: the fake microphone plays a 1 kHz sine and cannot play a file")
    prefs = {**PREFS, **(FAKE_MICROPHONE_PREFS if fake_microphone else {})}
    bridge = FirefoxBridge(firefox_executable(), prefs)
    try:
        yield FirefoxSession(bridge)
    finally:
        bridge.close()
