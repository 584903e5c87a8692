"""The open-set decision's arithmetic, and Python and JavaScript deciding alike on the same outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.openset import UNKNOWN, OpenSet, auroc, budget_threshold, calibrate, decide, scores


def test_auroc_counts_pairs_and_ties():
    known, unknown = np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.35, 0.5])
    pairs = [(1.0 if u > k else 0.5 if u == k else 0.0) for k in known for u in unknown]
    assert auroc(known, unknown) == pytest.approx(np.mean(pairs))
    assert auroc(np.array([0.5, 0.5]), np.array([0.5])) == 0.5
    assert auroc(np.zeros(3), np.ones(2)) == 1.0


def test_budget_threshold_keeps_accuracy_within_the_budget():
    rng = np.random.default_rng(0)
    score = rng.uniform(size=1000)
    correct = rng.uniform(size=1000) > score * 0.8  # wrong answers tend to have high scores
    for budget in (0.0, 0.01, 0.02, 0.05):
        t = budget_threshold(score, correct, budget)
        kept_accuracy = (correct & (score <= t)).mean()
        assert kept_accuracy >= correct.mean() - budget - 1e-9
        # the lowest such threshold: rejecting one more (the next lower score) would break the budget
        lower = score[score <= t]
        if len(lower):
            nxt = lower.max()
            assert (correct & (score < nxt)).mean() < correct.mean() - budget - 1e-12 or nxt == score.min()
    assert budget_threshold(np.array([0.9]), np.array([True]), 0.0) == float("inf")


def test_calibration_rejects_surprising_inputs_and_decides_per_input():
    rng = np.random.default_rng(1)
    n, c = 400, 4
    probs = rng.dirichlet(np.ones(c) * 0.3, size=n)
    labels = np.where(rng.uniform(size=n) < 0.8, probs.argmax(1), rng.integers(0, c, n))
    yam = rng.uniform(0, 0.2, size=(n, 521)).astype(np.float32)
    from pipeline.openset import OutOfFold, yamnet_quantiles

    correct = probs.argmax(1) == labels
    part = OutOfFold(probs, yam, correct, probs, yam, correct, yamnet_quantiles(yam))
    cfg = calibrate([part], yam, budget=0.02)
    assert cfg.calibration["open_accuracy"] >= cfg.calibration["closed_accuracy"] - 0.02 - 1e-9
    loud = yam[0].copy()
    loud[137] = 0.99  # an AudioSet class none of the known sounds ever fired
    label, score = decide(probs[0], loud[None], cfg)
    assert label == UNKNOWN and score > cfg.threshold_clip
    sure = np.eye(c)[2] * 0.999 + 0.00025
    label, score = decide(sure, np.zeros((3, 521)), cfg)
    assert label == 2 and score == pytest.approx(1 - sure.max() + cfg.weight * float((-cfg.q).max()), abs=1e-6)
    again = OpenSet.from_json(json.loads(json.dumps(cfg.to_json())))
    assert again.threshold_clip == cfg.threshold_clip and np.allclose(again.q, cfg.q)


def test_javascript_decides_exactly_like_python(tmp_path):
    """model.js's openSetDecision and pipeline.openset.decide on the same outputs: the same label, the
    same score to 1e-12, windows and files, near the threshold too."""
    from tests.support import run_web_module

    rng = np.random.default_rng(2)
    q = rng.uniform(0.05, 0.6, 521).astype(np.float32)
    cases = []
    for i in range(60):
        patches = int(rng.integers(1, 12))
        p = rng.dirichlet(np.ones(5) * 0.5).astype(np.float32)
        y = rng.uniform(0, 0.7, (patches, 521)).astype(np.float32)
        cases.append((p, y, bool(i % 2)))
    probe = scores(np.stack([c[0] for c in cases]), np.stack([c[1].mean(0) for c in cases]), q, 1.2)
    cfg = OpenSet(q=q, threshold_clip=float(np.median(probe)), threshold_window=float(np.quantile(probe, 0.3)))
    payload = {
        "open_set": cfg.to_json(),
        "cases": [{"p": p.tolist(), "y": y.ravel().tolist(), "n": len(y), "window": w} for p, y, w in cases],
    }
    js = run_web_module(
        tmp_path, "model.js", "openSetDecision", payload,
        "data.cases.map((c) => openSetDecision({clip_scores: {data: Float32Array.from(c.p)},"
        " yamnet_scores: {data: Float32Array.from(c.y), shape: [c.n, 521]}}, data.open_set, c.window))",
    )  # fmt: skip
    labels = []
    for (p, y, window), got in zip(cases, js, strict=True):
        label, score = decide(p, y, cfg, window=window)
        assert got["label"] == label and got["score"] == pytest.approx(score, abs=1e-12)
        labels.append(label)
    assert UNKNOWN in labels and any(label != UNKNOWN for label in labels)


def test_held_out_class_study_on_real_clips(yamnet, tmp_path):
    """The study on 10 real ESC-50 classes x 3 folds: every figure a fraction, the decision better than chance."""
    from pipeline.datasets import load_dataset
    from pipeline.embeddings import embed_dataset
    from pipeline.training import TrainConfig
    from pipeline.training.openset_study import open_set_study
    from tests.conftest import ESC50_DIR

    ds = load_dataset(ESC50_DIR)
    classes = sorted({c.label for c in ds.clips})[:10]
    views = [embed_dataset(ds.subset(classes=classes, folds=[1, 2, 3]), yamnet, tmp_path / "cache")]
    said: list[str] = []
    study = open_set_study(views, TrainConfig(max_epochs=12, patience=4), said.append)
    for key in ("auroc", "known_accuracy", "closed_known_accuracy", "unknown_rejected", "baseline_auroc"):
        assert 0.0 <= study[key] <= 1.0, key
    assert study["auroc"] > 0.7 and study["baseline_auroc"] > 0.5
    assert study["known_accuracy"] <= study["closed_known_accuracy"]  # rejecting a known clip counts as wrong
    assert len(study["runs"]) == 5 and {r["test_fold"] for r in study["runs"]} == {1, 2, 3}
    assert any("open-set study: AUROC" in m for m in said)
