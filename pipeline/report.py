"""The training report: ``report.json`` for machines, ``report.html`` + PNG plots for people.

``report.json`` holds at least ``cv.fold_accuracy``, ``cv.mean_accuracy`` and per-class precision
and recall (the export copies a summary into ``metadata.json``). The HTML page is self-contained
apart from its two PNGs (confusion matrix, training curves), drawn with matplotlib's Agg backend so
no display is needed.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .atomic import write_text_atomic
from .layout import (
    CONFUSION_PNG,
    CURVES_PNG,
    METADATA_JSON,
    OUTPUTS,
    PARITY_JSON,
    REPORT_HTML,
    REPORT_JSON,
    SITE_DIR,
    ParityRecord,
    read_json,
    read_parity,
    read_report,
)

if TYPE_CHECKING:
    from .datasets import Dataset
    from .embeddings import EmbeddingSet
    from .openset import OpenSet
    from .training.evaluation import CVResult


def write_report(
    out_dir: Path,
    dataset: Dataset,
    plain: EmbeddingSet,
    cv: CVResult,
    config: dict[str, Any],
    timing: dict[str, float],
    final_epochs: list[int],
    final_history: list[dict[str, list[float]]],
    warnings: list[str] | None = None,
    open_set: OpenSet | None = None,
    study: dict[str, Any] | None = None,
    fine_tune: dict[str, Any] | None = None,
    background: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write report.json, report.html, confusion.png and curves.png into ``out_dir``; return the JSON.

    ``background``: with ``--background``, its false alarms (:func:`pipeline.background.false_alarms`); the
    data set's counts are then the user's classes only (``plain`` also holds the background clips).

    ``warnings`` are training's findings about the data (duplicates, classes in one fold only), shown
    beside the data set's own warnings. ``fine_tune``: what ``--fine-tune`` tuned and how (the CV numbers
    are then the tuned model's; each fold's frozen-head accuracy is kept beside them for comparison).
    """
    labels = cv.label_names
    m = cv.confusion()
    accs = [f.accuracy for f in cv.folds]
    counts = np.bincount(plain.labels, minlength=len(plain.label_names))[: len(labels)]
    report = {
        "dataset": {
            "root": str(Path(dataset.root).resolve()),  # absolute: `parity` may run from another folder
            "format": dataset.kind,
            "clips": int(counts.sum()),
            "classes": len(labels),
            "class_counts": {label: int(n) for label, n in zip(labels, counts, strict=True)},
            "skipped": [{"path": str(p), "problem": why} for p, why in plain.skipped],
            "warnings": [*dataset.warnings, *(warnings or [])],
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
            "per_class": cv.per_class(),
            "confusion_matrix": m.tolist(),
        },
        "final": {"epochs": final_epochs, "clips": len(plain)},
        "background": background,
        "decision": open_set.to_json() | {"q": "in head.json"} if open_set else None,
        "open_set": study,
        "config": config,
        "timing": timing,
    }
    if fine_tune is not None:
        frozen = [f.frozen_accuracy for f in cv.folds]
        report["fine_tune"] = {
            **fine_tune,
            "fold_frozen_accuracy": [round(a, 4) if a is not None else None for a in frozen],
            "frozen_mean_accuracy": round(float(np.mean(frozen)), 4) if None not in frozen else None,
        }
        report["open_set"] = (study or {}) | {"note": "the held-out-class study trains frozen heads (not fine-tuned)"}
    (out_dir / REPORT_JSON).write_text(json.dumps(report, indent=2) + "\n")
    with _any_script_fonts():
        _plot_confusion(m, labels, out_dir / CONFUSION_PNG)
        _plot_curves(cv, final_history, out_dir / CURVES_PNG)
    (out_dir / REPORT_HTML).write_text(_html(report))
    return report


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


_NOT_TEXT_FONTS = ("DejaVu Math", "STIX", "cm", "Last Resort")


