"""The whole job in one call: data -> embed + cross-validate + final head -> export -> parity -> site -> report.

Each stage records a hash of its inputs in ``exported/NAME/run.json`` (the data set's files and
labels, the settings, YAMNet's identity, the artifacts of the stage before, and the code that does the
stage). On the next run a stage whose hash is unchanged and whose outputs are still there is skipped,
so a rerun after editing one clip retrains and re-exports, while a rerun with nothing changed only
rewrites the report.

The code a stage depends on is derived, never listed by hand (a hand list drifted): the source of every
module of the package its entry module imports, directly or through others (:func:`stage_modules`),
plus, for the stages that ship or run JavaScript, every file of the page sources.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any

from . import __version__
from .atomic import write_json_atomic
from .checksums import sha256_file
from .datasets import Dataset
from .events import OnMessage, OnProgress, ignore
from .layout import (
    HEAD_JSON,
    HEAD_KERAS,
    METADATA_JSON,
    PARITY_JSON,
    REPORT_HTML,
    REPORT_JSON,
    RUN_STATE,
    SITE_DIR,
    VARIANTS,
    check_output_dir,
    read_parity,
    read_report,
)
from .yamnet import Yamnet

PACKAGE = Path(__file__).resolve().parent

STAGES = ("train", "export", "parity", "site")

STAGE_ENTRY = {
    "train": "pipeline.training.stage",
    "export": "pipeline.export.stage",
    "parity": "pipeline.parity",
    "site": "pipeline.js.site",
}
"""The module that does each stage; what it imports (transitively) is what the stage depends on."""

STAGE_USES_WEB = frozenset({"parity", "site"})
"""Stages that ship or run the page's JavaScript (model.js, the page, the Node runner, the harness)."""


@dataclass
class RunOptions:
    """Everything `run` can be told; the defaults are the README's main command."""

    quantizations: tuple[str, ...] = tuple(name for name, v in VARIANTS.items() if v.quantized)
    parity_clips: int = 5
    parity_runtimes: tuple[str, ...] | None = None  # None = the default runtimes
    parity_edge_cases: bool = True
    parity_full: bool = False  # the slow backends on every case too (parity --full)
    site_variant: str = "tfjs"
    force: bool = False
    until: str = "site"  # the last stage to run (the report is always rewritten)


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


def _module_file(name: str) -> Path | None:
    """The source file of a module of this package (``pipeline.x.y``), or None if it is not one."""
    parts = name.split(".")
    if parts[0] != PACKAGE.name:
        return None
    base = PACKAGE.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, module: str) -> set[str]:
    """Names of the package's modules that ``path`` imports anywhere (also inside functions)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if _module_file(f"{base}.{alias.name}") else base)
    return {name for name in found if _module_file(name) is not None}


@cache
def stage_modules(stage: str) -> tuple[Path, ...]:
    """Every source file of the package that ``stage``'s entry module uses, directly or not."""
    seen: dict[str, Path] = {}
    todo = [STAGE_ENTRY[stage], PACKAGE.name]
    while todo:
        name = todo.pop()
        path = _module_file(name)
        if path is None or name in seen:
            continue
        seen[name] = path
        todo.extend(_imports(path, name) - set(seen))
        parent = name.rpartition(".")[0]
        if parent:  # importing pipeline.a.b runs pipeline/a/__init__.py too
            todo.append(parent)
    return tuple(sorted(set(seen.values())))


def _web_sources() -> list[Path]:
    from .js.assets import web_root

    root = web_root()
    skip = {"node_modules", "vendor", "test"}
    return sorted(p for p in root.rglob("*") if p.is_file() and not skip & set(p.relative_to(root).parts))


def _source_bytes(path: Path) -> bytes:
    return path.read_bytes()


def code_hash(stage: str) -> str:
    """sha256 of the code that implements ``stage`` (see :func:`stage_modules`)."""
    files = [(p.relative_to(PACKAGE).as_posix(), _source_bytes(p)) for p in stage_modules(stage)]
    if stage in STAGE_USES_WEB:
        from .js.assets import web_root

        root = web_root()
        files += [("web/" + p.relative_to(root).as_posix(), _source_bytes(p)) for p in _web_sources()]
    return _sha(files)


def dataset_hash(dataset: Dataset) -> str:
    """Labels, folds and file contents of every clip (renaming a folder does not matter; editing a clip does)."""
    return _sha(sorted((c.label, c.fold, sha256_file(c.path)) for c in dataset.clips))


def files_hash(paths: Sequence[Path]) -> str:
    """Contents of artifact files (missing ones hash as absent)."""
    return _sha([(p.name, sha256_file(p) if p.is_file() else None) for p in paths])


