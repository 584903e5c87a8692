"""The ``train`` stage: embed (cached), cross-validate, fit the final head, write it with its report.

It orchestrates :mod:`.head` (the model and its fit) and :mod:`.evaluation` (folds, CV, metrics) and
writes ``head.keras``, ``head.json`` (docs/contracts.md) and the report into the export folder, all at
once, so the accuracy reported is the accuracy of the head that is saved and exported.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import staged
from ..audio import load_audio
from ..background import BACKGROUND_LABEL, background_mask, false_alarms, known_names, with_background
from ..checksums import sha256_file
from ..constants import FEATURE_WIDTHS, PATCH_HOP_SECONDS, PATCH_WINDOW_SECONDS, SAMPLE_RATE
from ..datasets import Dataset
from ..embeddings import EmbeddingSet, embed_dataset
from ..errors import DatasetError, PipelineError
from ..events import OnMessage, OnProgress, ignore
from ..layout import (
    DERIVED_FROM_EXPORT,
    EXPORT_ARTIFACTS,
    HEAD_JSON,
    HEAD_KERAS,
    MARKER,
    TRAIN_ARTIFACTS,
    TUNED_BLOCKS,
    check_output_dir,
    marker_text,
)
from ..openset import OpenSet, calibrate
from ..tfenv import tf
from ..yamnet import Yamnet
from .engine import OnEpoch
from .evaluation import CVResult, assign_folds, check_duplicates, cross_validate
from .head import FINE_TUNE_FIELDS, TrainConfig, cfg_dict, head_fingerprint
from .openset_study import open_set_study


def _views(
    dataset: Dataset, yamnet: Yamnet, cfg: TrainConfig, cache_dir: Path | None, on_progress: Callable | None,
    background: Dataset | None = None,
) -> list[EmbeddingSet]:  # fmt: skip
    """The plain view (always first) and, with ``shifted_views``, the shifted ones (``view_shifts``); with a
    ``background`` set, each view ends with its clips as the sink class (:func:`with_background`)."""

    def view(shift: int) -> EmbeddingSet:
        data = embed_dataset(dataset, yamnet, cache_dir, shift=shift, on_progress=on_progress)
        if background is None:
            return data
        return with_background(data, embed_dataset(background, yamnet, cache_dir, shift=shift, on_progress=on_progress))

    plain = view(0)
    views = [plain]
    for shift in cfg.view_shifts if cfg.shifted_views else ():
        shifted = view(shift)
        keep = {d: i for i, d in enumerate(shifted.digests)}
        if [keep.get(d) for d in plain.digests] != list(range(len(plain))):
            raise PipelineError("the shifted view lost different clips than the plain view; rerun `embed`")
        views.append(shifted)
    return views


def inputs_hash(plain: EmbeddingSet) -> str:
    """sha256 over YAMNet's identity and every clip's (content digest, label, fold): what the head saw."""
    digest = hashlib.sha256(plain.yamnet_identity.encode())
    for d, label, fold in zip(plain.digests, plain.labels, plain.folds, strict=True):
        digest.update(f"{d}\t{plain.label_names[label]}\t{fold}\n".encode())
    return digest.hexdigest()


@dataclass
class TrainResult:
    out_dir: Path
    cv: CVResult
    report: dict[str, Any]


def train(
    dataset: Dataset,
    yamnet: Yamnet,
    out_dir: str | Path,
    cfg: TrainConfig | None = None,
    cache_dir: Path | None = None,
    on_message: OnMessage = ignore,
    on_progress: OnProgress | None = None,
    on_epoch: OnEpoch | None = None,
    background: Dataset | None = None,
) -> TrainResult:
    """Embed (cached), cross-validate, train the final head on all data and write ``out_dir``.

    ``background`` (:func:`pipeline.background.load_background`): sounds that are none of the classes; the
    heads learn them as a sink class, and the report counts false alarms on them (:mod:`pipeline.background`).

    ``out_dir`` receives ``head.keras``, ``head.json``, ``report.json``, ``report.html`` and the plots,
    all at once (staged, then swapped in): a failed run leaves the previous ones untouched. An export
    already in ``out_dir`` is kept when the new head is identical to the one it was made from (same
    weights), and removed otherwise, with a message, so no stale model is ever left beside a new head.

    Raises:
        OutputDirError: ``out_dir`` is a file, someone else's non-empty folder, or inside/above the data.
    """
    from ..report import write_report

    cfg = cfg or TrainConfig()
    say = on_message
    out_dir = check_output_dir(out_dir, dataset.root)
    started = time.perf_counter()
    tfm = tf()
    tfm.config.experimental.enable_op_determinism()
    if background is not None and cfg.fine_tune:
        raise PipelineError("--background and --fine-tune do not work together yet; drop one of them")
    views = _views(dataset, yamnet, cfg, cache_dir, on_progress, background)
    plain = views[0]
    embed_seconds = time.perf_counter() - started
    say(f"{len(plain)} clips embedded ({plain.stats.cached} from cache) in {embed_seconds:.1f} s")
    counts = np.bincount(plain.labels, minlength=len(plain.label_names))
    if counts.min() == 0:
        empty = plain.label_names[int(np.argmin(counts))]
        raise DatasetError(f"class '{empty}' has no clip that could be decoded; fix or remove its files")
    data_warnings = check_duplicates(plain)
    assign_folds(plain, cfg.stratified_folds, cfg.seed)  # refuses unusable folds before any training
    for message in data_warnings:
        say(f"warning: {message}")

    tuner, fine_tune_info = _tuner(plain, yamnet, cfg, say) if cfg.fine_tune else (None, None)
    cv, final = cross_validate(views, cfg, say, on_epoch, tuner=tuner)
    say(
        f"cross-validation ({cv.scheme}): mean clip accuracy {cv.mean_accuracy:.4f} "
        f"({cv.seconds:.1f} s, final head included{', fine-tuned' if cfg.fine_tune else ''})"
    )
    is_background = background_mask(plain)
    known = np.flatnonzero(~is_background)
    labels = known_names(plain)
    # q is "what YAMNet's scores on the training patches never reach": with tuned blocks the export emits
    # the tuned scores, so q comes from those too (cross_validate did the same per fold)
    final_yamnet = plain.patch_table(known, ("yamnet_scores",))[0] if final.tuned is None else final.tuned.yamnet
    open_set = calibrate(
        [f.out_of_fold for f in cv.folds if f.out_of_fold is not None], final_yamnet, budget=cfg.reject_budget
    )
    cal = open_set.calibration
    say(
        f"'unknown' decision: out-of-fold accuracy {cal['closed_accuracy']:.3f} -> {cal['open_accuracy']:.3f} "
        f"with {cal['rejected']:.1%} of clips rejected (budget {cfg.reject_budget:.0%})"
    )
    alarms = _false_alarms(cv, open_set, plain, labels, say) if is_background.any() else None
    study_start = time.perf_counter()
    study = open_set_study(views, cfg, on_message=say, on_epoch=on_epoch)
    study_seconds = time.perf_counter() - study_start

    head = final.head
    blocks = final.tuned.blocks if final.tuned is not None else None
    fingerprint = head_fingerprint(head, labels, cfg.features, open_set.to_json(), blocks)
    keep_export = _previous_fingerprint(out_dir) == fingerprint
    stale = [] if keep_export else [n for n in (*EXPORT_ARTIFACTS, *DERIVED_FROM_EXPORT) if (out_dir / n).exists()]
    replaced = TRAIN_ARTIFACTS + (MARKER,) + (() if keep_export else EXPORT_ARTIFACTS + DERIVED_FROM_EXPORT)
    with staged(out_dir, replaced) as stage:
        if final.tuned is not None:
            assert fine_tune_info is not None
            fine_tune_info["final_seconds"] = round(final.tuned.seconds, 2)
            fine_tune_info["final_loss_curve"] = [round(v, 4) for v in final.tuned.curve]
        save_head(
            stage, head, labels, cfg.features, yamnet, cfg.seed, inputs_hash(plain), open_set,
            tuned_blocks=blocks, fine_tune=fine_tune_info, background=_background_info(background, alarms),
        )  # fmt: skip
        (stage / MARKER).write_text(marker_text("classifier"))
        timing = {
            "embed_seconds": round(embed_seconds, 2),
            "cv_and_final_seconds": round(cv.seconds, 2),
            "open_set_study_seconds": round(study_seconds, 2),
            "total_seconds": round(time.perf_counter() - started, 2),
        }
        if fine_tune_info is not None:
            timing["fine_tune_block_inputs_seconds"] = fine_tune_info["block_inputs_seconds"]
            timing["fine_tune_seconds"] = round(sum(f.seconds for f in fine_tune_info.pop("_models")), 2)
        report = write_report(
            stage, dataset, plain, cv, cfg_dict(cfg), timing, final.best_epochs, final.history,
            warnings=data_warnings, open_set=open_set, study=study, fine_tune=fine_tune_info, background=alarms,
        )  # fmt: skip
    if stale:
        say(
            f"removed the export made from the previous head in {out_dir} ({', '.join(stale)}); "
            f"run `yamnet-tfjs export {out_dir}` to make one from the new head"
        )
    elif keep_export and (out_dir / EXPORT_ARTIFACTS[0]).exists():
        say(f"the export in {out_dir} was made from an identical head (same weights): kept")
    return TrainResult(out_dir, cv, report)


def _false_alarms(cv: CVResult, open_set: OpenSet, plain: EmbeddingSet, labels: list[str], say: OnMessage) -> dict:
    """The shipped decision on each fold's background files (out of fold), as ``report.json["background"]``."""
    parts = [f.background for f in cv.folds if f.background is not None]
    result = false_alarms(parts, open_set, lambda i: load_audio(plain.paths[i]), labels)
    result["clips"] = int(background_mask(plain).sum())
    if result["files"]:
        say(
            f"background: {result['false_alarms_per_hour']:.1f} false alarms per hour of out-of-fold background "
            f"audio ({result['events']} events in {result['hours'] * 60:.1f} min); {result['files_named']:.1%} of "
            "its files named as a class"
        )
    return result


