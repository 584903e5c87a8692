"""How well "none of my classes" works, measured in every ``train`` on classes the head never saw.

The shipped decision (:mod:`pipeline.openset`) can only be judged on sounds that are truly unknown, so
the study holds classes out: the classes are cut into :data:`SPLITS` disjoint groups, and for split ``s``
group ``s`` is unknown (never trained on, never used for any choice), tested on fold ``s`` as the folds
rotate. For each split, exactly what ``train`` does for real: a head on the known classes of the training
folds, inner heads (each trained on the training folds but one, for :data:`INNER_FOLDS` of them) whose
out-of-fold predictions calibrate the thresholds, then the test fold's known and unknown clips through the
head and the decision. Reported (``report.json["open_set"]``, fractions): AUROC of known vs unknown clips,
the known-class accuracy with rejection (a rejected known clip counts as wrong) and without, the share of
unknown clips rejected, and the same AUROC for the maximum probability alone (the baseline); the same for
single windows (one patch).
All heads of the study train side by side in one run of the engine. With a background set, every head
learns it as the shipped head does (the sink class, from its training folds); it is never held out and
never among the test clips.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..background import background_mask, sink_index
from ..embeddings import EmbeddingSet
from ..events import OnMessage, ignore
from ..openset import UNKNOWN, auroc, calibrate, scores
from .engine import OnEpoch, train_tasks
from .evaluation import assign_folds, make_task, out_of_fold, predict_clips, rows_of
from .head import TrainConfig

SPLITS = 5
"""Class splits (each holds a fifth of the classes out); split ``s`` is tested on the ``s``-th fold."""

MIN_CLASSES = 10
"""Below this many classes a fifth is too few unknown classes to say anything: the study is skipped."""

INNER_FOLDS = 2
"""Inner heads per split: each trains on all training folds but one and predicts that one, so the
thresholds are calibrated on out-of-fold predictions of heads as strong as the shipped one's folds (on
ESC-50: 640 known clips per split). Two of the four training folds halve the study's cost against a full
inner cross-validation; the thresholds then come from half as many clips."""

MIN_FOLDS = 3
"""A test fold plus at least two training folds for the inner cross-validation."""


def _mean(runs: list[dict[str, float]], key: str) -> float:
    return round(float(np.mean([r[key] for r in runs])), 4)


def open_set_study(
    views: list[EmbeddingSet], cfg: TrainConfig, on_message: OnMessage = ignore, on_epoch: OnEpoch | None = None
) -> dict[str, Any]:
    """The held-out-class study (see the module docstring); ``{"skipped": reason}`` when the data cannot say."""
    plain = views[0]
    sink = sink_index(plain)
    n_classes = len(plain.label_names) - (sink is not None)
    if n_classes < MIN_CLASSES:
        return {"skipped": f"{n_classes} classes: holding a fifth out needs at least {MIN_CLASSES}"}
    folds, _ = assign_folds(plain, cfg.stratified_folds, cfg.seed)
    fold_ids = sorted(set(folds.tolist()))
    if len(fold_ids) < MIN_FOLDS:
        return {"skipped": f"{len(fold_ids)} folds: the study needs a test fold and an inner cross-validation"}
    groups = np.array_split(np.random.default_rng(cfg.seed).permutation(n_classes), SPLITS)
    rows = rows_of(views, cfg.features)
    labels = plain.labels
    is_sink = background_mask(plain)
    plan, tasks = [], []
    for s, group in enumerate(groups):
        test_fold = fold_ids[s % len(fold_ids)]
        known = np.setdiff1d(np.arange(n_classes), group)
        is_known = np.isin(labels, known)
        learned = is_known | is_sink  # the sink (if any) is trained like a known class, never tested
        classes = known if sink is None else np.append(known, sink)
        outer_clips = np.flatnonzero((folds != test_fold) & is_known)
        inner = []
        others = [f for f in fold_ids if f != test_fold]
        start = fold_ids.index(test_fold) % len(others)
        for g in (others[(start + k) % len(others)] for k in range(min(INNER_FOLDS, len(others)))):
            train_clips = np.flatnonzero(~np.isin(folds, [test_fold, g]) & is_known)
            inner.append((g, train_clips, len(tasks) + 1 + len(inner)))
        plan.append((s, test_fold, known, outer_clips, inner, len(tasks)))
        with_sink = np.flatnonzero((folds != test_fold) & learned)
        tasks.append(make_task(rows, with_sink, cfg, cfg.seed + 1000 * (s + 1), f"split {s}", classes))
        for g, _, _ in inner:
            inner_clips = np.flatnonzero(~np.isin(folds, [test_fold, g]) & learned)
            tasks.append(make_task(rows, inner_clips, cfg, cfg.seed + 1000 * (s + 1) + g, f"split {s}/{g}", classes))
    on_message(f"open-set study: {len(tasks)} heads on {SPLITS} splits with a fifth of the classes held out")
    trained = train_tasks(rows.table, tasks, cfg, on_epoch)

    runs = []
    for s, test_fold, known, outer_clips, inner, outer_index in plan:
        position = np.full(len(plain.label_names), UNKNOWN)
        position[known] = np.arange(len(known))
        parts = []
        for g, train_clips, index in inner:
            clips = np.flatnonzero((folds == g) & np.isin(labels, known))
            clip_probs, patch_probs, patch_rows = predict_clips(trained[index].head, rows, clips)
            parts.append(out_of_fold(rows, clips, position[labels[clips]], clip_probs, patch_probs, patch_rows,
                                     train_clips))  # fmt: skip
        train_yam = rows.yamnet[rows.plain_rows(outer_clips)]
        decision = calibrate(parts, train_yam, budget=cfg.reject_budget)
        test = np.flatnonzero((folds == test_fold) & ~is_sink)
        clip_probs, patch_probs, patch_rows = predict_clips(trained[outer_index].head, rows, test)
        oof = out_of_fold(rows, test, position[labels[test]], clip_probs, patch_probs, patch_rows, outer_clips)
        runs.append(_judge(oof, position[labels[test]], position[rows.table.y[patch_rows]], decision, s, test_fold))
    result = {
        "auroc": _mean(runs, "auroc"),
        "known_accuracy": _mean(runs, "known_accuracy"),
        "closed_known_accuracy": _mean(runs, "closed_known_accuracy"),
        "unknown_rejected": _mean(runs, "unknown_rejected"),
        "baseline_auroc": _mean(runs, "baseline_auroc"),
        "window_auroc": _mean(runs, "window_auroc"),
        "window_unknown_rejected": _mean(runs, "window_unknown_rejected"),
        "budget": cfg.reject_budget,
        "splits": SPLITS,
        "runs": runs,
    }
    on_message(
        f"open-set study: AUROC {result['auroc']:.3f} (max probability alone {result['baseline_auroc']:.3f}); "
        f"{result['unknown_rejected']:.0%} of unknown clips rejected, known accuracy "
        f"{result['closed_known_accuracy']:.3f} -> {result['known_accuracy']:.3f}"
    )
    return result


def _judge(oof: Any, truth: np.ndarray, patch_truth: np.ndarray, decision: Any, split: int, fold: int) -> dict:
    """One split's numbers on its test fold: ``truth`` is the class position, or UNKNOWN for held-out classes."""
    known, unknown = truth != UNKNOWN, truth == UNKNOWN
    score = scores(oof.clip_probs, oof.clip_yamnet, decision.q, decision.weight)
    rejected = score > decision.threshold_clip
    doubt = 1 - oof.clip_probs.max(axis=1)  # the baseline: the maximum probability alone
    correct = (oof.clip_probs.argmax(axis=1) == truth) & known
    window = scores(oof.patch_probs, oof.patch_yamnet, decision.q, decision.weight)
    window_known, window_unknown = patch_truth != UNKNOWN, patch_truth == UNKNOWN
    return {
        "split": split,
        "test_fold": fold,
        "auroc": round(auroc(score[known], score[unknown]), 4),
        "baseline_auroc": round(auroc(doubt[known], doubt[unknown]), 4),
        "closed_known_accuracy": round(float(correct[known].mean()), 4),
        "known_accuracy": round(float((correct & ~rejected)[known].mean()), 4),
        "unknown_rejected": round(float(rejected[unknown].mean()), 4),
        "window_auroc": round(auroc(window[window_known], window[window_unknown]), 4),
        "window_unknown_rejected": round(float((window > decision.threshold_window)[window_unknown].mean()), 4),
    }