class RunState:
    """``run.json``: the input hash each stage last completed with."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / RUN_STATE
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
    on_message: OnMessage = ignore,
    on_progress: OnProgress | None = None,
    on_epoch: OnProgress | None = None,
    background: Dataset | None = None,
) -> RunResult:
    """Run every stage that is out of date for ``dataset`` into ``out_dir`` (``exported/NAME``).

    ``background``: ``--background``'s set (:mod:`pipeline.background`), part of the train stage's inputs."""
    from .export import export_model
    from .js.site import build_site
    from .parity import run_parity
    from .report import write_run_report
    from .training import train
    from .training.head import cfg_dict

    opts = options or RunOptions()
    if opts.until not in STAGES:
        raise ValueError(f"until must be one of {', '.join(STAGES)}, got {opts.until!r}")
    say = on_message
    out = check_output_dir(out_dir, dataset.root)
    result = RunResult(out)
    state = RunState(out)
    last = STAGES.index(opts.until)

    def stage(name: str, inputs: Callable[[], str], outputs: Sequence[Path], work: Callable[[], Any]) -> None:
        nonlocal state
        if STAGES.index(name) > last:
            return
        digest = inputs()
        if not opts.force and state.fresh(name, digest, outputs):
            result.stages[name] = "skipped"
            say(f"{name}: up to date, skipped")
            return
        say(f"{name} …")
        start = time.perf_counter()
        ok = work()
        seconds = time.perf_counter() - start
        result.stages[name], result.seconds[name] = "ran", round(seconds, 1)
        state = RunState(out)  # the stage may have replaced run.json's neighbours: re-read what survived
        state.done(name, digest if ok is not False else None, seconds)

    head_files = [out / HEAD_KERAS, out / HEAD_JSON, out / REPORT_JSON]
    stage(
        "train",
        lambda: _sha(
            [dataset_hash(dataset), cfg_dict(train_config), yamnet.identity, code_hash("train")]
            + ([dataset_hash(background)] if background is not None else [])
        ),
        head_files,
        lambda: train(
            dataset,
            yamnet,
            out,
            train_config,
            cache_dir,
            on_message=say,
            on_progress=on_progress,
            on_epoch=on_epoch,
            background=background,
        ),
    )
    stage(
        "export",
        lambda: _sha([files_hash(head_files), sorted(opts.quantizations), yamnet.identity, code_hash("export")]),
        [out / METADATA_JSON, *(out / VARIANTS[q].dir / "model.json" for q in ("float32", *opts.quantizations))],
        lambda: export_model(out, yamnet, list(opts.quantizations), on_message=say),
    )

    parity_variants = ("float32", *(q for q in opts.quantizations if VARIANTS[q].dir == opts.site_variant))

    def do_parity() -> bool:
        report = run_parity(
            out,
            n_clips=opts.parity_clips,
            runtimes=opts.parity_runtimes,
            quantizations=parity_variants,
            data=dataset.root,
            edge=opts.parity_edge_cases,
            on_message=say,
            full=opts.parity_full,
        )
        return bool(report["ok"])  # a failed parity is recorded as 'rerun next time'

    stage(
        "parity",
        lambda: _sha(
            [
                files_hash([out / METADATA_JSON]),
                opts.parity_clips,
                opts.parity_runtimes,
                opts.parity_edge_cases,
                opts.parity_full,
                parity_variants,
                code_hash("parity"),
            ]
        ),
        [out / PARITY_JSON],
        do_parity,
    )
    stage(
        "site",
        lambda: _sha([files_hash([out / METADATA_JSON]), opts.site_variant, code_hash("site")]),
        [out / SITE_DIR / "index.html"],
        lambda: build_site(out, out / SITE_DIR, variant=opts.site_variant),
    )

    say("report …")
    write_run_report(out)
    result.headline = headline(out)
    parity_ok = result.headline.get("parity_ok")
    result.ok = bool(parity_ok) if last >= STAGES.index("parity") else parity_ok is not False
    return result


def headline(out: Path) -> dict[str, Any]:
    """The numbers a person wants first: accuracy, model sizes, parity, and where things are."""
    from .layout import read_json

    report = read_report(out)
    metadata = read_json(out / METADATA_JSON) or {}
    parity = read_parity(out)
    sizes = {kind: v.get("weights_bytes") for kind, v in (metadata.get("variants") or {}).items()}
    return {
        "cv_mean_accuracy": report.mean_accuracy if report else None,
        "cv_fold_accuracy": report.fold_accuracy if report else [],
        "scheme": report.scheme if report else None,
        "model_bytes": sizes,
        "parity_ok": parity.ok if parity else None,
        "parity_runtimes": parity.runtimes if parity else [],
        "parity_worst_float32": parity.worst("float32") if parity else {},
        "report": str(out / REPORT_HTML),
        "site": str(out / SITE_DIR),
    }
