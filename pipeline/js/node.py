"""Run a converted TF.js model in Node (pure ``@tensorflow/tfjs``, cpu or wasm) from Python.

A thin wrapper around the Node runner ``node/run_model.mjs``, which runs the model through the same
``src/model.js`` the web page uses: tests, parity and benchmarks all call this, so what they
check is the code users run. Waveforms travel as raw float32 files, outputs come back as numpy arrays.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PipelineError
from .assets import node_modules, web_root

RUNNER = Path("node") / "run_model.mjs"
"""The Node runner's source, relative to the page sources (:func:`pipeline.js.assets.web_root`)."""

BUNDLED_RUNNER = Path("vendor") / "run_model.node.mjs"
"""The same runner bundled with TF.js by ``web_demo/build.mjs``: what an installed wheel runs."""


class NodeError(PipelineError):
    """Node is missing, its packages are not installed, or the runner failed."""


@dataclass
class NodeRun:
    """Outputs and timings of one runner call."""

    backend: str  # the backend TF.js actually used
    load_ms: float
    outputs: list[dict[str, np.ndarray]]  # one dict per waveform, output name -> array
    ms: list[list[float]]  # per waveform, ms per timed call (after a warm-up call)
    raw: dict[str, Any]

    @property
    def decisions(self) -> list[dict[str, Any] | None]:
        """Per waveform, model.js's open-set decision ``{label, score, best}`` (None in ``hub`` mode)."""
        return [entry.get("decision") for entry in self.raw["results"]]


def node_binary() -> str:
    """Path of ``node``; a one-line error naming the fix if it is missing."""
    node = shutil.which("node")
    if not node:
        raise NodeError("node not found on PATH: install Node.js 18 or newer (Node parity and the Node runner need it)")
    return node


def runner_script() -> Path:
    """The Node runner to start: the sources with their node_modules (a checkout, so edits take effect
    at once), else the bundled runner that carries TF.js (an installed wheel)."""
    root = web_root()
    if (node_modules() / "@tensorflow" / "tfjs").is_dir():
        return root / RUNNER
    if (root / BUNDLED_RUNNER).is_file():
        return root / BUNDLED_RUNNER
    raise NodeError(f"TF.js for the Node runner is not installed: run `npm ci` in {root} (or reinstall yamnet-tfjs)")


def run_in_node(
    model_dir: Path,
    waveforms: Sequence[np.ndarray],
    backend: str = "cpu",
    repeats: int = 1,
    mode: str = "classifier",
    timeout: float = 900,
) -> NodeRun:
    """Run every waveform through the TF.js model in ``model_dir`` (a folder with model.json)."""
    node, script = node_binary(), runner_script()
    with tempfile.TemporaryDirectory(prefix="yamnet-tfjs-runner-") as tmp:
        work = Path(tmp)
        inputs = []
        for i, wave in enumerate(waveforms):
            path = work / f"in{i}.f32"
            np.asarray(wave, dtype="<f4").tofile(path)
            inputs.append(str(path))
        args = [node, str(script), "--model", str(model_dir), "--out", str(work / "out")]
        args += ["--backend", backend, "--repeats", str(repeats), "--mode", mode, *inputs]
        try:
            proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise NodeError(f"the Node runner took longer than {timeout:.0f} s on {model_dir}") from None
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
            raise NodeError(f"Node runner failed on {model_dir} ({backend}): {lines[-1] if lines else proc.returncode}")
        raw = json.loads((work / "out" / "result.json").read_text(encoding="utf-8"))
        outputs = [
            {
                name: np.fromfile(spec["file"], dtype="<f4").reshape(spec["shape"])
                for name, spec in entry["outputs"].items()
            }
            for entry in raw["results"]
        ]
    return NodeRun(raw["backend"], raw["load_ms"], outputs, [e["ms"] for e in raw["results"]], raw)
