"""Parity: the same waveforms through the Python SavedModel and the TF.js model in Node and browsers.

Both sides get the identical float32 16 kHz waveform (written once to raw ``.f32`` files). JavaScript
runs the model through ``src/model.js`` (the module the demo page uses) via the Node runner
(:mod:`pipeline.js.node`) and a small harness page (``parity/`` beside the page) in browser engines
driven through :mod:`pipeline.js.engines` (Chromium, Firefox, WebKit),
so what is checked is the code users run. The runtimes are :data:`pipeline.js.runtimes.RUNTIMES`; the
result goes to ``exported/NAME/parity.json`` (read back with :func:`pipeline.layout.read_parity`).

Cases are real clips from the training data set plus edge cases. Each case has a kind, and each kind
and variant its own bounds (:attr:`pipeline.layout.Variant.bounds`): real audio is held to float32 noise; synthetic
signals (digital silence, full-scale noise, a clipped square wave) put energy into few FFT bins or
none, where ``log(mel + 0.001)`` magnifies float32 rounding, so they get looser, documented bounds;
quantized models are compared with the float32 Python model, so their bounds are the quantization
error, not the runtime's.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .atomic import write_json_atomic
from .audio import load_audio
from .constants import SAMPLE_RATE
from .datasets import Dataset, load_dataset
from .errors import PipelineError
from .js.assets import web_root
from .js.browser import BrowserMissing
from .js.runtimes import BROWSER_ENGINES, Runtime
from .js.runtimes import runtimes as runtimes_named
from .layout import (
    CASE_KINDS,
    OUTPUTS,
    PARITY_JSON,
    PARITY_PARTIAL_JSON,
    VARIANTS,
    ArtifactError,
    Variant,
    read_json,
    read_report,
    verified_tfjs_metadata,
)
from .openset import decide

if TYPE_CHECKING:
    from .js.engines import Session

HARNESS = "parity"
"""The harness page's folder beside the page sources (``parity/harness.html``)."""


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
    """What one runtime returned: the backend it really used, outputs, open-set decisions and ms per case."""

    runtime: str
    backend: str
    outputs: list[dict[str, np.ndarray]]
    ms: list[float]
    info: dict[str, Any]
    decisions: list[dict[str, Any] | None] = field(default_factory=list)  # {label, score}; label -1 = unknown


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
    outputs, ms, decisions = [], [], []
    for case in cases:
        model(case.waveform)
        start = time.perf_counter()
        outputs.append(model(case.waveform))
        ms.append((time.perf_counter() - start) * 1000)
        if model.open_set is not None:
            label, score = decide(outputs[-1]["clip_scores"], outputs[-1]["yamnet_scores"], model.open_set)
            decisions.append({"label": label, "score": score})
    return RuntimeRun("python", "tensorflow", outputs, ms, {}, decisions)


def run_node(runtime: Runtime, model_dir: Path, cases: Sequence[Case]) -> RuntimeRun:
    """Node with pure ``@tensorflow/tfjs`` (cpu) or the wasm backend, through model.js."""
    from .js.node import run_in_node

    run = run_in_node(model_dir, [c.waveform for c in cases], backend=runtime.backend)
    info = {k: run.raw.get(k) for k in ("tfjs_version", "load_ms")}
    ms = [float(np.median(m)) for m in run.ms]
    return RuntimeRun(runtime.name, run.backend, run.outputs, ms, info, run.decisions)