def _background_info(background: Dataset | None, alarms: dict | None) -> dict | None:
    """head.json's record of the background set (None without one)."""
    if background is None or alarms is None:
        return None
    return {
        "folder": background.root.name,
        "clips": alarms["clips"],
        "trained_as": BACKGROUND_LABEL,
        "false_alarms_per_hour": alarms["false_alarms_per_hour"],
        "note": "the heads learned the background as an extra class whose probability the saved head drops: the "
        "classes' probabilities sum to less than one, and the rest raises the 'unknown' doubt",
    }


def _tuner(
    plain: EmbeddingSet, yamnet: Yamnet, cfg: TrainConfig, say: OnMessage
) -> tuple[Callable[..., list[Any]], dict[str, Any]]:
    """Stage 2 of ``--fine-tune`` for :func:`cross_validate`, and the record of it for head.json and the report.

    The block inputs are computed here, once per clip, before the engine runs (the engine's heads are
    then tuned one task after another by :mod:`.finetune`).
    """
    from .finetune import block_inputs, first_block, tune_all

    first = first_block(cfg)
    inputs = block_inputs(plain, yamnet, first, say)
    info: dict[str, Any] = {
        "blocks": list(range(first, 15)),
        "file": TUNED_BLOCKS,
        "recipe": {k: getattr(cfg, k) for k in FINE_TUNE_FIELDS if k != "fine_tune"},
        "block_inputs_seconds": round(inputs.seconds, 2),
        "note": "YAMNet's blocks listed here were tuned with the head; the export writes them into the graph, so "
        "its yamnet_scores come from the tuned embedding (not Google's YAMNet any more)",
    }

    def tune(rows: Any, tasks: list[Any], trained: list[Any]) -> list[Any]:
        models = tune_all(rows.table, tasks, trained, inputs, cfg, rows.plain_count, say)
        info["_models"] = models
        info["tasks"] = [
            {"name": t.name, "seconds": round(m.seconds, 2), "loss_curve": [round(v, 4) for v in m.curve],
             "init_max_prob_diff": float(f"{m.init_diff:.3g}")}
            for t, m in zip(tasks, models, strict=True)
        ]  # fmt: skip
        return models

    return tune, info


