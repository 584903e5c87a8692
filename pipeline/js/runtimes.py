"""The JavaScript runtimes parity (and the benches) run a model in: an engine and a TF.js backend.

**A new parity runtime is one entry here** (plus, for a new engine, its driver in :mod:`.node` or
:mod:`.browser` and the dispatch in :func:`pipeline.parity.run_engine`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import PipelineError


@dataclass(frozen=True)
class Runtime:
    """``engine`` runs ``model.js`` (Node, or a browser engine driving the parity harness page)."""

    name: str
    engine: str
    backend: str


RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime("node-cpu", "node", "cpu"),
        Runtime("node-wasm", "node", "wasm"),
        Runtime("chromium-cpu", "chromium", "cpu"),
        Runtime("chromium-wasm", "chromium", "wasm"),
        Runtime("chromium-webgl", "chromium", "webgl"),
    )
}
"""Every runtime, in the order tables list them."""


def runtimes(names: list[str] | tuple[str, ...] | None = None) -> list[Runtime]:
    """The runtimes named (all when None), refusing unknown names with the choices."""
    if names is None:
        return list(RUNTIMES.values())
    unknown = [n for n in names if n not in RUNTIMES]
    if unknown:
        raise PipelineError(f"unknown runtime(s) {', '.join(unknown)}; choose from {', '.join(RUNTIMES)}")
    return [RUNTIMES[n] for n in dict.fromkeys(names)]
