"""Evaluation: folds, cross-validation and metrics, kept honest.

Folds keep clips of one recording together: ESC-50's official folds, a manifest's folds (any
integers), or else a stratified split by clip that keeps identical files together. For each rotation a
head is trained on the other folds, with early stopping on a hold-out of *those* folds (never the test
fold), and scored on the test fold through plain patches, as the exported model sees audio. The
results (:class:`CVResult`) are plain data that the report reads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..embeddings import EmbeddingSet
from ..errors import DatasetError
from ..events import OnMessage, ignore
from .head import TrainConfig, fit_head


@dataclass
class FoldResult:
    fold: int
    accuracy: float
    patch_accuracy: float
    epochs: list[int]
    seconds: float
    history: list[dict[str, list[float]]] = field(default_factory=list)


@dataclass
class CVResult:
    """Cross-validation results: per-fold accuracy and the pooled clip predictions."""

    folds: list[FoldResult]
    y_true: np.ndarray
    y_pred: np.ndarray
    label_names: list[str]
    scheme: str

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


def clip_probabilities(head: Any, views: EmbeddingSet, clips: np.ndarray, features: tuple[str, ...]) -> np.ndarray:
    """Mean of per-patch probabilities for each clip (what the exported ``clip_scores`` computes)."""
    x, _, owner = views.patch_table(clips, features)
    probs = head.predict(x, batch_size=4096, verbose=0)
    sums = np.zeros((len(views), probs.shape[1]))
    np.add.at(sums, owner, probs)
    counts = np.bincount(owner, minlength=len(views))[clips]
    return sums[clips] / counts[:, None]


def cross_validate(
    train_views: list[EmbeddingSet], cfg: TrainConfig, on_message: OnMessage = ignore
) -> CVResult:
    """Train on all folds but one and test on that one, for every fold (or ``cfg.folds``)."""
    plain = train_views[0]
    folds, scheme = assign_folds(plain, cfg.stratified_folds, cfg.seed)
    test_folds = sorted(set(folds.tolist()))
    if cfg.folds:
        missing = sorted(set(cfg.folds) - set(test_folds))
        if missing:
            raise DatasetError(f"no fold(s) {missing} to test on; the data has folds {test_folds}")
        test_folds = sorted(cfg.folds)
    results, y_true, y_pred = [], [], []
    for fold in test_folds:
        start = time.perf_counter()
        test = np.flatnonzero(folds == fold)
        train = np.flatnonzero(folds != fold)
        head, epochs, hist = fit_head(train_views, train, cfg, cfg.seed + fold)
        probs = clip_probabilities(head, plain, test, cfg.features)
        pred = probs.argmax(axis=1)
        x, y, _ = plain.patch_table(test, cfg.features)
        patch_acc = float((head.predict(x, batch_size=4096, verbose=0).argmax(axis=1) == y).mean())
        acc = float((pred == plain.labels[test]).mean())
        results.append(FoldResult(fold, acc, patch_acc, epochs, time.perf_counter() - start, hist))
        y_true.append(plain.labels[test])
        y_pred.append(pred)
        on_message(
            f"fold {fold}: clip accuracy {acc:.3f} (patch {patch_acc:.3f}, epochs {epochs}, "
            f"{results[-1].seconds:.1f} s)"
        )
    return CVResult(results, np.concatenate(y_true), np.concatenate(y_pred), plain.label_names, scheme)


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
