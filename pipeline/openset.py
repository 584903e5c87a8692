""" "None of my classes": the open-set decision a head ships with, and how it is calibrated.

A softmax head always names one of its classes. The decision adds a rejection score computed from two
outputs the exported graph already has, so every runtime can apply it with a dozen lines:

    score = (1 - max_c p_c) + weight * max_j (y_j - q_j)        unknown if score > threshold

* ``p``: the class probabilities of the clip or window (``clip_scores``: the mean over its patches);
* ``y``: the mean over the same patches of YAMNet's own 521 AudioSet scores (``yamnet_scores``);
* ``q``: per AudioSet class, a high percentile of YAMNet's score over the training patches of the user's
  classes: "what the known sounds never fire". A sound far from every known class lights up some
  AudioSet class (speech, music, a door) more than any training patch did.

The thresholds come from out-of-fold predictions of the cross-validation (never a test fold): the
lowest threshold that keeps the out-of-fold accuracy, counting a rejected clip as wrong, within a budget
of the closed-set accuracy. ``threshold_clip`` is for a whole file, ``threshold_window`` for one live
window of one patch. docs/open-set.md has what each ingredient bought on ESC-50 and why per-class
precision thresholds and feature-space distances were not shipped. The JavaScript twin is
``openSetDecision`` in ``web_demo/src/model.js``; parity checks both sides decide alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

UNKNOWN = -1
"""The label index of "none of my classes"."""

UNKNOWN_LABEL = "unknown"
"""How the decision names it to people (``predict``'s JSON, the page)."""

QUANTILE = 0.995
"""Percentile of YAMNet's training-patch scores above which a class counts as surprising."""

WEIGHT = 1.2
"""Weight of YAMNet's surprise against the head's doubt. Fitted on ESC-50 with classes held out inside the
training folds (pseudo-unknowns, 1.08-1.32 across runs), never on the classes evaluated as unknown."""

RULE = "score = (1 - max(clip_scores)) + weight * max_j(mean(yamnet_scores)_j - q_j); unknown if > threshold"
"""The rule in words, written beside the numbers in head.json and metadata.json."""

BUDGET = 0.02
"""Default: the most known-class accuracy (a fraction) the rejection may cost on out-of-fold clips."""


@dataclass
class OpenSet:
    """The decision's constants, shipped in ``head.json`` and ``metadata.json`` under ``open_set``."""

    q: np.ndarray  # [521]
    threshold_clip: float
    threshold_window: float
    weight: float = WEIGHT
    quantile: float = QUANTILE
    budget: float = BUDGET
    calibration: dict[str, Any] = field(default_factory=dict)  # out-of-fold accuracies, counts

    def __post_init__(self) -> None:
        # Six decimals, float64: exactly the numbers JSON carries to JavaScript, so both sides compute alike.
        self.q = np.round(np.asarray(self.q, np.float64), 6)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["q"] = [float(v) for v in self.q]
        out["rule"] = RULE
        return out

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> OpenSet:
        fields = {k: value[k] for k in ("threshold_clip", "threshold_window", "weight", "quantile", "budget")}
        return cls(q=np.asarray(value["q"], np.float64), calibration=dict(value.get("calibration") or {}), **fields)

    def threshold(self, window: bool) -> float:
        return self.threshold_window if window else self.threshold_clip


def yamnet_quantiles(train_patch_scores: np.ndarray, quantile: float = QUANTILE) -> np.ndarray:
    """``q`` [521]: per AudioSet class, the ``quantile`` of YAMNet's score over the known training patches."""
    # class by class over a contiguous transposed copy: the same values, faster than along axis 0
    by_class = np.ascontiguousarray(np.asarray(train_patch_scores).T, dtype=np.float64)
    return np.quantile(by_class, quantile, axis=1).astype(np.float32)


def scores(probs: np.ndarray, yamnet_mean: np.ndarray, q: np.ndarray, weight: float = WEIGHT) -> np.ndarray:
    """Rejection scores of rows of class probabilities ``[n, C]`` and mean YAMNet scores ``[n, 521]``."""
    probs, yamnet_mean = np.atleast_2d(probs), np.atleast_2d(yamnet_mean)
    return (1.0 - probs.max(axis=1)) + weight * (yamnet_mean - q).max(axis=1)


def decide(clip_scores: np.ndarray, yamnet_scores: np.ndarray, cfg: OpenSet, window: bool = False) -> tuple[int, float]:
    """``(class index or UNKNOWN, score)`` for one input: its ``clip_scores`` [C] and ``yamnet_scores`` [N, 521].

    ``window``: the input is one live window (``threshold_window``); else a whole file (``threshold_clip``).
    """
    # float64 throughout, as JavaScript's numbers: both sides then agree to ~1e-15, not float32's ~1e-7.
    y = np.asarray(yamnet_scores, np.float64).reshape(-1, len(cfg.q)).mean(axis=0)
    p = np.asarray(clip_scores, np.float64)
    score = float(scores(p[None], y[None], cfg.q, cfg.weight)[0])
    return (UNKNOWN if score > cfg.threshold(window) else int(np.argmax(clip_scores))), score


def budget_threshold(score: np.ndarray, correct: np.ndarray, budget: float = BUDGET) -> float:
    """The lowest ``T`` such that the accuracy with rejection (``score > T`` counts as wrong) stays within
    ``budget`` of the accuracy without it. ``inf`` (never reject) when even one rejection costs too much."""
    score, correct = np.asarray(score, np.float64), np.asarray(correct, bool)
    if not len(score):
        return float("inf")
    order = np.argsort(-score, kind="stable")
    kept_correct = correct[order].astype(np.float64)
    # accuracy when the k highest scores are rejected, for k = 0..n
    accuracy = (kept_correct.sum() - np.concatenate([[0.0], np.cumsum(kept_correct)])) / len(score)
    k = int(np.flatnonzero(accuracy >= correct.mean() - budget - 1e-12).max())
    if k == 0:
        return float("inf")
    s = score[order]
    if k < len(s) and s[k - 1] != s[k]:
        return float((s[k - 1] + s[k]) / 2)
    return float(s[min(k, len(s) - 1)])


@dataclass
class OutOfFold:
    """One cross-validation head's view of its test fold, for calibration (all arrays row-aligned).

    ``clip_probs`` [n, C], ``clip_yamnet`` [n, 521] (mean over each clip's patches), ``clip_correct`` [n];
    the same per patch (``patch_*``, [m, ...]); ``q``: :func:`yamnet_quantiles` of the head's own training
    patches, so the test fold is judged as the shipped decision will judge new sounds.
    """

    clip_probs: np.ndarray
    clip_yamnet: np.ndarray
    clip_correct: np.ndarray
    patch_probs: np.ndarray
    patch_yamnet: np.ndarray
    patch_correct: np.ndarray
    q: np.ndarray


def calibrate(
    folds: list[OutOfFold], final_train_yamnet: np.ndarray, budget: float = BUDGET, weight: float = WEIGHT
) -> OpenSet:
    """Thresholds from out-of-fold predictions (each head's own ``q``); the shipped ``q`` from all training patches."""
    clip_s, clip_c, patch_s, patch_c = [], [], [], []
    for part in folds:
        q = part.q
        clip_s.append(scores(part.clip_probs, part.clip_yamnet, q, weight))
        clip_c.append(part.clip_correct)
        patch_s.append(scores(part.patch_probs, part.patch_yamnet, q, weight))
        patch_c.append(part.patch_correct)
    cs, cc, ps, pc = (np.concatenate(x) for x in (clip_s, clip_c, patch_s, patch_c))
    t_clip, t_window = budget_threshold(cs, cc, budget), budget_threshold(ps, pc, budget)
    calibration = {
        "out_of_fold_clips": len(cs),
        "closed_accuracy": round(float(cc.mean()), 4),
        "open_accuracy": round(float((cc & (cs <= t_clip)).mean()), 4),
        "rejected": round(float((cs > t_clip).mean()), 4),
        "out_of_fold_windows": len(ps),
        "closed_window_accuracy": round(float(pc.mean()), 4),
        "open_window_accuracy": round(float((pc & (ps <= t_window)).mean()), 4),
    }
    return OpenSet(
        q=yamnet_quantiles(final_train_yamnet),
        threshold_clip=t_clip,
        threshold_window=t_window,
        weight=weight,
        budget=budget,
        calibration=calibration,
    )


def auroc(known: np.ndarray, unknown: np.ndarray) -> float:
    """Area under the ROC curve of telling unknown (positive, higher score) from known inputs (ties count half)."""
    known, unknown = np.asarray(known, np.float64), np.asarray(unknown, np.float64)
    if not len(known) or not len(unknown):
        return float("nan")
    allv = np.concatenate([known, unknown])
    order = np.argsort(allv, kind="mergesort")
    ranks = np.empty(len(allv))
    sorted_v = allv[order]
    i = 0
    while i < len(sorted_v):  # average ranks over ties
        j = i
        while j + 1 < len(sorted_v) and sorted_v[j + 1] == sorted_v[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    r_unknown = ranks[len(known) :].sum()
    return float((r_unknown - len(unknown) * (len(unknown) + 1) / 2) / (len(known) * len(unknown)))
