"""Parity: the same waveforms through the Python SavedModel and the TF.js model in Node and Chromium.

Both sides get the identical float32 16 kHz waveform (written once to raw ``.f32`` files). JavaScript
runs the model through ``web_demo/src/model.js`` — the module the demo page uses — via the Node
runner (``pipeline.node``) and a small harness page in headless Chromium (``web_demo/parity/``), so
what is checked is the code users run. The result goes to ``exported/NAME/parity.json``.

Cases are real clips from the training data set plus edge cases. Each case has a kind, and each kind
and quantization its own bounds (:data:`BOUNDS`): real audio is held to float32 noise; synthetic
signals (digital silence, full-scale noise, a clipped square wave) put energy into few FFT bins or
none, where ``log(mel + 0.001)`` magnifies float32 rounding, so they get looser, documented bounds;
quantized models are compared with the float32 Python model, so their bounds are the quantization
error, not the runtime's.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import write_json_atomic
from .audio import load_audio
from .constants import SAMPLE_RATE
from .datasets import Dataset, load_dataset
from .errors import PipelineError
from .layout import PARITY_JSON as PARITY_FILE
from .metadata import ArtifactError, verified_tfjs_metadata

REPO = Path(__file__).resolve().parents[1]
HARNESS_DIR = REPO / "web_demo" / "parity"
PARITY_PARTIAL_FILE = "parity-partial.json"
"""Where a run narrower than the recorded one goes (fewer runtimes, variants or cases), so a quick check
never overwrites the full record in parity.json."""

OUTPUTS = ("scores", "clip_scores", "yamnet_scores", "embeddings", "log_mel")
NODE_RUNTIMES = ("node-cpu", "node-wasm")
BROWSER_RUNTIMES = ("chromium-cpu", "chromium-wasm", "chromium-webgl")
RUNTIMES = NODE_RUNTIMES + BROWSER_RUNTIMES
VARIANTS = {"float32": "tfjs", "float16": "tfjs-float16", "uint8": "tfjs-uint8"}

# Max abs difference allowed against the float32 Python SavedModel, per quantization and case kind.
# float32 / clip: the bounds. Everything else was measured on the ESC-50 model (docs/parity.md:
# e.g. float16 per-patch head probabilities 1.0e-2, embeddings 3.3e-2) and given ~2.5-3x headroom.
# log_mel keeps its float32 bound in every variant: quantization must never touch the front end (DFT
# basis, mel matrix), and this is where it would show.
BOUNDS: dict[str, dict[str, dict[str, float]]] = {
    "float32": {
        "clip": {"scores": 1e-5, "clip_scores": 1e-5, "yamnet_scores": 1e-4, "embeddings": 1e-4, "log_mel": 1e-3},
        "synthetic": {"scores": 1e-5, "clip_scores": 1e-5, "yamnet_scores": 1e-4, "embeddings": 2e-4, "log_mel": 1e-3},
    },
    "float16": {
        "clip": {"scores": 3e-2, "clip_scores": 5e-3, "yamnet_scores": 3e-2, "embeddings": 1e-1, "log_mel": 1e-3},
        "synthetic": {"scores": 3e-2, "clip_scores": 5e-3, "yamnet_scores": 3e-2, "embeddings": 1e-1, "log_mel": 1e-3},
    },
    "uint8": {
        "clip": {"scores": 0.5, "clip_scores": 0.15, "yamnet_scores": 0.6, "embeddings": 2.0, "log_mel": 1e-3},
        "synthetic": {"scores": 0.5, "clip_scores": 0.15, "yamnet_scores": 0.6, "embeddings": 2.0, "log_mel": 1e-3},
    },
}
TOP1_REQUIRED = {"float32": 1.0, "float16": 0.9, "uint8": 0.8}
"""Share of real clips whose top-1 (custom classes and YAMNet's) must agree with Python."""


class ParityError(PipelineError):
    """Parity could not be run (no export, no data set for real clips, ...)."""


@dataclass(frozen=True)
class Case:
    """One waveform both sides run: ``kind`` picks its bounds (``clip`` or ``synthetic``)."""

    name: str
    kind: str
    waveform: np.ndarray
    source: str

    @property
    def seconds(self) -> float:
        return len(self.waveform) / SAMPLE_RATE


@dataclass
class RuntimeRun:
    """What one JS runtime returned: the backend it really used, outputs per case, ms per case."""

    runtime: str
    backend: str
    outputs: list[dict[str, np.ndarray]]
    ms: list[float]
    info: dict[str, Any]


# ---------------------------------------------------------------------------------------------
# Cases


def pick_clips(dataset: Dataset, n: int) -> list[Any]:
    """``n`` clips spread evenly over the data set's classes (deterministic: sorted, evenly spaced)."""
    clips = sorted(dataset.clips, key=lambda c: (c.label, c.clip_id))
    if n <= 0 or not clips:
        return []
    index = np.unique(np.linspace(0, len(clips) - 1, min(n, len(clips))).round().astype(int))
    return [clips[i] for i in index]


def edge_cases(real: np.ndarray, long_parts: Sequence[np.ndarray], seed: int = 0) -> list[Case]:
    """Edge cases: digital silence, a 0.5 s and a 30 s cut of real audio, full-scale noise, a clipped square.

    Args:
        real: a real clip; its loudest 0.5 s becomes the short case.
        long_parts: real clips concatenated (and cut) into the 30 s case.
    """
    sr = SAMPLE_RATE
    half = sr // 2
    energy = np.convolve(np.square(real, dtype=np.float64), np.ones(half), mode="valid")
    start = int(np.argmax(energy)) if len(energy) else 0
    short = np.pad(real[start : start + half], (0, max(0, half - len(real[start:]))))
    long_wave = np.concatenate(long_parts)[: 30 * sr]
    long_wave = np.pad(long_wave, (0, 30 * sr - len(long_wave)))
    t = np.arange(3 * sr) / sr
    noise = np.random.default_rng(seed).uniform(-1.0, 1.0, 3 * sr)
    square = np.clip(3.0 * np.sin(2 * np.pi * 220.0 * t), -1.0, 1.0)
    f32 = np.float32
    return [
        Case("silence-3s", "synthetic", np.zeros(3 * sr, f32), "digital silence"),
        Case("short-0.5s", "clip", short.astype(f32), "loudest 0.5 s of a real clip"),
        Case("long-30s", "clip", long_wave.astype(f32), f"{len(long_parts)} real clips back to back"),
        Case("white-noise-3s", "synthetic", noise.astype(f32), "full-scale uniform noise"),
        Case("clipped-square-3s", "synthetic", square.astype(f32), "220 Hz sine x3, clipped to [-1, 1]"),
    ]


def parity_cases(dataset: Dataset, n_clips: int, with_edge_cases: bool = True) -> list[Case]:
    """``n_clips`` real clips from ``dataset`` plus, optionally, the edge cases."""
    chosen = pick_clips(dataset, n_clips + (6 if with_edge_cases else 0))
    real = chosen[:n_clips]
    cases = [Case(c.clip_id, "clip", load_audio(c.path), f"{c.label}: {c.path}") for c in real]
    if with_edge_cases:
        extra = chosen[n_clips:] or real
        parts = [load_audio(c.path) for c in extra]
        cases += edge_cases(cases[0].waveform if cases else parts[0], parts)
    return cases


# ---------------------------------------------------------------------------------------------
# Runtimes


def run_python(export_dir: Path, cases: Sequence[Case]) -> RuntimeRun:
    """The reference: the exported SavedModel in TensorFlow (one warm-up call, then timed)."""
    from .predict import load_exported

    model = load_exported(export_dir)
    outputs, ms = [], []
    for case in cases:
        model(case.waveform)
        start = time.perf_counter()
        outputs.append(model(case.waveform))
        ms.append((time.perf_counter() - start) * 1000)
    return RuntimeRun("python", "tensorflow", outputs, ms, {})


def run_node(runtime: str, model_dir: Path, cases: Sequence[Case]) -> RuntimeRun:
    """Node with pure ``@tensorflow/tfjs`` (cpu) or the wasm backend, through model.js."""
    from .node import run_in_node

    backend = runtime.removeprefix("node-")
    run = run_in_node(model_dir, [c.waveform for c in cases], backend=backend)
    info = {k: run.raw.get(k) for k in ("tfjs_version", "load_ms")}
    return RuntimeRun(runtime, run.backend, run.outputs, [float(np.median(m)) for m in run.ms], info)


def run_browser(
    runtimes: Sequence[str], export_dir: Path, variant_dir: str, cases: Sequence[Case]
) -> dict[str, RuntimeRun | Exception]:
    """Headless Chromium: build the site for ``variant_dir``, add the harness, run each backend in its own page."""
    from .browser import launch_chromium
    from .site import build_site, make_server

    results: dict[str, RuntimeRun | Exception] = {}
    with tempfile.TemporaryDirectory(prefix="yamnet-tfjs-parity-") as tmp:
        site = build_site(export_dir, Path(tmp) / "site", variant=variant_dir)
        harness = site / "parity"
        shutil.copytree(HARNESS_DIR, harness)
        inputs = []
        for i, case in enumerate(cases):
            np.asarray(case.waveform, dtype="<f4").tofile(harness / f"in{i}.f32")
            inputs.append(f"in{i}.f32")
        server = make_server(site, port=0, quiet=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{server.server_address[1]}/parity/harness.html"
        try:
            with launch_chromium() as browser:
                for runtime in runtimes:
                    try:
                        results[runtime] = _run_page(browser, url, runtime, inputs)
                    except Exception as err:  # one backend failing must not hide the others
                        results[runtime] = err
        finally:
            server.shutdown()
            server.server_close()
    return results


def _run_page(browser: Any, url: str, runtime: str, inputs: list[str]) -> RuntimeRun:
    context = browser.new_context()
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(url)
        page.wait_for_function("typeof window.runParity === 'function'", timeout=60_000)
        args = {"backend": runtime.removeprefix("chromium-"), "model": "../model/model.json", "inputs": inputs}
        raw = page.evaluate("args => window.runParity(args)", args)
        if errors:
            raise ParityError(f"{runtime}: page error: {errors[0]}")
    finally:
        context.close()
    outputs = [
        {
            name: np.frombuffer(base64.b64decode(spec["b64"]), dtype="<f4").reshape(spec["shape"])
            for name, spec in entry["outputs"].items()
        }
        for entry in raw["results"]
    ]
    info = {k: raw.get(k) for k in ("tfjs_version", "webgl_renderer", "flags", "load_ms", "user_agent")}
    return RuntimeRun(runtime, raw["backend"], outputs, [float(np.median(e["ms"])) for e in raw["results"]], info)


# ---------------------------------------------------------------------------------------------
# Comparison


def compare(reference: RuntimeRun, run: RuntimeRun, cases: Sequence[Case], quantization: str) -> dict[str, Any]:
    """Max/mean abs diff per output and case kind, top-1 agreement and speed of one runtime vs Python."""
    bounds = BOUNDS[quantization]
    failures: list[str] = []
    outputs: dict[str, dict[str, Any]] = {}
    for name in OUTPUTS:
        per_kind: dict[str, Any] = {}
        for kind in ("clip", "synthetic"):
            diffs = []
            for case, ref, got in zip(cases, reference.outputs, run.outputs, strict=True):
                if case.kind != kind:
                    continue
                if ref[name].shape != got[name].shape:
                    failures.append(f"{case.name}: {name} shape {list(got[name].shape)} != {list(ref[name].shape)}")
                    continue
                diffs.append(np.abs(ref[name].astype(np.float64) - got[name].astype(np.float64)))
            if not diffs:
                continue
            worst = max(float(d.max()) for d in diffs)
            mean = float(np.mean([d.mean() for d in diffs]))
            bound = bounds[kind][name]
            per_kind[kind] = {"max": worst, "mean": mean, "bound": bound, "ok": worst <= bound}
            if worst > bound:
                failures.append(f"{name} ({kind}): max abs diff {worst:.3g} > bound {bound:.0e}")
        outputs[name] = per_kind
    top1 = _top1(reference, run, cases)
    required = TOP1_REQUIRED[quantization]
    for what, agreement in top1.items():
        if agreement["total"] and agreement["rate"] < required:
            failures.append(f"top-1 {what}: {agreement['agree']}/{agreement['total']} agree (< {required:.0%})")
    seconds = sum(c.seconds for c in cases)
    return {
        "backend": run.backend,
        "outputs": outputs,
        "top1": top1,
        "ms_per_audio_second": round(sum(run.ms) / seconds, 3),
        "ms_per_case": {c.name: round(ms, 2) for c, ms in zip(cases, run.ms, strict=True)},
        "info": run.info,
        "failures": failures,
        "ok": not failures,
    }


def _top1(reference: RuntimeRun, run: RuntimeRun, cases: Sequence[Case]) -> dict[str, dict[str, Any]]:
    """Top-1 agreement on real clips: the head's ``clip_scores`` and YAMNet's mean-over-patches label."""
    result = {}
    for what, pick in (
        ("clip_scores", lambda out: int(np.argmax(out["clip_scores"]))),
        ("yamnet", lambda out: int(np.argmax(out["yamnet_scores"].mean(axis=0)))),
    ):
        pairs = [(pick(r), pick(g)) for c, r, g in zip(cases, reference.outputs, run.outputs, strict=True)]
        pairs = [p for c, p in zip(cases, pairs, strict=True) if c.kind == "clip"]
        agree = sum(a == b for a, b in pairs)
        result[what] = {"agree": agree, "total": len(pairs), "rate": agree / len(pairs) if pairs else 1.0}
    return result


# ---------------------------------------------------------------------------------------------
# Entry point


def resolve_dataset(export_dir: Path, data: str | os.PathLike[str] | None) -> Dataset:
    """The data set the real clips come from: ``data``, else the one ``report.json`` says it was trained on."""
    if data is None:
        report = export_dir / "report.json"
        try:
            data = json.loads(report.read_text(encoding="utf-8"))["dataset"]["root"]
        except (OSError, ValueError, KeyError, TypeError):
            raise ParityError(
                f"{export_dir}: report.json does not say which data set it was trained on; pass --data"
            ) from None
        if not Path(data).is_dir():  # e.g. a relative path written by yamnet-tfjs 0.1.0 from another folder
            raise ParityError(
                f"{export_dir}: the data set it was trained on ({data}) is not found from here; pass --data"
            )
    return load_dataset(data, check_readable=False)


def run_parity(
    export_dir: str | os.PathLike[str],
    n_clips: int = 5,
    runtimes: Sequence[str] = RUNTIMES,
    quantizations: Sequence[str] = ("float32",),
    data: str | os.PathLike[str] | None = None,
    edge: bool = True,
    write: bool = True,
    on_step: Callable[[str], None] | None = None,
    keep_complete: bool = False,
) -> dict[str, Any]:
    """Run parity and (if ``write``) save ``export_dir/parity.json``; returns the report.

    ``report["ok"]`` is False when any bound breaks or a runtime fails to run. With ``keep_complete``
    (the ``parity`` command), a run that covers less than the recorded one (fewer runtimes, variants or
    cases) goes to ``parity-partial.json`` instead; ``report["written_to"]`` says where it went.
    """
    export_dir = Path(export_dir)
    say = on_step or (lambda _msg: None)
    unknown = sorted(set(runtimes) - set(RUNTIMES))
    if unknown:
        raise ParityError(f"unknown runtime(s) {', '.join(unknown)}; choose from {', '.join(RUNTIMES)}")
    bad_q = sorted(set(quantizations) - set(VARIANTS))
    if bad_q:
        raise ParityError(f"unknown quantization(s) {', '.join(bad_q)}; choose from {', '.join(VARIANTS)}")
    for q in quantizations:
        if not (export_dir / VARIANTS[q] / "model.json").is_file():
            how = f"yamnet-tfjs export {export_dir}" + ("" if q == "float32" else f" --quantize {q}")
            raise ParityError(f"{export_dir / VARIANTS[q]} has no model.json; run `{how}`")
        try:
            verified_tfjs_metadata(export_dir / VARIANTS[q])
        except ArtifactError as err:
            raise ParityError(str(err)) from None

    cases = parity_cases(resolve_dataset(export_dir, data), n_clips, with_edge_cases=edge)
    say(f"{len(cases)} waveforms ({sum(c.seconds for c in cases):.1f} s of audio); Python reference")
    reference = run_python(export_dir, cases)
    report: dict[str, Any] = {
        "export": str(export_dir),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cases": [{"name": c.name, "kind": c.kind, "seconds": c.seconds, "source": c.source} for c in cases],
        "python": {
            "ms_per_audio_second": round(sum(reference.ms) / sum(c.seconds for c in cases), 3),
            "ms_per_case": {c.name: round(ms, 2) for c, ms in zip(cases, reference.ms, strict=True)},
        },
        "bounds": {q: BOUNDS[q] for q in quantizations},
        "top1_required": {q: TOP1_REQUIRED[q] for q in quantizations},
        "variants": {},
    }
    for q in quantizations:
        model_dir = export_dir / VARIANTS[q]
        runs: dict[str, RuntimeRun | Exception] = {}
        for runtime in [r for r in runtimes if r in NODE_RUNTIMES]:
            say(f"{q}: {runtime}")
            try:
                runs[runtime] = run_node(runtime, model_dir, cases)
            except PipelineError as err:
                runs[runtime] = err
        browser = [r for r in runtimes if r in BROWSER_RUNTIMES]
        if browser:
            say(f"{q}: {', '.join(browser)}")
            try:
                runs.update(run_browser(browser, export_dir, VARIANTS[q], cases))
            except PipelineError as err:
                runs.update({r: err for r in browser})
        report["variants"][q] = {
            runtime: (
                compare(reference, run, cases, q)
                if isinstance(run, RuntimeRun)
                else {"ok": False, "failures": [f"did not run: {run}"], "error": str(run)}
            )
            for runtime, run in runs.items()
        }
    report["ok"] = all(r["ok"] for v in report["variants"].values() for r in v.values())
    if write:
        target = export_dir / PARITY_FILE
        if keep_complete and _narrower(report, target):
            target = export_dir / PARITY_PARTIAL_FILE
        write_json_atomic(target, report)
        report["written_to"] = str(target)
    return report


def _coverage(report: dict[str, Any]) -> tuple[set[tuple[str, str]], set[str]]:
    pairs = {(q, rt) for q, runtimes in (report.get("variants") or {}).items() for rt in runtimes}
    return pairs, {c.get("name") for c in report.get("cases") or []}


def _narrower(report: dict[str, Any], recorded: Path) -> bool:
    """True when ``recorded`` (an earlier parity.json) covers runtimes, variants or cases ``report`` lacks."""
    try:
        old = json.loads(recorded.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    (new_pairs, new_cases), (old_pairs, old_cases) = _coverage(report), _coverage(old)
    return not (new_pairs >= old_pairs and new_cases >= old_cases)


def summary_rows(report: dict[str, Any]) -> list[list[str]]:
    """Rows of the human-readable table: runtime, backend, worst diff per output (real clips), top-1, speed."""
    rows = []
    for q, runtimes in report["variants"].items():
        for runtime, r in runtimes.items():
            if "outputs" not in r:
                rows.append([q, runtime, "-", *["-"] * len(OUTPUTS), "-", "-", "failed"])
                continue
            diffs = [_fmt(r["outputs"][name].get("clip", {}).get("max")) for name in OUTPUTS]
            top1 = r["top1"]
            rows.append(
                [
                    q,
                    runtime,
                    r["backend"],
                    *diffs,
                    f"{top1['clip_scores']['agree']}/{top1['clip_scores']['total']}"
                    f" · {top1['yamnet']['agree']}/{top1['yamnet']['total']}",
                    f"{r['ms_per_audio_second']:.1f}",
                    "ok" if r["ok"] else "failed",
                ]
            )
    return rows


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e}"
