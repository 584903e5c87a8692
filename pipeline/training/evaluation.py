"""Evaluation: folds, cross-validation and metrics, kept honest.

Folds keep clips of one recording together: ESC-50's official folds, a manifest's folds (any
integers), or else a stratified split by clip that keeps identical files together. For each rotation a
head is trained on the other folds, with early stopping on a hold-out of *those* folds (never the test
fold), and scored on the test fold through plain patches, as the exported model sees audio. The
results (:class:`CVResult`) are plain data that the report reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..background import BackgroundFold, background_mask, known_names, sink_index
from ..embeddings import EmbeddingSet
from ..errors import DatasetError
from ..events import OnMessage, ignore
from ..openset import OutOfFold, yamnet_quantiles
from .engine import OnEpoch, Table, Task, TaskResult, train_tasks
from .head import TrainConfig, normalization, stratified_holdout


@dataclass
class FoldResult:
    fold: int
    accuracy: float
    patch_accuracy: float
    epochs: list[int]
    history: list[dict[str, list[float]]] = field(default_factory=list)
    out_of_fold: OutOfFold | None = None  # the test fold through this fold's head, for the open-set calibration
    frozen_accuracy: float | None = None  # with --fine-tune: the stage-1 (frozen YAMNet) head's accuracy
    background: BackgroundFold | None = None  # with --background: this fold's background through this head


@dataclass
class CVResult:
    """Cross-validation results: per-fold accuracy and the pooled clip predictions."""

    folds: list[FoldResult]
    y_true: np.ndarray
    y_pred: np.ndarray
    label_names: list[str]
    scheme: str
    seconds: float = 0.0  # training all folds (side by side) and scoring them

    @property
    def mean_accuracy(self) -> float:
        return float(np.mean([f.accuracy for f in self.folds]))

    def confusion(self) -> np.ndarray:
        """The pooled confusion matrix over all test folds (rows: true class, columns: predicted)."""
        return confusion_matrix(self.y_true, self.y_pred, len(self.label_names))

    def per_class(self) -> dict[str, dict[str, float]]:
        """Precision, recall, F1 and support per class, pooled over the test folds."""
        return per_class(self.confusion(), self.label_names)


def assign_folds(views: EmbeddingSet, k: int, seed: int) -> tuple[np.ndarray, str]:
    """The data set's own folds if it has them (any integers), else a stratified ``k``-fold split by clip.

    Clips with identical content (same sha256) always share a fold in the stratified split, so a
    copied file can never sit on both sides of it.

    Raises:
        DatasetError: the data set's folds are a single fold, or a class has fewer than 2 clips.
    """
    if views.has_folds:
        present = sorted(set(views.folds.tolist()))
        if len(present) < 2:
            raise DatasetError(
                f"every clip is in fold {present[0]}: evaluation needs at least two folds (train on some, "
                "test on another); give the manifest's rows two or more fold values, or leave the fold column out"
            )
        if set(present) == {1, 2, 3, 4, 5} and views.kind == "esc50":
            return views.folds.copy(), "ESC-50 official folds"
        return views.folds.copy(), f"the data set's {len(present)} folds ({', '.join(map(str, present))})"
    counts = np.bincount(views.labels, minlength=len(views.label_names))
    k = int(min(k, counts.min()))
    if k < 2:
        small = views.label_names[int(np.argmin(counts))]
        raise DatasetError(
            f"class '{small}' has {counts.min()} readable clip(s); evaluation needs at least 2 per class"
        )
    rng = np.random.default_rng(seed)
    folds = np.zeros(len(views), dtype=np.int64)
    groups = _content_groups(views)
    for label in range(len(views.label_names)):
        firsts = [g for g in groups if views.labels[g[0]] == label]
        for n, g in enumerate(rng.permutation(len(firsts))):
            folds[firsts[g]] = n % k + 1
    return folds, f"stratified {k}-fold split (no folds in the data set)"


def _content_groups(views: EmbeddingSet) -> list[list[int]]:
    """Clip indices grouped by file content (a group has several members only for duplicated files)."""
    groups: dict[str, list[int]] = {}
    for i, digest in enumerate(views.digests or [str(i) for i in range(len(views))]):
        groups.setdefault(digest, []).append(i)
    return list(groups.values())


def check_duplicates(views: EmbeddingSet) -> list[str]:
    """Refuse identical files in two folds (test clips leaking into training); warn about other duplicates.

    Returns warnings: identical files within one fold or label set (counted more than once).

    Raises:
        DatasetError: the same content in two different folds, or under two different labels.
    """
    warnings = []
    for group in _content_groups(views):
        if len(group) < 2:
            continue
        names = ", ".join(str(views.paths[i]) for i in group[:4]) + (" ..." if len(group) > 4 else "")
        if len({int(views.labels[i]) for i in group}) > 1:
            labels = sorted({views.label_names[views.labels[i]] for i in group})
            raise DatasetError(f"identical audio under different labels ({', '.join(labels)}): {names}; keep one")
        if views.has_folds and len({int(views.folds[i]) for i in group}) > 1:
            folds = sorted({int(views.folds[i]) for i in group})
            raise DatasetError(
                f"identical audio in folds {folds}: {names}; a test clip would also be a training clip. "
                "Keep one copy, or put the copies in the same fold"
            )
        warnings.append(f"identical audio counted {len(group)} times: {names}")
    return warnings


@dataclass
class Rows:
    """Every clip's patches as one table for the training engine: the plain view first, then any shifted
    views (training rows only). ``plain`` holds the plain rows' indices per clip; ``yamnet`` their YAMNet
    scores (the open-set decision's second input)."""

    table: Table
    views: list[EmbeddingSet]
    is_plain: np.ndarray  # [N] bool
    yamnet: np.ndarray  # [P, 521] for the plain rows (the first P rows)

    @property
    def plain_count(self) -> int:
        return len(self.yamnet)

    def plain_rows(self, clips: np.ndarray) -> np.ndarray:
        return np.flatnonzero(self.is_plain & np.isin(self.table.owner, clips))

    def train_rows(self, clips: np.ndarray) -> np.ndarray:
        return np.flatnonzero(np.isin(self.table.owner, clips))


def rows_of(views: list[EmbeddingSet], features: tuple[str, ...]) -> Rows:
    """The engine's table for ``views`` (plain view first; see :class:`Rows`)."""
    plain = views[0]
    everything = np.arange(len(plain))
    xs, ys, owners = [], [], []
    for view in views:
        x, y, owner = view.patch_table(everything, features)
        xs.append(x)
        ys.append(y)
        owners.append(owner)
    is_plain = np.zeros(sum(len(y) for y in ys), bool)
    is_plain[: len(ys[0])] = True
    table = Table(np.ascontiguousarray(np.concatenate(xs), np.float32), np.concatenate(ys), np.concatenate(owners),
                  len(plain.label_names))  # fmt: skip
    yamnet = plain.patch_table(everything, ("yamnet_scores",))[0]
    return Rows(table, views, is_plain, yamnet)


def make_task(rows: Rows, clips: np.ndarray, cfg: TrainConfig, seed: int, name: str,
              classes: np.ndarray | None = None) -> Task:  # fmt: skip
    """A head trained on ``clips`` (all views), early-stopped on a stratified hold-out of them (plain view only).

    With a background set (:mod:`pipeline.background`) its sink class, when among ``classes``, goes last and
    is dropped from the saved head."""
    labels = rows.views[0].labels
    held = stratified_holdout(labels[clips], cfg.validation_fraction, np.random.default_rng(seed))
    if not held.any() or held.all():
        raise DatasetError(
            f"too few training clips ({len(clips)}) to hold some out for early stopping: every class needs "
            "at least 2 clips in the training folds"
        )
    train_rows, val_rows = rows.train_rows(clips[~held]), rows.plain_rows(clips[held])
    mean, var = normalization(rows.table.x, cfg.features, train_rows)
    classes = np.arange(rows.table.n_classes) if classes is None else np.asarray(classes)
    sink = sink_index(rows.views[0])
    has_sink = sink is not None and sink in classes
    if has_sink:
        classes = np.append(classes[classes != sink], sink)
    return Task(name, train_rows, val_rows, mean, var, seed, classes, has_sink)


def predict_clips(head: Any, rows: Rows, clips: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(clip_probs [n, C], patch_probs [m, C], patch_rows [m])`` of ``clips``' plain patches; a clip's
    score is the mean of its patch probabilities, what the exported ``clip_scores`` computes."""
    patch_rows = rows.plain_rows(clips)
    return clip_means(head_probabilities(head, rows.table.x[patch_rows]), rows, clips, patch_rows)


def head_probabilities(head: Any, x: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """The head's patch probabilities for rows ``x``: the model called directly, ``chunk`` rows at a time.

    ``Model.predict`` builds a predict function per model, which costs more than the arithmetic of a fold's
    patches; training, the study and the report score every head they train."""
    if not len(x):
        return np.zeros((0, head.output_shape[-1]), np.float32)
    return np.concatenate([np.asarray(head(x[i : i + chunk], training=False)) for i in range(0, len(x), chunk)])


def clip_means(
    probs: np.ndarray, rows: Rows, clips: np.ndarray, patch_rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`predict_clips` from patch probabilities already computed (``probs`` row-aligned with ``patch_rows``)."""
    owner = rows.table.owner[patch_rows]
    index = {c: i for i, c in enumerate(clips)}
    slot = np.array([index[o] for o in owner])
    sums = np.zeros((len(clips), probs.shape[1]))
    np.add.at(sums, slot, probs)
    return sums / np.bincount(slot, minlength=len(clips))[:, None], probs, patch_rows


def out_of_fold(
    rows: Rows, clips: np.ndarray, truth: np.ndarray, clip_probs: np.ndarray, patch_probs: np.ndarray,
    patch_rows: np.ndarray, train_clips: np.ndarray, classes: np.ndarray | None = None,
    yamnet: np.ndarray | None = None,
) -> OutOfFold:  # fmt: skip
    """A head's test clips as the open-set calibration sees them (``truth`` in the head's class indices).

    ``yamnet``: YAMNet's scores for every plain row when they are not the cached ones (a fine-tuned
    model's tuned embedding moves them, and its export emits those, so ``q`` must be computed from them).
    """
    yamnet = rows.yamnet if yamnet is None else yamnet
    patch_yam = yamnet[patch_rows]
    slot = np.searchsorted(clips, rows.table.owner[patch_rows]) if np.all(np.diff(clips) > 0) else None
    if slot is None:
        index = {c: i for i, c in enumerate(clips)}
        slot = np.array([index[o] for o in rows.table.owner[patch_rows]])
    clip_yam = np.zeros((len(clips), patch_yam.shape[1]))
    np.add.at(clip_yam, slot, patch_yam)
    clip_yam /= np.bincount(slot, minlength=len(clips))[:, None]
    patch_truth = truth[slot]
    return OutOfFold(
        clip_probs=clip_probs,
        clip_yamnet=clip_yam,
        clip_correct=clip_probs.argmax(axis=1) == truth,
        patch_probs=patch_probs,
        patch_yamnet=patch_yam,
        patch_correct=patch_probs.argmax(axis=1) == patch_truth,
        q=yamnet_quantiles(yamnet[rows.plain_rows(train_clips)]),
    )


Tuner = Callable[[Rows, list[Task], list[TaskResult]], list[Any]]
"""Stage 2 of ``--fine-tune`` (:mod:`.finetune`): one TunedModel per task, from the engine's heads."""


def cross_validate(
    views: list[EmbeddingSet], cfg: TrainConfig, on_message: OnMessage = ignore, on_epoch: OnEpoch | None = None,
    tuner: Tuner | None = None,
) -> tuple[CVResult, TaskResult]:  # fmt: skip
    """Train on all folds but one and test on that one, for every fold (or ``cfg.folds``), and the final
    head on all clips: all of them side by side in one run of the engine. Returns the evaluation and the
    final head.

    With a background set (``views`` from :func:`pipeline.background.with_background`) every head also learns
    the sink class; accuracy, the confusion and the open-set calibration count the user's classes only, and
    each fold's background clips are kept (``FoldResult.background``) for the false-alarm count.

    With a ``tuner`` (``--fine-tune``), every head the engine trained is then fine-tuned with YAMNet's top
    blocks; each fold is scored, and the open-set decision calibrated, from the tuned model's own patch
    probabilities and YAMNet scores, and the final result carries its TunedModel (``TaskResult.tuned``)."""
    start = time.perf_counter()
    plain = views[0]
    folds, scheme = assign_folds(plain, cfg.stratified_folds, cfg.seed)
    test_folds = sorted(set(folds.tolist()))
    if cfg.folds:
        missing = sorted(set(cfg.folds) - set(test_folds))
        if missing:
            raise DatasetError(f"no fold(s) {missing} to test on; the data has folds {test_folds}")
        test_folds = sorted(cfg.folds)
    rows = rows_of(views, cfg.features)
    tasks = [make_task(rows, np.flatnonzero(folds != f), cfg, cfg.seed + f, f"fold {f}") for f in test_folds]
    tasks.append(make_task(rows, np.arange(len(plain)), cfg, cfg.seed, "final"))
    on_message(f"training {len(test_folds)} fold head(s) and the final head side by side ({cfg.ensemble} members each)")
    trained = train_tasks(rows.table, tasks, cfg, on_epoch)
    if tuner is not None:
        for result, tuned in zip(trained, tuner(rows, tasks, trained), strict=True):
            tuned.frozen_head = result.head
            result.head, result.tuned = tuned.head, tuned
    results, y_true, y_pred = [], [], []
    is_known = ~background_mask(plain)
    for fold, result in zip(test_folds, trained, strict=False):
        test, train = np.flatnonzero((folds == fold) & is_known), np.flatnonzero((folds != fold) & is_known)
        if result.tuned is None:
            clip_probs, patch_probs, patch_rows = predict_clips(result.head, rows, test)
        else:
            patch_rows = rows.plain_rows(test)
            clip_probs, patch_probs, patch_rows = clip_means(result.tuned.probs[patch_rows], rows, test, patch_rows)
        truth = plain.labels[test]
        pred = clip_probs.argmax(axis=1)
        acc = float((pred == truth).mean())
        patch_acc = float((patch_probs.argmax(axis=1) == rows.table.y[patch_rows]).mean())
        tuned_yamnet = None if result.tuned is None else result.tuned.yamnet
        oof = out_of_fold(rows, test, truth, clip_probs, patch_probs, patch_rows, train, yamnet=tuned_yamnet)
        results.append(FoldResult(fold, acc, patch_acc, result.best_epochs, result.history, oof))
        background = np.flatnonzero((folds == fold) & ~is_known)
        if len(background):
            results[-1].background = background_fold(result.head, rows, background, train)
        if result.tuned is not None:  # stage 1 on the same fold, for the report's comparison only
            frozen_probs = predict_clips(result.tuned.frozen_head, rows, test)[0]
            results[-1].frozen_accuracy = float((frozen_probs.argmax(axis=1) == truth).mean())
        y_true.append(truth)
        y_pred.append(pred)
        frozen = results[-1].frozen_accuracy
        tuned_note = "" if frozen is None else f", fine-tuned; frozen head {frozen:.3f}"
        epochs = result.best_epochs
        on_message(f"fold {fold}: clip accuracy {acc:.3f} (patch {patch_acc:.3f}, best epochs {epochs}{tuned_note})")
    cv = CVResult(results, np.concatenate(y_true), np.concatenate(y_pred), known_names(plain), scheme,
                  time.perf_counter() - start)  # fmt: skip
    return cv, trained[-1]


def unseen_background(head: Any, views: EmbeddingSet, features: tuple[str, ...]) -> BackgroundFold:
    """Every background clip of ``views`` (:func:`~pipeline.background.with_background`) through a ``head``
    trained without them, ``q`` from all the known clips: the same false-alarm count for a head that never had
    a background set (bench/bench_background.py's baseline row)."""
    mask = background_mask(views)
    if not mask.any():
        raise DatasetError("no background clips to judge")
    rows = rows_of([views], features)
    return background_fold(head, rows, np.flatnonzero(mask), np.flatnonzero(~mask))


def background_fold(head: Any, rows: Rows, clips: np.ndarray, known_train: np.ndarray) -> BackgroundFold:
    """A fold's background ``clips`` through ``head`` (which never saw them); ``q`` from its known training clips."""
    clip_probs, patch_probs, patch_rows = predict_clips(head, rows, clips)
    nowhere = np.full(len(clips), -1)
    oof = out_of_fold(rows, clips, nowhere, clip_probs, patch_probs, patch_rows, known_train)
    return BackgroundFold(oof, clips, rows.table.owner[patch_rows])


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    """``m[i, j]`` = clips of class ``i`` predicted as ``j``."""
    m = np.zeros((n, n), dtype=np.int64)
    np.add.at(m, (y_true, y_pred), 1)
    return m


def per_class(m: np.ndarray, labels: list[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support per class from a confusion matrix (0 where undefined)."""
    out = {}
    for i, label in enumerate(labels):
        tp = m[i, i]
        predicted, actual = m[:, i].sum(), m[i].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[label] = {
            "precision": round(float(precision), 4),
            "recall": round(float(recall), 4),
            "f1": round(float(f1), 4),
            "support": int(actual),
        }
    return out
