"""The whole job in one call: data -> embed + cross-validate + final head -> export -> parity -> site -> report.

Each stage records a hash of its inputs in ``exported/NAME/run.json`` (the data set's files and
labels, the settings, YAMNet's identity, the artifacts of the stage before, and the source of the code
that does the stage). On the next run a stage whose hash is unchanged and whose outputs are still there
is skipped, so a rerun after editing one clip retrains and re-exports, while a rerun with nothing
changed only rewrites the report.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import __version__
from .atomic import write_json_atomic
from .checksums import sha256_file
from .datasets import Dataset
from .layout import check_output_dir
from .yamnet import Yamnet

REPO = Path(__file__).resolve().parents[1]
PIPELINE = Path(__file__).resolve().parent
STATE_FILE = "run.json"
SITE_DIR = "site"

# The code each stage runs: editing it invalidates that stage (and so every stage after it).
STAGE_CODE: dict[str, tuple[str, ...]] = {
    "train": (
        "pipeline/constants.py",
        "pipeline/datasets.py",
        "pipeline/embeddings.py",
        "pipeline/patch_runner.py",
        "pipeline/yamnet_graph.py",
        "pipeline/train.py",
    ),
    "export": (
        "pipeline/yamnet_graph.py",
        "pipeline/export.py",
        "pipeline/convert.py",
        "pipeline/metadata.py",
    ),
    "parity": (
        "pipeline/parity.py",
        "pipeline/node.py",
        "pipeline/browser.py",
        "web_demo/src/model.js",
        "web_demo/node/run_model.mjs",
        "web_demo/parity/harness.html",
        "web_demo/parity/harness.js",
    ),
    "site": ("pipeline/site.py", "web_demo/index.html", "web_demo/src"),
}


@dataclass
class RunOptions:
    """Everything `run` can be told; the defaults are the README's main command."""

    quantizations: tuple[str, ...] = ("float16", "uint8")
    parity_clips: int = 5
    parity_runtimes: tuple[str, ...] | None = None  # None = all runtimes
    parity_edge_cases: bool = True
    site_variant: str = "tfjs"
    force: bool = False


@dataclass
class RunResult:
    """Where everything is and what happened to each stage."""

    out_dir: Path
    stages: dict[str, str] = field(default_factory=dict)  # stage -> "ran" | "skipped"
    seconds: dict[str, float] = field(default_factory=dict)
    headline: dict[str, Any] = field(default_factory=dict)
    ok: bool = True


