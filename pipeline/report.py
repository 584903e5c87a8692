"""The training report: ``report.json`` for machines, ``report.html`` + PNG plots for people.

``report.json`` holds at least ``cv.fold_accuracy``, ``cv.mean_accuracy`` and per-class precision
and recall (the export copies a summary into ``metadata.json``). The HTML page is self-contained
apart from its two PNGs (confusion matrix, training curves), drawn with matplotlib's Agg backend so
no display is needed.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .datasets import Dataset
    from .embeddings import EmbeddingSet
    from .train import CVResult


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


def write_report(
    out_dir: Path,
    dataset: Dataset,
    plain: EmbeddingSet,
    cv: CVResult,
    config: dict[str, Any],
    timing: dict[str, float],
    final_epochs: list[int],
    final_history: list[dict[str, list[float]]],
) -> dict[str, Any]:
    """Write report.json, report.html, confusion.png and curves.png into ``out_dir``; return the JSON."""
    labels = cv.label_names
    m = confusion_matrix(cv.y_true, cv.y_pred, len(labels))
    accs = [f.accuracy for f in cv.folds]
    report = {
        "dataset": {
            "root": str(dataset.root),
            "format": dataset.kind,
            "clips": len(plain),
            "classes": len(labels),
            "class_counts": {
                label: int(n) for label, n in zip(labels, np.bincount(plain.labels, minlength=len(labels)), strict=True)
            },
            "skipped": [{"path": str(p), "problem": why} for p, why in plain.skipped],
            "warnings": list(dataset.warnings),
        },
        "evaluation": {
            "scheme": cv.scheme,
            "clip_score": "mean of per-patch probabilities (as the exported model)",
            "test_view": "plain YAMNet patches (0.48 s hop), as the exported model sees audio",
        },
        "cv": {
            "folds": [f.fold for f in cv.folds],
            "fold_accuracy": [round(a, 4) for a in accs],
            "mean_accuracy": round(float(np.mean(accs)), 4),
            "std_accuracy": round(float(np.std(accs)), 4),
            "fold_patch_accuracy": [round(f.patch_accuracy, 4) for f in cv.folds],
            "fold_epochs": [f.epochs for f in cv.folds],
            "pooled_accuracy": round(float((cv.y_true == cv.y_pred).mean()), 4),
            "per_class": per_class(m, labels),
            "confusion_matrix": m.tolist(),
        },
        "final": {"epochs": final_epochs, "clips": len(plain)},
        "config": config,
        "timing": timing,
    }
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    _plot_confusion(m, labels, out_dir / "confusion.png")
    _plot_curves(cv, final_history, out_dir / "curves.png")
    (out_dir / "report.html").write_text(_html(report))
    return report


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_confusion(m: np.ndarray, labels: list[str], path: Path) -> None:
    plt = _pyplot()
    n = len(labels)
    size = max(5.0, 0.22 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size), dpi=100)
    rows = np.maximum(m.sum(axis=1, keepdims=True), 1)
    ax.imshow(m / rows, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=90, fontsize=7 if n > 20 else 9)
    ax.set_yticks(range(n), labels, fontsize=7 if n > 20 else 9)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("cross-validation confusion matrix (row-normalised)")
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if m[i, j]:
                    ax.text(
                        j,
                        i,
                        str(m[i, j]),
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if m[i, j] / rows[i, 0] > 0.5 else "black",
                    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_curves(cv: CVResult, final_history: list[dict[str, list[float]]], path: Path) -> None:
    plt = _pyplot()
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    runs = [(f"fold {f.fold}", h) for f in cv.folds for h in f.history[:1]] + [("final", h) for h in final_history[:1]]
    for name, hist in runs:
        (line,) = loss_ax.plot(hist["loss"], lw=1, label=f"{name} train")
        loss_ax.plot(hist["val_loss"], lw=1, ls="--", color=line.get_color())
        acc_ax.plot(hist["val_accuracy"], lw=1, color=line.get_color(), label=name)
    loss_ax.set_title("loss (solid: train, dashed: early-stopping hold-out)")
    loss_ax.set_xlabel("epoch")
    acc_ax.set_title("hold-out patch accuracy")
    acc_ax.set_xlabel("epoch")
    acc_ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _html(report: dict[str, Any]) -> str:
    cv, ds = report["cv"], report["dataset"]
    esc = html.escape
    fold_rows = "".join(
        f"<tr><td>{f}</td><td>{a:.4f}</td><td>{p:.4f}</td><td>{esc(str(e))}</td></tr>"
        for f, a, p, e in zip(
            cv["folds"], cv["fold_accuracy"], cv["fold_patch_accuracy"], cv["fold_epochs"], strict=True
        )
    )
    class_rows = "".join(
        f"<tr><td>{esc(name)}</td><td>{r['precision']:.3f}</td><td>{r['recall']:.3f}</td><td>{r['f1']:.3f}</td>"
        f"<td>{r['support']}</td></tr>"
        for name, r in sorted(cv["per_class"].items(), key=lambda kv: kv[1]["f1"])
    )
    skipped = "".join(f"<li>{esc(s['path'])}: {esc(s['problem'])}</li>" for s in ds["skipped"]) or "<li>none</li>"
    warnings = "".join(f"<li>{esc(w)}</li>" for w in ds["warnings"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Training report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}img{{max-width:100%}}</style></head><body>
<h1>Training report</h1>
<p><b>Mean clip accuracy: {cv["mean_accuracy"]:.4f}</b> (± {cv["std_accuracy"]:.4f} over {len(cv["folds"])} folds),
{esc(report["evaluation"]["scheme"])}. A clip's score is the {esc(report["evaluation"]["clip_score"])}; test folds use
{esc(report["evaluation"]["test_view"])}.</p>
<p>Data: {esc(ds["root"])} ({esc(ds["format"])}), {ds["clips"]} clips, {ds["classes"]} classes.</p>
{f"<ul>{warnings}</ul>" if warnings else ""}
<h2>Folds</h2>
<table><tr><th>test fold</th><th>clip accuracy</th><th>patch accuracy</th><th>epochs</th></tr>{fold_rows}</table>
<h2>Confusion matrix</h2><img src="confusion.png" alt="confusion matrix">
<h2>Training curves</h2><img src="curves.png" alt="training curves">
<h2>Per class (worst F1 first)</h2>
<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>clips</th></tr>{class_rows}</table>
<h2>Skipped files</h2><ul>{skipped}</ul>
<h2>Settings</h2><pre>{esc(json.dumps(report["config"], indent=2))}</pre>
<p>Timing: {esc(json.dumps(report["timing"]))}</p>
</body></html>
"""
