"""The Beam embedder at scale (docs/scale.md): against the local embedder on ESC-50, and as the input grows.

  esc50  all of ESC-50 into empty caches with ``yamnet-tfjs embed`` (local) and ``yamnet-tfjs embed --runner
         direct`` (Beam, DirectRunner, multi-process), alternating L B B L so both see the same background load;
         every Beam entry compared with ``np.array_equal`` to the local run's; then Beam again on the full cache.
  scale  synthetic manifests of N distinct clips (``synth://`` in tests/beamfs.py: cuts of real ESC-50 audio
         made when a worker opens them, so no disk), N = 1,000 / 10,000 / 100,000 by default.
  doc    rewrite the tables in docs/scale.md from bench/results/scale.json.

Every run is a subprocess whose process tree is sampled every 0.5 s (psutil): wall time, peak RSS per process
(launcher, each Beam worker, the local embedder) and RSS over time; CPU time is the reaped tree's getrusage.
The machine is shared: compare runs only within one invocation (ratios), never across.

Usage: ``.venv/bin/python bench/bench_scale.py esc50 | scale [--sizes ...] | doc``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.doc_tables import markdown_table, replace_between_markers  # noqa: E402
from pipeline.atomic import write_text_atomic  # noqa: E402
from pipeline.constants import num_patches  # noqa: E402
from pipeline.embeddings import decode_entry  # noqa: E402

SHARED = Path(os.environ.get("YAMNET_TFJS_SHARED", REPO.parent / "shared"))
YAMNET = str(SHARED / "models" / "yamnet")
ESC50 = str(SHARED / "datasets" / "esc50")
CLI = str(Path(sys.executable).with_name("yamnet-tfjs"))
RESULTS = REPO / "bench" / "results" / "scale.json"
DOC = REPO / "docs" / "scale.md"
ENV = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
QUIET_MS_PER_PATCH = "embed-default.json"
"""The local embedder's quiet-machine benchmark (bench/bench_embed.py), used to calibrate per-vCPU figures."""


def _role(proc: psutil.Process, root: int) -> str:
    try:
        cmd = " ".join(proc.cmdline())
    except psutil.Error:
        return "?"
    if "sdk_worker_main" in cmd:
        return "worker"
    return "launcher" if proc.pid == root else "other"


