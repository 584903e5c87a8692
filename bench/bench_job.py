"""The README's main command on ESC-50, today's code beside a baseline commit, in one run.

Both jobs run ``yamnet-tfjs run`` from a cold embedding cache to a built site, one after the other on the
same machine, each in its own process (the baseline from ``git archive BASELINE``, sharing this
checkout's ``web_demo/node_modules``). Stage times come from each job's ``run.json`` and the train
stage's ``report.json`` ("timing"), so the ratios are measured side by side, never against a number
from another day. Default baseline: 29c7a5c, the code before the training engine and parity plan.

Usage: ``.venv/bin/python bench/bench_job.py [--baseline COMMIT] [--keep DIR]``. Results go to
``bench/results/job.json`` and into the table in ``docs/speed.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.doc_tables import markdown_table, replace_between_markers  # noqa: E402

SHARED = Path(os.environ.get("YAMNET_TFJS_SHARED", REPO.parent / "shared"))
BASELINE = "29c7a5c"

TRAIN_KEYS = {
    "embed": ("embed_seconds",),
    "cross-validation + final head": ("cv_and_final_seconds", "cv_seconds", "final_seconds"),
    "open-set study": ("open_set_study_seconds",),
}
"""Report timing keys per row: the baseline reports CV and the final head apart, today's code together."""


def checkout(commit: str, dest: Path) -> Path:
    """``commit``'s tree in ``dest`` (no .git), with this checkout's node_modules linked in."""
    archive = subprocess.run(["git", "archive", commit], cwd=REPO, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    modules = REPO / "web_demo" / "node_modules"
    if modules.is_dir() and not (dest / "web_demo" / "node_modules").exists():
        (dest / "web_demo" / "node_modules").symlink_to(modules)
    if (dest / "web_demo" / "build.mjs").exists():  # the vendored TF.js the page and runner bundle use
        subprocess.run(["node", "build.mjs"], cwd=dest / "web_demo", check=True, capture_output=True)
    return dest


def run_job(code: Path, work: Path, name: str) -> dict:
    """``yamnet-tfjs run`` of the code in ``code`` on ESC-50 with a cold cache; its stage times."""
    out, cache, log = work / name / "exported", work / name / "cache", work / f"{name}.log"
    out.parent.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(code), "YAMNET_TFJS_CACHE": str(cache), "CI": "true"}
    cli = "from pipeline.cli import main; main()"
    args = [sys.executable, "-c", cli, "run", "--data", str(SHARED / "datasets" / "esc50")]
    args += ["--out", str(out), "--yamnet", str(SHARED / "models" / "yamnet"), "--cache", str(cache)]
    start = time.perf_counter()
    with log.open("w") as sink:
        proc = subprocess.run(args, cwd=code, env=env, stdout=sink, stderr=subprocess.STDOUT, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0 or not (out / "run.json").exists():
        raise SystemExit(f"{name}: run exited {proc.returncode} without finishing; see {log}")
    stages = json.loads((out / "run.json").read_text())["stages"]
    report = json.loads((out / "report.json").read_text())
    timing = report.get("timing", {})
    rows = {stage: round(entry["seconds"], 1) for stage, entry in stages.items()}
    for row, keys in TRAIN_KEYS.items():
        found = [timing[k] for k in keys if k in timing]
        if found:
            rows[row] = round(sum(found), 1)
    return {
        "wall_seconds": round(wall, 1),
        "stages": rows,
        "mean_accuracy": report["cv"]["mean_accuracy"],
        "open_set": {k: v for k, v in (report.get("open_set") or {}).items() if k != "runs"},
        "load_average": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--keep", type=Path, default=None, help="Keep both jobs' outputs and logs here.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-job-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        old = checkout(args.baseline, work / "baseline-code")
        results = {"baseline": args.baseline, "machine_cores": os.cpu_count()}
        results["baseline_job"] = run_job(old, work, "baseline")
        print(f"baseline: {results['baseline_job']['wall_seconds']} s", flush=True)
        results["today_job"] = run_job(REPO, work, "today")
        print(f"today: {results['today_job']['wall_seconds']} s", flush=True)
    out = REPO / "bench" / "results" / "job.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    update_docs(results)


def update_docs(results: dict) -> None:
    """Rewrite the side-by-side table in docs/speed.md (between the bench:job markers)."""
    old, new = results["baseline_job"], results["today_job"]
    names = list(dict.fromkeys([*old["stages"], *new["stages"]]))
    rows = []
    for name in [*names, "whole job (wall)"]:
        a = old["wall_seconds"] if name.startswith("whole") else old["stages"].get(name)
        b = new["wall_seconds"] if name.startswith("whole") else new["stages"].get(name)
        ratio = f"{b / a:.2f}" if a and b else "–"
        rows.append(f"| {name} | {a if a is not None else '–'} | {b if b is not None else '–'} | {ratio} |")
    rows.append(f"| ESC-50 5-fold mean clip accuracy | {old['mean_accuracy']:.4f} | {new['mean_accuracy']:.4f} | |")
    header = [
        "stage (seconds, 2 shared cores)",
        f"baseline {results['baseline']}",
        "today",
        "today / baseline",
    ]
    replace_between_markers(REPO / "docs" / "speed.md", "job", markdown_table(header, rows))
    study = new.get("open_set") or {}
    if "auroc" in study:  # the held-out-class study the same train ran (docs/open-set.md)
        rows = [
            f"| AUROC, known vs unknown files | {study['auroc']:.3f} | "
            f"max probability alone: {study['baseline_auroc']:.3f} |",
            f"| unknown files rejected | {study['unknown_rejected']:.1%} | goal >= 80 % |",
            f"| known-class accuracy, closed -> with rejection | {study['closed_known_accuracy']:.3f} -> "
            f"{study['known_accuracy']:.3f} | budget {study['budget']:.0%} |",
            f"| AUROC, single 0.975 s windows | {study['window_auroc']:.3f} | |",
            f"| unknown windows rejected | {study['window_unknown_rejected']:.1%} | |",
        ]
        table = markdown_table(["measure", "value", "note"], rows)
        replace_between_markers(REPO / "docs" / "open-set.md", "openset", table)


if __name__ == "__main__":
    main()