def run_browser(
    engine: str, rts: Sequence[Runtime], export_dir: Path, variant: Variant, cases: Sequence[Case]
) -> dict[str, RuntimeRun | Exception]:
    """One browser engine: build the site for ``variant``, add the harness, run each backend in its own page."""
    from .js.engines import launch
    from .js.site import build_site, make_server

    results: dict[str, RuntimeRun | Exception] = {}
    with tempfile.TemporaryDirectory(prefix="yamnet-tfjs-parity-") as tmp:
        site = build_site(export_dir, Path(tmp) / "site", variant=variant.dir)
        harness = site / HARNESS
        shutil.copytree(web_root() / HARNESS, harness)
        inputs = []
        for i, case in enumerate(cases):
            np.asarray(case.waveform, dtype="<f4").tofile(harness / f"in{i}.f32")
            inputs.append(f"in{i}.f32")
        server = make_server(site, port=0, quiet=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{server.server_address[1]}/{HARNESS}/harness.html"
        try:
            with launch(engine) as session:
                for runtime in rts:
                    try:
                        results[runtime.name] = _run_page(session, url, runtime, inputs)
                    except Exception as err:  # one backend failing must not hide the others
                        results[runtime.name] = err
        finally:
            server.shutdown()
            server.server_close()
    return results


def run_engine(
    engine: str, rts: Sequence[Runtime], export_dir: Path, variant: Variant, cases: Sequence[Case]
) -> dict[str, RuntimeRun | Exception]:
    """Every runtime of one engine on one variant; a runtime that cannot run gives its error, not a crash."""
    if engine == "node":
        results: dict[str, RuntimeRun | Exception] = {}
        for runtime in rts:
            try:
                results[runtime.name] = run_node(runtime, export_dir / variant.dir, cases)
            except PipelineError as err:
                results[runtime.name] = err
        return results
    if engine in BROWSER_ENGINES:
        try:
            return run_browser(engine, rts, export_dir, variant, cases)
        except PipelineError as err:  # the browser or its driver is missing: every runtime says why
            return {r.name: err for r in rts}
    raise ParityError(f"no driver for the {engine} engine")


def _run_page(session: Session, url: str, runtime: Runtime, inputs: list[str]) -> RuntimeRun:
    page = session.new_page()
    try:
        page.goto(url)
        page.wait_for("typeof window.runParity === 'function' || window.pageErrors.length > 0", timeout=120)
        args = {"backend": runtime.backend, "model": "../model/model.json", "inputs": inputs}
        raw = page.evaluate(
            "async args => window.pageErrors.length ? {pageErrors: window.pageErrors}"
            " : {...await window.runParity(args), pageErrors: window.pageErrors}",
            args,
        )
        if raw["pageErrors"]:
            raise ParityError(f"{runtime.name}: page error: {raw['pageErrors'][0]}")
    finally:
        page.close()
    outputs = [
        {
            name: np.frombuffer(base64.b64decode(spec["b64"]), dtype="<f4").reshape(spec["shape"])
            for name, spec in entry["outputs"].items()
        }
        for entry in raw["results"]
    ]
    info = {k: raw.get(k) for k in ("tfjs_version", "webgl_renderer", "flags", "load_ms", "user_agent")}
    info["browser"] = f"{session.engine} {session.version}"
    ms = [float(np.median(e["ms"])) for e in raw["results"]]
    return RuntimeRun(runtime.name, raw["backend"], outputs, ms, info, [e.get("decision") for e in raw["results"]])


# ---------------------------------------------------------------------------------------------
# Comparison


SLOW_BACKENDS = ("cpu", "webgl")
"""Backends that take 10-30x wasm's time per second of audio here (pure JS; WebGL on a software
renderer): by default they check fewer, shorter waveforms (:func:`case_plan`); ``--full`` runs them all."""

QUICK_CLIPS = 2
"""Real clips a slow backend runs on the first variant by default (plus the short edge cases)."""


def case_plan(runtime: Runtime, variant_position: int, cases: Sequence[Case], full: bool) -> list[int]:
    """Which cases (indices) ``runtime`` runs on the ``variant_position``-th variant.

    Everything with ``full`` or on a fast backend. A slow backend's kernels are checked on the first
    variant (float32) with a few real clips and the short edge cases; on the other variants, whose
    weights the fast backends check on every case, with the short edge cases only. The long and noisy
    cases add time, not kernels.
    """
    everything = list(range(len(cases)))
    if full or runtime.backend not in SLOW_BACKENDS:
        return everything
    short = [i for i, c in enumerate(cases) if c.kind != "clip" and c.seconds <= 3.0 and "noise" not in c.name]
    clips = [i for i, c in enumerate(cases) if c.kind == "clip"][: QUICK_CLIPS if variant_position == 0 else 0]
    return sorted(clips + short[: None if variant_position == 0 else 2]) or everything[:1]


def _compare_some(
    reference: RuntimeRun, run: RuntimeRun, cases: Sequence[Case], chosen: list[int], variant: Variant
) -> dict[str, Any]:
    """:func:`compare` on the cases ``run`` ran (``chosen``), naming them when they are not all."""
    subset = RuntimeRun(
        reference.runtime,
        reference.backend,
        [reference.outputs[i] for i in chosen],
        [reference.ms[i] for i in chosen],
        reference.info,
        [reference.decisions[i] for i in chosen] if reference.decisions else [],
    )
    result = compare(subset, run, [cases[i] for i in chosen], variant)
    if len(chosen) < len(cases):
        result["cases"] = [cases[i].name for i in chosen]
    return result


def compare(reference: RuntimeRun, run: RuntimeRun, cases: Sequence[Case], variant: Variant) -> dict[str, Any]:
    """Max/mean abs diff per output and case kind, top-1 agreement and speed of one runtime vs Python."""
    bounds = variant.bounds
    failures: list[str] = []
    outputs: dict[str, dict[str, Any]] = {}
    for name in OUTPUTS:
        per_kind: dict[str, Any] = {}
        for kind in CASE_KINDS:
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
    decisions = _decisions(reference, run, cases)
    if decisions["total"] and decisions["agree"] < variant.top1 * decisions["total"]:
        failures.append(
            f"open-set decisions: {decisions['agree']}/{decisions['total']} agree with Python "
            f"(< {variant.top1:.0%}; differing: {', '.join(decisions['differ'])})"
        )
    top1 = _top1(reference, run, cases)
    required = variant.top1
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
        "decisions": decisions,
        "info": run.info,
        "failures": failures,
        "ok": not failures,
    }