def run_sampled(cmd: list[str], log: Path) -> dict[str, Any]:
    """Run ``cmd``; sample its process tree's RSS every 0.5 s; wall and CPU time, peaks, an RSS series."""
    t0 = time.perf_counter()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=ENV, cwd=REPO)
        peaks: dict[int, dict[str, Any]] = {}
        series: list[tuple[float, list[int]]] = []
        stop = threading.Event()

        def sample() -> None:
            root = psutil.Process(proc.pid)
            while not stop.is_set():
                try:
                    tree = [root, *root.children(recursive=True)]
                except psutil.Error:
                    break
                workers = []
                for p in tree:
                    try:
                        rss = p.memory_info().rss / 2**20
                    except psutil.Error:
                        continue
                    entry = peaks.setdefault(p.pid, {"role": _role(p, proc.pid), "peak_rss_mb": 0.0})
                    entry["peak_rss_mb"] = round(max(entry["peak_rss_mb"], rss), 1)
                    if entry["role"] == "worker":
                        workers.append(round(rss))
                series.append((round(time.perf_counter() - t0, 1), workers))
                stop.wait(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        proc.wait()
        stop.set()
        sampler.join()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the whole reaped tree: launcher and its SDK workers
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}); see {log}")
    step = max(1, len(series) // 40)
    return {
        "wall_s": round(time.perf_counter() - t0, 2),
        "cpu_s": round((ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime), 1),
        "load_avg_1m": [round(load, 2), round(os.getloadavg()[0], 2)],
        "processes": sorted((v for v in peaks.values() if v["peak_rss_mb"] > 50), key=lambda v: v["role"]),
        "worker_rss_mb_series": [s for s in series[::step] + series[-1:] if s[1]],
    }


def beam_cmd(data: str, cache: Path, out: Path, workers: int, extra: list[str] | None = None) -> list[str]:
    cmd = [CLI, "embed", "--data", data, "--runner", "direct", "--cache", str(cache), "--out", str(out)]
    cmd += ["--yamnet", YAMNET, "--beam-option", f"direct_num_workers={workers}"]
    for option in extra or []:
        cmd += ["--beam-option", option]
    return cmd


def beam_summary(out: Path) -> dict[str, Any]:
    job = json.loads((out / "beam-job.json").read_text())
    return {
        **{k: job[k] for k in ("clips", "cached", "computed", "failed", "patches")},
        "seconds": job["seconds"],
        "metrics": job["metrics"],
    }


def compare_caches(beam: Path, local: Path) -> dict[str, Any]:
    """Every entry of the local cache against the same entry of the Beam cache, feature by feature."""
    entries = sorted(p.relative_to(local) for p in local.rglob("*.npz"))
    differ, missing, worst = 0, 0, 0.0
    for rel in entries:
        a, b = decode_entry(local / rel), decode_entry(beam / rel)
        if b is None or a is None or set(a) != set(b):
            missing += 1
            continue
        if not all(np.array_equal(a[k], b[k]) for k in a):
            differ += 1
            worst = max(worst, max(float(np.abs(a[k] - b[k]).max()) for k in a))
    return {"entries": len(entries), "not_equal": differ, "missing": missing, "max_abs_diff": worst}


def esc50(args: argparse.Namespace) -> dict[str, Any]:
    work = args.work / "esc50"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    runs = []
    for i, kind in enumerate((["local", "beam", "beam", "local"] * 2)[: args.runs]):
        cache, out = work / f"cache-{i}-{kind}", work / f"out-{i}"
        if kind == "local":
            run = run_sampled(
                [CLI, "embed", "--data", ESC50, "--cache", str(cache), "--yamnet", YAMNET], work / f"{i}.log"
            )
        else:
            run = run_sampled(beam_cmd(ESC50, cache, out, args.workers), work / f"{i}.log")
            run["job"] = beam_summary(out)
        entries = list(cache.rglob("*.npz"))
        run.update(kind=kind, cache=str(cache), entries=len(entries))
        run["entry_bytes"] = sum(e.stat().st_size for e in entries)
        print(kind, run["wall_s"], "s wall,", run["cpu_s"], "CPU-s", run.get("job", ""), flush=True)
        runs.append(run)
    local = next(r for r in runs if r["kind"] == "local")
    for run in runs:
        if run["kind"] == "beam":
            run["vs_local"] = compare_caches(Path(run["cache"]), Path(local["cache"]))
            print("beam vs local:", run["vs_local"], flush=True)
    beam = next(r for r in runs if r["kind"] == "beam")
    rerun = run_sampled(beam_cmd(ESC50, Path(beam["cache"]), work / "out-rerun", args.workers), work / "rerun.log")
    rerun.update(kind="beam rerun, full cache", job=beam_summary(work / "out-rerun"))
    print("rerun", rerun["wall_s"], rerun["job"], flush=True)
    runs.append(rerun)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return {"workers": args.workers, "runs": runs}


def scale(args: argparse.Namespace) -> dict[str, Any]:
    work = args.work / "scale"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    runs, start = [], 0
    for n in args.sizes:
        manifest = work / f"synth-{n}.csv"
        with open(manifest, "w") as f:
            f.write("path,label\n")
            f.writelines(f"synth://esc50/{args.clip_ms}/{k}.wav,c{k % 50}\n" for k in range(start, start + n))
        start += n  # distinct clips in every run: nothing is cached
        cache, out = work / f"cache-{n}", work / f"out-{n}"
        run = run_sampled(
            beam_cmd(str(manifest), cache, out, args.workers, ["beam_plugins=tests.beamfs"]), work / f"{n}.log"
        )
        run.update(clips=n, job=beam_summary(out))
        print(n, run["wall_s"], "s wall,", run["cpu_s"], "CPU-s", run["job"], flush=True)
        runs.append(run)
        shutil.rmtree(cache, ignore_errors=True)
    return {
        "workers": args.workers,
        "clip_ms": args.clip_ms,
        "patches_per_clip": num_patches(args.clip_ms * 16),
        "runs": runs,
    }


# --- docs/scale.md ------------------------------------------------------------------------------


def _peak(run: dict[str, Any], role: str) -> str:
    peaks = [p["peak_rss_mb"] for p in run["processes"] if p["role"] == role]
    return " / ".join(f"{p:.0f}" for p in peaks) if peaks else "-"


def esc50_table(section: dict[str, Any]) -> str:
    rows = []
    for run in section["runs"]:
        job = run.get("job", {})
        same = run.get("vs_local")
        identical = f"{same['entries'] - same['not_equal'] - same['missing']} / {same['entries']}" if same else "-"
        rows.append(
            f"| {run['kind']} | {run['wall_s']:.1f} | {run['cpu_s']:.1f} | {job.get('computed', '-')} | "
            f"{job.get('cached', '-')} | {_peak(run, 'launcher')} | {_peak(run, 'worker')} | {identical} | "
            f"{run['load_avg_1m'][0]} → {run['load_avg_1m'][1]} |"
        )
    header = ["run", "wall s", "CPU s", "computed", "cached", "launcher (local: the embedder) peak MB"]
    header += ["worker peak MB", "entries bit-identical to local", "load avg"]
    return markdown_table(header, rows)


def scale_table(section: dict[str, Any]) -> str:
    rows, previous = [], None
    for run in section["runs"]:
        marginal = "-"
        if previous is not None:
            marginal = f"{(run['clips'] - previous['clips']) / (run['wall_s'] - previous['wall_s']):.0f}"
        rows.append(
            f"| {run['clips']:,} | {run['wall_s']:.1f} | {run['cpu_s']:.1f} | {run['clips'] / run['wall_s']:.1f} | "
            f"{marginal} | {_peak(run, 'worker')} | {_peak(run, 'launcher')} | {run['job']['failed']} |"
        )
        previous = run
    header = ["clips", "wall s", "CPU s", "clips/s incl. start-up", "clips/s marginal (from the row above)"]
    header += ["worker peak MB", "launcher + DirectRunner peak MB", "failed"]
    return markdown_table(header, rows)


def _mean(runs: list[dict[str, Any]], kind: str, key: str) -> float:
    return float(np.mean([r[key] for r in runs if r["kind"] == kind]))


def derived(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(figure, value, how it was obtained)``: ratios, per-patch CPU, per-vCPU rates, a million clips."""
    rows: list[tuple[str, str, str]] = []
    esc = [r for r in results.get("esc50", {}).get("runs", []) if r["kind"] in ("local", "beam")]
    if esc:
        for key, what in (("wall_s", "wall time"), ("cpu_s", "CPU time")):
            ratio = _mean(esc, "beam", key) / _mean(esc, "local", key)
            rows.append((f"ESC-50, Beam / local, {what}", f"{ratio:.2f}", "means of the runs above"))
    runs = results.get("scale", {}).get("runs", [])
    fixed = None
    if len(runs) >= 2:  # cpu = fixed + clips x per_clip, from the two smallest sizes
        a, b = runs[0], runs[1]
        per_clip = (b["cpu_s"] - a["cpu_s"]) / (b["clips"] - a["clips"])
        fixed = a["cpu_s"] - a["clips"] * per_clip
        how = f"CPU s = fixed + clips x per clip, from the {a['clips']:,} and {b['clips']:,} runs"
        rows.append(("Beam CPU per 1-patch clip (hash, decode, YAMNet, write)", f"{1000 * per_clip:.1f} ms", how))
        rows.append(("Beam fixed CPU per job, 2 workers (imports, YAMNet load and split)", f"{fixed:.0f} s", how))
        last = runs[-1]
        rows.append(
            (
                f"worker peak RSS, {runs[0]['clips']:,} -> {last['clips']:,} clips",
                f"{_peak(runs[0], 'worker')} -> {_peak(last, 'worker')} MB",
                "flat: workers hold one batch of waveforms and one YAMNet, whatever the input size",
            )
        )
    if esc and fixed is not None:
        patches = 20000
        beam_ms = 1000 * (_mean(esc, "beam", "cpu_s") - fixed) / patches
        ratio = _mean(esc, "beam", "cpu_s") / _mean(esc, "local", "cpu_s")
        estimates = [("shared machine, as measured", beam_ms, "(mean Beam CPU s on ESC-50 - fixed) / 20,000 patches")]
        quiet = REPO / "bench" / "results" / QUIET_MS_PER_PATCH
        if quiet.exists():
            q = json.loads(quiet.read_text())
            local_ms = 1000 * q["cold_seconds"] * q["cpus"] / q["patches"]
            estimates.append(
                (
                    "quiet machine, estimated",
                    local_ms * ratio,
                    f"the local embedder's quiet run (bench/results/{QUIET_MS_PER_PATCH}: {q['cold_seconds']} s x "
                    f"{q['cpus']} vCPU / {q['patches']:,} patches = {local_ms:.2f} ms, an upper bound) "
                    f"x the Beam/local CPU ratio {ratio:.2f}",
                )
            )
        for label, ms, how in estimates:
            rows.append((f"Beam vCPU time per patch, {label}", f"{ms:.2f} ms", how))
            rows.append((f"patches/s per vCPU, {label}", f"{1000 / ms:.0f}", "1000 / the line above"))
            vcpu_hours = 20e6 * ms / 1000 / 3600
            rows.append(
                (
                    f"1,000,000 clips of 10 s (20 M patches), {label}",
                    f"{vcpu_hours:.1f} vCPU-h = {vcpu_hours / 4:.1f} machine-h of n2-standard-4",
                    "20 M x the per-patch time; start-up, reading and resampling come on top",
                )
            )
    sized = [r for r in esc if r.get("entries")]
    if sized:  # the cache is uncompressed .npz: its size is proportional to the patches
        per_patch = sized[0]["entry_bytes"] / 20000
        rows.append(
            (
                "cache size, 1,000,000 clips of 10 s",
                f"{20e6 * per_patch / 1e9:.0f} GB in 1,000,000 entries",
                f"ESC-50's {sized[0]['entries']:,} entries took {sized[0]['entry_bytes'] / 1e6:.0f} MB "
                f"({per_patch / 1000:.1f} kB per patch) x 20 M patches",
            )
        )
    return rows


def write_doc(results: dict[str, Any]) -> None:
    if "esc50" in results:
        replace_between_markers(DOC, "scale-esc50", esc50_table(results["esc50"]))
    if "scale" in results:
        replace_between_markers(DOC, "scale-synthetic", scale_table(results["scale"]))
    rows = [f"| {figure} | {value} | {how} |" for figure, value, how in results.get("derived", [])]
    replace_between_markers(DOC, "scale-derived", markdown_table(["figure", "value", "how"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    a = sub.add_parser("esc50")
    a.add_argument("--runs", type=int, default=4)
    b = sub.add_parser("scale")
    b.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    b.add_argument("--clip-ms", type=int, default=975, help="clip length: 975 ms is one patch (worst case per clip)")
    for p in (a, b):
        p.add_argument("--workers", type=int, default=2)
        p.add_argument("--work", type=Path, default=Path("/tmp/yamnet-tfjs-bench-scale"))
        p.add_argument("--keep", action="store_true", help="keep the caches (esc50)")
    sub.add_parser("doc")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if args.mode in ("esc50", "scale"):
        section = esc50(args) if args.mode == "esc50" else scale(args)
        section.update(cpus=os.cpu_count(), measured=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        results[args.mode] = section
    results["derived"] = derived(results)
    write_text_atomic(RESULTS, json.dumps(results, indent=1) + "\n")  # a killed run leaves the old results whole
    write_doc(results)
    for figure, value, _how in results["derived"]:
        print(f"{figure}: {value}")


if __name__ == "__main__":
    main()