@contextmanager
def _any_script_fonts() -> Iterator[None]:
    """Plot labels in any script (class names are the user's folder names): DejaVu Sans first, then every
    other installed text font (e.g. Noto CJK where present), then matplotlib's Last Resort font, which
    draws a box naming the Unicode block for a character no font has. No "Glyph missing" warnings."""
    import logging
    import warnings

    from matplotlib import font_manager

    plt = _pyplot()
    names = {f.name for f in font_manager.fontManager.ttflist}
    others = sorted(n for n in names if n != "DejaVu Sans" and not n.startswith(_NOT_TEXT_FONTS))
    families = ["DejaVu Sans", *others, *(n for n in names if n.startswith("Last Resort"))]
    # font_manager logs "findfont: Failed to find font weight ..." for every family of the fallback
    # list that lacks a weight; the fallback working as designed is not news for the user.
    font_log = logging.getLogger("matplotlib.font_manager")
    level = font_log.level
    font_log.setLevel(logging.ERROR)
    try:
        with plt.rc_context({"font.family": families}), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Glyph .* missing from")
            yield
    finally:
        font_log.setLevel(level)


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
    ax.set_title("confusion matrix: numbers are clips, colour is the share of the true class")
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
    acc_ax.set_title("early-stopping hold-out (training folds), patch accuracy")
    acc_ax.set_xlabel("epoch")
    acc_ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_run_report(out_dir: Path) -> Path:
    """Rewrite ``out_dir/report.html`` with everything known about the model, not just training.

    Reads ``report.json`` (training), and when present ``metadata.json`` (export: sizes per variant),
    ``parity.json`` (Python vs JS) and ``site/`` (the demo), so the page grows with the stages run.
    """
    out_dir = Path(out_dir)
    report = read_report(out_dir)
    if report is None or not report.cv:
        raise FileNotFoundError(f"{out_dir / REPORT_JSON}: no training report to build on")
    site = f"{SITE_DIR}/index.html" if (out_dir / SITE_DIR / "index.html").is_file() else None
    page = _html(report.raw, metadata=read_json(out_dir / METADATA_JSON), parity=read_parity(out_dir), site=site)
    write_text_atomic(out_dir / REPORT_HTML, page)
    return out_dir / REPORT_HTML


def _model_section(metadata: dict[str, Any] | None) -> str:
    if not metadata:
        return ""
    esc = html.escape
    rows = "".join(
        f'<tr><td>{esc(kind)}</td><td><a href="{esc(v["dir"])}/model.json">{esc(v["dir"])}/</a></td>'
        f"<td>{v['weights_bytes'] / 1e6:.2f} MB</td></tr>"
        for kind, v in (metadata.get("variants") or {}).items()
    )
    versions = ", ".join(f"{esc(k)} {esc(str(v))}" for k, v in (metadata.get("versions") or {}).items())
    return f"""<h2>Exported model</h2>
<p>One graph: 16 kHz waveform in; <code>scores</code>, <code>clip_scores</code>, <code>yamnet_scores</code>,
<code>embeddings</code>, <code>log_mel</code> out. <a href="saved_model/">SavedModel</a>,
<a href="metadata.json">metadata.json</a>, <a href="README.md">model card</a>.</p>
<table><tr><th>variant</th><th>TF.js graph model</th><th>weights</th></tr>{rows}</table>
<p class="small">{versions}</p>"""


def _parity_section(parity: ParityRecord | None) -> str:
    if parity is None:
        return ""
    esc = html.escape
    head = "".join(f"<th>{esc(name)}</th>" for name in OUTPUTS)
    rows = []
    for row in parity.rows:
        if row.error is not None:
            rows.append(
                f"<tr><td>{esc(row.variant)}</td><td>{esc(row.runtime)}</td><td colspan=9>{esc(row.error)}</td></tr>"
            )
            continue
        if row.skipped is not None:
            rows.append(
                f"<tr><td>{esc(row.variant)}</td><td>{esc(row.runtime)}</td>"
                f"<td colspan=9>skipped: {esc(row.skipped)}</td></tr>"
            )
            continue
        cells = "".join("<td>-</td>" if row.worst[n] is None else f"<td>{row.worst[n]:.1e}</td>" for n in OUTPUTS)
        top1 = " · ".join(f"{agree}/{total}" for agree, total in row.top1.values())
        if row.decisions[1]:
            top1 += f" · decisions {row.decisions[0]}/{row.decisions[1]}"
        ok = "✔" if row.ok else "<b class=bad>✘ " + esc("; ".join(row.failures)) + "</b>"
        speed = "-" if row.ms_per_audio_second is None else f"{row.ms_per_audio_second:.1f}"
        rows.append(
            f"<tr><td>{esc(row.variant)}</td><td>{esc(row.runtime)}</td><td>{esc(row.backend or '-')}</td>{cells}"
            f"<td>{top1}</td><td>{speed}</td><td>{ok}</td></tr>"
        )
    cases = ", ".join(f"{esc(c['name'])} ({c['seconds']:g} s)" for c in parity.cases)
    verdict = "all outputs within bounds" if parity.ok else "<b class=bad>bounds broken</b>"
    python = parity.python_ms_per_audio_second or 0.0
    real = sum(1 for c in parity.cases if c.get("kind") == "clip")
    return f"""<h2>Parity: Python vs JavaScript</h2>
<p>The same waveforms through the Python SavedModel and the TF.js model ({verdict}). Max abs difference on real
clips; top-1 agreement of the head's <code>clip_scores</code> · YAMNet's label, counted on the {real} real clips
only (the synthetic cases, silence, noise and a square wave, have no class to agree on); ms per second of audio
(Python: {python:.1f}). Cases: {cases}.
Details: <a href="{PARITY_JSON}">{PARITY_JSON}</a>.</p>
<table><tr><th>model</th><th>runtime</th><th>backend</th>{head}<th>top-1</th><th>ms/s</th><th>ok</th></tr>
{"".join(rows)}</table>"""


