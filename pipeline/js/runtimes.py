"""The JavaScript runtimes parity (and the benches) run a model in: an engine and a TF.js backend.

**A new parity runtime is one entry here** (plus, for a new engine, its driver in :mod:`.engines` and,
for Node, :mod:`.node`; :func:`pipeline.parity.run_engine` dispatches on ``engine``).

Every runtime is either in the default set, which ``parity`` and ``run`` check unless told otherwise
and which must stay quick (Node and Chromium: the engines CI and most users have), or runs only when
asked for: by name, by engine (``firefox`` = all Firefox runtimes) or with ``all``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import PipelineError

ENGINES = ("node", "chromium", "firefox", "webkit")
"""Where ``model.js`` runs: Node, or a browser engine driving the parity harness page."""

BROWSER_ENGINES = ENGINES[1:]

ALL = "all"
"""Selects every runtime."""

DEFAULT = "default"
"""Selects the default runtimes (what no selection means)."""


@dataclass(frozen=True)
class Runtime:
    """``engine`` (one of :data:`ENGINES`) runs ``model.js`` on the TF.js ``backend``.

    ``default`` runtimes are checked by every parity run that names none; the others only on request,
    so the parity stage stays fast for engines most runs do not need.
    """

    name: str
    engine: str
    backend: str
    default: bool = True


RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime("node-cpu", "node", "cpu"),
        Runtime("node-wasm", "node", "wasm"),
        # Opt-in: TF.js's cpu backend is plain JavaScript, and Chromium runs it on the same engine as Node (V8):
        # its differences from Python were identical to node-cpu's in every output, case and variant measured,
        # so the default set checks those kernels once, in Node, and saves the slowest browser runtime.
        Runtime("chromium-cpu", "chromium", "cpu", default=False),
        Runtime("chromium-wasm", "chromium", "wasm"),
        Runtime("chromium-webgl", "chromium", "webgl"),
        # Headless Firefox has no WebGL; WebKitGTK's WebGL (llvmpipe) is ~30x slower than its wasm.
        Runtime("firefox-cpu", "firefox", "cpu", default=False),
        Runtime("firefox-wasm", "firefox", "wasm", default=False),
        Runtime("webkit-cpu", "webkit", "cpu", default=False),
        Runtime("webkit-wasm", "webkit", "wasm", default=False),
    )
}
"""Every runtime, in the order tables list them."""

DEFAULT_RUNTIMES = tuple(name for name, r in RUNTIMES.items() if r.default)


def runtimes(names: Sequence[str] | None = None) -> list[Runtime]:
    """The runtimes selected by ``names`` (the default ones when None or empty), in table order.

    Each name is a runtime (``firefox-wasm``), an engine (``firefox``: its runtimes), ``default`` or
    ``all``, and may be a comma-separated list (``-r firefox-wasm,webkit-wasm``); unknown names are
    refused with the choices.
    """
    split = [part.strip() for name in names or () for part in name.split(",") if part.strip()]
    chosen: set[str] = set()
    for name in split or (DEFAULT,):
        if name == ALL:
            chosen.update(RUNTIMES)
        elif name == DEFAULT:
            chosen.update(DEFAULT_RUNTIMES)
        elif name in ENGINES:
            chosen.update(n for n, r in RUNTIMES.items() if r.engine == name)
        elif name in RUNTIMES:
            chosen.add(name)
        else:
            raise PipelineError(f"unknown runtime '{name}'; choose from {selection_help()}")
    return [r for n, r in RUNTIMES.items() if n in chosen]


def selection_help() -> str:
    """What a runtime selection may name, for ``--help`` and error messages."""
    extra = ", ".join(n for n, r in RUNTIMES.items() if not r.default)
    return (
        f"{', '.join(DEFAULT_RUNTIMES)} (the default set); {extra} (only when asked for); "
        f"an engine ({', '.join(ENGINES)}) for all its runtimes; '{DEFAULT}'; or '{ALL}'"
    )
