"""Built sites served on 127.0.0.1 and open in one headless Chromium: what the page benches share."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TIMED_CALLS_JS = """
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const wave = new Float32Array(bytes.buffer);
  const clf = yamnetDemo.classifier, tf = yamnetDemo.tf;
  await clf.run(wave);  // warm-up: shapes, kernels, wasm memory
  const ms = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    await clf.run(wave);
    ms.push(performance.now() - t0);
  }
"""
"""The start of a page function ``async ({b64, rounds}) => {...}``: ``rounds`` timed calls of the page's own
classifier on the base64 float32 waveform after a warm-up; leaves ``wave``, ``clf``, ``tf`` and ``ms`` defined."""


@contextmanager
def wasm_pages(sites: dict[str, tuple[Path, bool]]) -> Iterator[dict[str, Any]]:
    """``{name: page}``: each site (``{name: (built site, cross-origin isolated?)}``) served on its own port and
    open in one headless Chromium on the wasm backend, inference on the main thread (``?worker=0``), ready.

    The servers are shut down on exit."""
    from pipeline.js.browser import launch_chromium
    from pipeline.js.site import make_server

    servers = {name: make_server(site, port=0, isolate=isolate, quiet=True) for name, (site, isolate) in sites.items()}
    for server in servers.values():
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with launch_chromium() as browser:
            pages = {}
            for name, server in servers.items():
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{server.server_address[1]}/?backend=wasm&worker=0")
                page.wait_for_selector("body[data-ready=true]", timeout=120_000)
                pages[name] = page
            yield pages
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()