def _sha(parts: Iterable[Any]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else json.dumps(part, sort_keys=True, default=str).encode()
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def code_hash(stage: str) -> str:
    """sha256 of the source files (or folders) that implement ``stage``."""
    files: list[Path] = []
    for rel in STAGE_CODE[stage]:
        path = REPO / rel
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return _sha([(p.relative_to(REPO).as_posix(), p.read_bytes() if p.is_file() else b"") for p in files])


def dataset_hash(dataset: Dataset) -> str:
    """Labels, folds and file contents of every clip (renaming a folder does not matter; editing a clip does)."""
    return _sha(sorted((c.label, c.fold, sha256_file(c.path)) for c in dataset.clips))


def files_hash(paths: Sequence[Path]) -> str:
    """Contents of artifact files (missing ones hash as absent)."""
    return _sha([(p.name, sha256_file(p) if p.is_file() else None) for p in paths])


class RunState:
    """``run.json``: the input hash each stage last completed with."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / STATE_FILE
        try:
            self.data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.data = {}
        self.data.setdefault("stages", {})

    def fresh(self, stage: str, inputs: str, outputs: Sequence[Path]) -> bool:
        """True when ``stage`` last completed with these inputs and its outputs still exist."""
        entry = self.data["stages"].get(stage) or {}
        return entry.get("inputs") == inputs and all(p.exists() for p in outputs)

    def done(self, stage: str, inputs: str | None, seconds: float) -> None:
        """Record a completed stage (``inputs=None`` records it as 'rerun next time') and save atomically."""
        self.data["stages"][stage] = {
            "inputs": inputs,
            "seconds": round(seconds, 2),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        self.data["version"] = __version__
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path, self.data)


def run_pipeline(
    dataset: Dataset,
    yamnet: Yamnet,
    out_dir: str | os.PathLike[str],
    train_config: Any,
    cache_dir: Path | None = None,
    options: RunOptions | None = None,
    say: Callable[[str], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Run every stage that is out of date for ``dataset`` into ``out_dir`` (``exported/NAME``)."""
    from .export import export_model
    from .parity import RUNTIMES, run_parity
    from .report import write_run_report
    from .site import build_site
    from .train import cfg_dict, train

    opts = options or RunOptions()
    say = say or (lambda _msg: None)
    out = check_output_dir(out_dir, dataset.root)
    result = RunResult(out)
    state = RunState(out)

    def stage(name: str, inputs: str, outputs: Sequence[Path], work: Callable[[], Any]) -> bool:
        nonlocal state
        if not opts.force and state.fresh(name, inputs, outputs):
            result.stages[name] = "skipped"
            say(f"[bold]{name}[/]: up to date, skipped")
            return False
        say(f"[bold]{name}[/] …")
        start = time.perf_counter()
        ok = work()
        seconds = time.perf_counter() - start
        result.stages[name], result.seconds[name] = "ran", round(seconds, 1)
        state = RunState(out)  # train replaces the whole folder: re-read what survived
        state.done(name, inputs if ok is not False else None, seconds)
        return True

    train_inputs = _sha(
        [dataset_hash(dataset), cfg_dict(train_config), yamnet.identity, __version__, code_hash("train")]
    )
    stage(
        "train",
        train_inputs,
        [out / "head.keras", out / "head.json", out / "report.json"],
        lambda: train(dataset, yamnet, out, train_config, cache_dir, on_event=say, on_progress=on_progress),
    )

    export_inputs = _sha(
        [
            files_hash([out / "head.keras", out / "head.json", out / "report.json"]),
            sorted(opts.quantizations),
            yamnet.identity,
            code_hash("export"),
        ]
    )
    variant_dirs = ["tfjs", *(f"tfjs-{q}" for q in opts.quantizations)]
    stage(
        "export",
        export_inputs,
        [out / "metadata.json", *(out / d / "model.json" for d in variant_dirs)],
        lambda: export_model(out, yamnet, list(opts.quantizations), on_step=say),
    )

    runtimes = tuple(opts.parity_runtimes or RUNTIMES)
    parity_quant = ("float32", *(q for q in opts.quantizations if opts.site_variant == f"tfjs-{q}"))
    parity_inputs = _sha(
        [
            files_hash([out / "metadata.json"]),
            opts.parity_clips,
            runtimes,
            opts.parity_edge_cases,
            parity_quant,
            code_hash("parity"),
        ]
    )

    def do_parity() -> bool:
        report = run_parity(
            out,
            n_clips=opts.parity_clips,
            runtimes=runtimes,
            quantizations=parity_quant,
            data=dataset.root,
            edge=opts.parity_edge_cases,
            on_step=say,
        )
        return bool(report["ok"])  # a failed parity is recorded as 'rerun next time'

    stage("parity", parity_inputs, [out / "parity.json"], do_parity)

    site_inputs = _sha([files_hash([out / "metadata.json"]), opts.site_variant, code_hash("site")])
    stage(
        "site",
        site_inputs,
        [out / SITE_DIR / "index.html"],
        lambda: build_site(out, out / SITE_DIR, variant=opts.site_variant),
    )

    say("[bold]report[/] …")
    write_run_report(out)
    result.headline = headline(out)
    result.ok = bool(result.headline.get("parity_ok", False))
    return result


def headline(out: Path) -> dict[str, Any]:
    """The numbers a person wants first: accuracy, model sizes, parity, and where things are."""

    from .report import read_artifact

    names = ("report.json", "metadata.json", "parity.json")
    report, metadata, parity = (read_artifact(out / name) or {} for name in names)
    cv = report.get("cv", {})
    sizes = {kind: v.get("weights_bytes") for kind, v in (metadata.get("variants") or {}).items()}
    worst: dict[str, float] = {}
    for runtimes in (parity.get("variants") or {}).values():
        for r in runtimes.values():
            for name, kinds in (r.get("outputs") or {}).items():
                clip = kinds.get("clip", {}).get("max")
                if clip is not None:
                    worst[name] = max(worst.get(name, 0.0), clip)
        break  # float32 first: the headline is about exactness, quantized variants are in the report
    return {
        "cv_mean_accuracy": cv.get("mean_accuracy"),
        "cv_fold_accuracy": cv.get("fold_accuracy"),
        "scheme": (report.get("evaluation") or {}).get("scheme"),
        "model_bytes": sizes,
        "parity_ok": parity.get("ok"),
        "parity_runtimes": sorted({rt for v in (parity.get("variants") or {}).values() for rt in v}),
        "parity_worst_float32": worst,
        "report": str(out / "report.html"),
        "site": str(out / SITE_DIR),
    }