def save_head(
    folder: Path,
    head: Any,
    labels: list[str],
    features: tuple[str, ...] | list[str],
    yamnet: Yamnet,
    seed: int,
    trained_on: str,
    open_set: OpenSet | None = None,
    tuned_blocks: dict[str, np.ndarray] | None = None,
    fine_tune: dict[str, Any] | None = None,
    background: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``head.keras`` and its contract ``head.json`` (docs/contracts.md) into ``folder``; returns the JSON.

    ``trained_on`` is a hash of what the head saw (:func:`inputs_hash`); the weights' fingerprint lets a
    later ``train`` tell whether an export made from this head is still valid. With ``tuned_blocks``
    (``--fine-tune``) they go to ``tuned_blocks.npz`` and head.json's ``fine_tune`` says so (``fine_tune``:
    what was tuned, how, and the file's sha256): the head only means what it says with those blocks.
    """
    head.save(folder / HEAD_KERAS)
    info = {
        "labels": list(labels),
        "features": list(features),
        "num_features": int(sum(FEATURE_WIDTHS[f] for f in features)),
        "yamnet": {"handle": yamnet.handle, "identity": yamnet.identity},
        "sample_rate": SAMPLE_RATE,
        "patch_window_seconds": PATCH_WINDOW_SECONDS,
        "patch_hop_seconds": PATCH_HOP_SECONDS,
        "clip_aggregation": "mean of patch probabilities",
        "seed": seed,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "inputs_hash": trained_on,
        "weights_sha256": head_fingerprint(
            head, labels, features, open_set.to_json() if open_set else None, tuned_blocks
        ),
    }
    if tuned_blocks is not None:
        np.savez(folder / TUNED_BLOCKS, **tuned_blocks)
        info["fine_tune"] = {
            **{k: v for k, v in (fine_tune or {}).items() if not k.startswith("_")},
            "sha256": sha256_file(folder / TUNED_BLOCKS),
        }
    if open_set is not None:
        info["open_set"] = open_set.to_json()
    if background is not None:
        info["background"] = background
    (folder / HEAD_JSON).write_text(json.dumps(info, indent=2) + "\n")
    return info


def _previous_fingerprint(out_dir: Path) -> str | None:
    try:
        return json.loads((out_dir / HEAD_JSON).read_text(encoding="utf-8")).get("weights_sha256")
    except (OSError, ValueError, AttributeError):
        return None