def _decisions(reference: RuntimeRun, run: RuntimeRun, cases: Sequence[Case]) -> dict[str, Any]:
    """Agreement of the open-set decision ("unknown" or a class) with Python's, on every case (synthetic ones
    too: the decision is what the page shows a person). Both sides compute the score in float64."""
    if not reference.decisions:
        return {"agree": 0, "total": 0, "differ": []}
    got_all = run.decisions or [None] * len(cases)
    agree, worst, differ = 0, 0.0, []
    for case, ref, got in zip(cases, reference.decisions, got_all, strict=True):
        if got is not None and int(ref["label"]) == int(got["label"]):
            agree += 1
        else:
            differ.append(case.name)
        if got is not None:
            worst = max(worst, abs(float(ref["score"]) - float(got["score"])))
    return {"agree": agree, "total": len(cases), "differ": differ, "max_score_diff": worst}


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
        report = read_report(export_dir)
        data = report.dataset_root if report else None
        if not data:
            raise ParityError(f"{export_dir}: report.json does not say which data set it was trained on; pass --data")
        if not Path(data).is_dir():  # e.g. a relative path written by yamnet-tfjs 0.1.0 from another folder
            raise ParityError(
                f"{export_dir}: the data set it was trained on ({data}) is not found from here; pass --data"
            )
    return load_dataset(data, check_readable=False)


def _checked_variants(export_dir: Path, names: Sequence[str]) -> list[Variant]:
    """The variants to check, each refused unless its files match what the export recorded."""
    bad = sorted(set(names) - set(VARIANTS))
    if bad:
        raise ParityError(f"unknown variant(s) {', '.join(bad)}; choose from {', '.join(VARIANTS)}")
    chosen = [VARIANTS[name] for name in dict.fromkeys(names)]
    for v in chosen:
        if not (export_dir / v.dir / "model.json").is_file():
            how = f"yamnet-tfjs export {export_dir}" + (f" --quantize {v.name}" if v.quantized else "")
            raise ParityError(f"{export_dir / v.dir} has no model.json; run `{how}`")
        try:
            verified_tfjs_metadata(export_dir / v.dir)
        except ArtifactError as err:
            raise ParityError(str(err)) from None
    return chosen