def _table(rows: list[tuple[str, str]]) -> str:
    esc = html.escape
    return "<table>" + "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in rows) + "</table>"


def _cap_note(config: dict[str, Any], cap: int | None) -> str:
    if cap is None:
        return (
            f"The learning rate decays to 0 by a cosine over {config.get('max_epochs', '?')} epochs, so late best "
            "epochs are expected."
        )
    return (
        f"<b class=bad>⚠ cap</b> marks a member whose best epoch is within the patience of the epoch cap ({cap}): "
        "it was still improving, and more epochs may help."
    )


def _epochs_cell(epochs: list[int], cap: int | None) -> str:
    """Best epoch of each member, flagging those that were still improving near the epoch cap."""
    if not epochs:
        return "-"
    patience_margin = 8 if cap is None else min(8, cap // 4)
    cells = []
    for e in epochs:
        at_cap = cap is not None and e > cap - patience_margin
        cells.append(f"{e} <b class=bad>⚠ cap</b>" if at_cap else str(e))
    return ", ".join(cells)


_SETTING_WORDS = {
    "features": "head input (YAMNet features)",
    "hidden": "hidden units per member",
    "ensemble": "members averaged",
    "dropout": "dropout",
    "input_dropout": "input dropout",
    "label_smoothing": "label smoothing",
    "learning_rate": "learning rate (Adam)",
    "batch_size": "batch size",
    "max_epochs": "epoch cap",
    "patience": "early-stopping patience (epochs)",
    "monitor": "early stopping on",
    "validation_fraction": "early-stopping hold-out (share of training clips)",
    "shifted_views": "shifted training views",
    "seed": "seed",
}


def _settings_table(report: dict[str, Any]) -> str:
    """The head's settings in words, and the evaluation actually used (not the unused fallbacks)."""
    config = report.get("config") or {}
    scheme = (report.get("evaluation") or {}).get("scheme", "")
    rows = [("evaluation", scheme)]
    folds = config.get("folds")
    rows.append(("test folds", "all" if not folds else ", ".join(map(str, folds))))
    if "stratified" in scheme:
        rows.append(("stratified folds requested", str(config.get("stratified_folds"))))
    for key, words in _SETTING_WORDS.items():
        if key in config:
            value = config[key]
            rows.append((words, ", ".join(map(str, value)) if isinstance(value, list) else str(value)))
    return _table(rows)


def _open_set_section(report: dict[str, Any]) -> str:
    """The shipped "none of my classes" operating point, and how it does on classes the head never saw."""
    decision, study = report.get("decision"), report.get("open_set")
    if not decision:
        return ""
    esc = html.escape
    cal = decision.get("calibration") or {}
    lines = [
        "<h2>Unknown sounds: “none of my classes”</h2>",
        f"<p>A file is called <b>unknown</b> when its doubt plus YAMNet's surprise exceeds "
        f"{decision['threshold_clip']:.3f} (one live window: {decision['threshold_window']:.3f}): "
        f"<code>{esc(decision.get('rule', ''))}</code>. The thresholds keep the out-of-fold accuracy within "
        f"{decision['budget']:.0%} of the closed-set accuracy ({cal.get('closed_accuracy', 0):.3f} → "
        f"{cal.get('open_accuracy', 0):.3f}, {cal.get('rejected', 0):.1%} of your clips rejected).</p>",
    ]
    if study and "auroc" in study:
        lines.append(
            f"<p>Measured on classes the head never saw ({study['splits']} splits, a fifth of the classes held out "
            "each, thresholds calibrated as above inside the training folds):</p>"
        )
        lines.append(
            _table(
                [
                    ("AUROC, known vs unknown files", f"{study['auroc']:.3f}"),
                    ("AUROC with the maximum probability alone", f"{study['baseline_auroc']:.3f}"),
                    ("unknown files rejected", f"{study['unknown_rejected']:.1%}"),
                    (
                        "known-class accuracy (closed → with rejection)",
                        f"{study['closed_known_accuracy']:.3f} → {study['known_accuracy']:.3f}",
                    ),
                    ("AUROC, single 0.975 s windows", f"{study['window_auroc']:.3f}"),
                    ("unknown windows rejected", f"{study['window_unknown_rejected']:.1%}"),
                ]
            )
        )
    elif study:
        lines.append(f"<p class=small>No held-out-class study: {esc(study.get('skipped', ''))}.</p>")
    lines.append(_background_section(report.get("background")))
    return "\n".join(lines)


def _background_section(bg: dict[str, Any] | None) -> str:
    """With ``--background``: false alarms of the shipped decision on background audio no head saw."""
    if not bg or not bg.get("files"):
        return ""
    top = ", ".join(f"{html.escape(k)} {v}" for k, v in bg.get("top_classes", {}).items()) or "none"
    rules = bg.get("rules", {})
    rows = [
        ("false alarms per hour of background audio", f"{bg['false_alarms_per_hour']:.1f}"),
        ("events fired / background audio", f"{bg['events']} in {bg['hours'] * 60:.1f} min ({bg['files']} files)"),
        ("background files named as a class (whole file)", f"{bg['files_named']:.1%}"),
        ("background windows named as a class (live, silence excluded)", f"{bg['windows_named']:.1%}"),
        ("classes that fired most", top),
    ]
    return (
        "<h3>Background set: false alarms</h3>\n"
        f"<p>{bg.get('clips', bg['files'])} background clips were learned as an extra class the exported head leaves "
        "out. Each fold's background files went through the head that never saw them, window by window as the live "
        f"page does (an event needs {rules.get('on_windows', '?')} windows in a row):</p>\n" + _table(rows)
    )


def _timing_rows(timing: dict[str, float]) -> list[tuple[str, str]]:
    words = {
        "embed_seconds": "embedding (YAMNet, cached where possible)",
        "cv_and_final_seconds": "cross-validation and final head (side by side)",
        "open_set_study_seconds": "open-set study (held-out classes)",
        "cv_seconds": "cross-validation",
        "final_seconds": "final head",
        "fine_tune_block_inputs_seconds": "fine-tune: block inputs (one YAMNet pass)",
        "fine_tune_seconds": "fine-tune: tuned blocks + head, every task (included above)",
        "total_seconds": "total",
    }
    return [(words.get(k, k), f"{v:.1f} s") for k, v in timing.items()]


def _fine_tune_note(report: dict[str, Any]) -> str:
    """With ``--fine-tune``: which YAMNet blocks were tuned, the frozen head's accuracy on the same folds, the time."""
    ft = report.get("fine_tune")
    if not ft:
        return ""
    blocks = ft.get("blocks") or []
    span = f"{blocks[0]}-{blocks[-1]}" if len(blocks) > 1 else str(blocks[0] if blocks else "?")
    frozen = ft.get("frozen_mean_accuracy")
    seconds = (report.get("timing") or {}).get("fine_tune_seconds")
    return (
        f"<p><b>Fine-tuned</b>: YAMNet's block{'s' if len(blocks) > 1 else ''} {span} trained with the head "
        f"({ft.get('recipe', {}).get('tune_epochs', '?')} epochs, cosine, no augmentation)"
        + (f"; the frozen head on the same folds: {frozen:.4f}" if frozen is not None else "")
        + (f"; fine-tuning took {seconds:.0f} s" if seconds is not None else "")
        + ". The exported graph carries the tuned blocks, so its <code>yamnet_scores</code> come from the tuned "
        "embedding.</p>"
    )


def _html(
    report: dict[str, Any],
    metadata: dict[str, Any] | None = None,
    parity: ParityRecord | None = None,
    site: str | None = None,
) -> str:
    """The report page: training always; model sizes, parity and the demo link once those stages ran."""
    cv, ds = report["cv"], report["dataset"]
    esc = html.escape
    config = report.get("config") or {}
    # With a cosine schedule the learning rate reaches 0 at the cap by design: a best epoch near it is the
    # schedule ending, not a member cut short. Flag it only under a constant rate.
    cap = config.get("max_epochs") if config.get("schedule", "constant") == "constant" else None
    fold_rows = "".join(
        f"<tr><td>{f}</td><td>{a:.4f}</td><td>{p:.4f}</td><td>{_epochs_cell(e, cap)}</td></tr>"
        for f, a, p, e in zip(
            cv["folds"], cv["fold_accuracy"], cv["fold_patch_accuracy"], cv["fold_epochs"], strict=True
        )
    )
    final_epochs = _epochs_cell((report.get("final") or {}).get("epochs") or [], cap)
    class_rows = "".join(
        f"<tr><td>{esc(name)}</td><td>{r['precision']:.3f}</td><td>{r['recall']:.3f}</td><td>{r['f1']:.3f}</td>"
        f"<td>{r['support']}</td></tr>"
        for name, r in sorted(cv["per_class"].items(), key=lambda kv: kv[1]["f1"])
    )
    skipped = "".join(f"<li>{esc(s['path'])}: {esc(s['problem'])}</li>" for s in ds["skipped"]) or "<li>none</li>"
    warnings = "".join(f"<li>{esc(w)}</li>" for w in ds["warnings"])
    title = "Model report" if metadata or parity else "Training report"
    demo = (
        f'<p><a class="demo" href="{esc(site)}">Open the web demo</a> <span class="small">(serve this folder over '
        "HTTP, e.g. <code>yamnet-tfjs serve site</code>; browsers block models from file:// URLs)</span></p>"
        if site
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;margin:.5em 0}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}img{{max-width:100%}}.bad{{color:#b00}}.small{{color:#666;font-size:90%}}
.demo{{display:inline-block;background:#1a5fb4;color:#fff;padding:.4em 1em;border-radius:4px;text-decoration:none}}
</style></head><body>
<h1>{title}</h1>
{demo}
<p><b>Mean clip accuracy: {cv["mean_accuracy"]:.4f}</b> (± {cv["std_accuracy"]:.4f} over {len(cv["folds"])} folds),
{esc(report["evaluation"]["scheme"])}. A clip's score is the {esc(report["evaluation"]["clip_score"])}; test folds use
{esc(report["evaluation"]["test_view"])}.</p>
{_fine_tune_note(report)}
<p>Data: {esc(ds["root"])} ({esc(ds["format"])}), {ds["clips"]} clips, {ds["classes"]} classes:
{esc(", ".join(f"{label} {n}" for label, n in ds["class_counts"].items()))}.</p>
{f"<ul>{warnings}</ul>" if warnings else ""}
{_open_set_section(report)}
{_model_section(metadata)}
{_parity_section(parity)}
<h2>Folds</h2>
<table><tr><th>test fold</th><th>clip accuracy</th><th>patch accuracy</th><th>best epoch per member</th></tr>{fold_rows}
<tr><td>final head (all clips)</td><td>-</td><td>-</td><td>{final_epochs}</td></tr></table>
<p class="small">Each member keeps the weights of its best epoch on the early-stopping hold-out.
{_cap_note(config, cap)}</p>
<h2>Confusion matrix</h2><img src="{CONFUSION_PNG}" alt="confusion matrix">
<p class="small">Pooled over the test folds: row = the true class, column = the predicted one. The numbers count
clips; the colour is the share of the row.</p>
<h2>Training curves</h2><img src="{CURVES_PNG}" alt="training curves">
<p class="small">Loss and patch accuracy on the early-stopping hold-out: a stratified 15 % of the clips of the
<i>training</i> folds, never the test fold. It is drawn from the same recordings as the training patches, so it
reads higher than the test folds' accuracy above; the test folds are the honest figure.</p>
<h2>Per class (worst F1 first)</h2>
<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>clips</th></tr>{class_rows}</table>
<h2>Skipped files</h2><ul>{skipped}</ul>
<h2>Settings</h2>{_settings_table(report)}
<h2>Timing</h2>{_table(_timing_rows(report.get("timing") or {}))}
</body></html>
"""