def run_parity(
    export_dir: str | os.PathLike[str],
    n_clips: int = 5,
    runtimes: Sequence[str] | None = None,
    quantizations: Sequence[str] = ("float32",),
    data: str | os.PathLike[str] | None = None,
    edge: bool = True,
    write: bool = True,
    on_message: Callable[[str], None] | None = None,
    keep_complete: bool = False,
    full: bool = False,
) -> dict[str, Any]:
    """Run parity and (if ``write``) save ``export_dir/parity.json``; returns the report.

    ``runtimes`` select from :data:`pipeline.js.runtimes.RUNTIMES` (runtime or engine names, ``default``,
    ``all``; the default runtimes when None), ``quantizations``
    names of :data:`pipeline.layout.VARIANTS`. ``report["ok"]`` is False when any bound breaks or a
    runtime fails to run. With ``keep_complete`` (the ``parity`` command), a run that covers less than
    the recorded one (fewer runtimes, variants or cases) goes to ``parity-partial.json`` instead;
    ``report["written_to"]`` says where it went. Without ``full``, the slow backends (cpu, webgl) run
    fewer and shorter cases (:func:`case_plan`); their entries then name the cases they ran.
    """
    export_dir = Path(export_dir)
    say = on_message or (lambda _msg: None)
    try:
        chosen_runtimes = runtimes_named(runtimes)
    except PipelineError as err:
        raise ParityError(str(err)) from None
    variants = _checked_variants(export_dir, quantizations)

    cases = parity_cases(resolve_dataset(export_dir, data), n_clips, with_edge_cases=edge)
    say(f"{len(cases)} waveforms ({sum(c.seconds for c in cases):.1f} s of audio); Python reference")
    reference = run_python(export_dir, cases)
    report: dict[str, Any] = {
        "export": str(export_dir),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cases": [
            {"name": c.name, "kind": c.kind, "seconds": c.seconds, "source": c.source}
            | ({"decision": int(d["label"])} if d else {})
            for c, d in zip(cases, reference.decisions or [None] * len(cases), strict=True)
        ],
        "python": {
            "ms_per_audio_second": round(sum(reference.ms) / sum(c.seconds for c in cases), 3),
            "ms_per_case": {c.name: round(ms, 2) for c, ms in zip(cases, reference.ms, strict=True)},
        },
        "bounds": {v.name: v.bounds for v in variants},
        "top1_required": {v.name: v.top1 for v in variants},
        "variants": {},
    }
    report["full"] = full
    engines = list(dict.fromkeys(r.engine for r in chosen_runtimes))
    for position, v in enumerate(variants):
        runs: dict[str, RuntimeRun | Exception] = {}
        picked: dict[str, list[int]] = {}
        for engine in engines:
            groups: dict[tuple[int, ...], list[Runtime]] = {}
            for r in (r for r in chosen_runtimes if r.engine == engine):
                groups.setdefault(tuple(case_plan(r, position, cases, full)), []).append(r)
            for chosen, rts in groups.items():
                some = [cases[i] for i in chosen]
                say(f"{v.name}: {', '.join(r.name for r in rts)} ({len(some)} of {len(cases)} waveforms)")
                runs.update(run_engine(engine, rts, export_dir, v, some))
                picked.update({r.name: list(chosen) for r in rts})
        report["variants"][v.name] = {
            r.name: _result(r, runs[r.name], reference, cases, picked[r.name], v) for r in chosen_runtimes
        }
        for name, result in report["variants"][v.name].items():
            if "skipped" in result:
                say(f"{v.name}: {name} skipped: {result['skipped']}")
    report["ok"] = all(r["ok"] for v in report["variants"].values() for r in v.values())
    if write:
        target = export_dir / PARITY_JSON
        if keep_complete and _narrower(report, target):
            target = export_dir / PARITY_PARTIAL_JSON
        write_json_atomic(target, report)
        report["written_to"] = str(target)
    return report


def _result(
    runtime: Runtime,
    run: RuntimeRun | Exception,
    reference: RuntimeRun,
    cases: Sequence[Case],
    chosen: list[int],
    variant: Variant,
) -> dict[str, Any]:
    """One runtime's entry in the report: its comparison, a failure, or (opt-in runtimes only) a skip.

    A runtime outside the default set whose browser is not installed is skipped, with the reason, rather
    than failed: asking for every engine on a machine that has some of them is not a broken bound. A
    default runtime that cannot run is a failure (setup installs its engine).
    """
    if isinstance(run, RuntimeRun):
        return _compare_some(reference, run, cases, chosen, variant)
    if isinstance(run, BrowserMissing) and not runtime.default:
        return {"ok": True, "skipped": str(run), "failures": []}
    return {"ok": False, "failures": [f"did not run: {run}"], "error": str(run)}


def _coverage(report: dict[str, Any]) -> tuple[set[tuple[str, str]], set[str]]:
    pairs = {
        (q, rt) for q, rts in (report.get("variants") or {}).items() for rt, r in rts.items() if "skipped" not in r
    }
    return pairs, {c.get("name") for c in report.get("cases") or []}


def _narrower(report: dict[str, Any], recorded: Path) -> bool:
    """True when ``recorded`` (an earlier parity.json) covers runtimes, variants or cases ``report`` lacks."""
    old = read_json(recorded)
    if old is None:
        return False
    (new_pairs, new_cases), (old_pairs, old_cases) = _coverage(report), _coverage(old)
    less_of_each = bool(old.get("full")) and not report.get("full")
    return less_of_each or not (new_pairs >= old_pairs and new_cases >= old_cases)
