"""What ``--background DIR`` buys on ESC-50: false alarms per hour, unknown sounds rejected, known accuracy.

ESC-50's 50 classes are cut three ways: 40 are the user's classes, 5 room sounds (:data:`BACKGROUND`) are the
background folder, and 5 more (:data:`NOVEL`) are sounds neither head ever hears. The product's ``train``
(defaults, 5 official folds) runs twice on the 40 classes, without and with the background folder, and each
row reports:

* cross-validated accuracy of the 40 classes, and the held-out-class study of every ``train`` (a fifth of the
  40 classes held out per split: AUROC, unknown files rejected, known accuracy with rejection);
* false alarms per hour on the background audio, as the page decides it (events from live windows): with the
  background set, each fold's background files through the fold head that never saw them (the report's
  number); without it, the final head (it never saw any of them);
* the same on the 5 novel classes through each final head: does learning one kind of "none of these"
  carry over to other kinds?

Usage: ``.venv/bin/python bench/bench_background.py [--work DIR]``. Results go to
``bench/results/background.json`` and the table in ``docs/open-set.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.doc_tables import markdown_table, replace_between_markers, save_results  # noqa: E402

SHARED = Path(os.environ.get("YAMNET_TFJS_SHARED", REPO.parent / "shared"))
BACKGROUND = ("keyboard_typing", "vacuum_cleaner", "footsteps", "breathing", "mouse_click")
"""Sounds of a room where a classifier is left running, none of them the user's classes."""
NOVEL = ("laughing", "door_wood_knock", "engine", "washing_machine", "can_opening")
"""Sounds that are in neither the classes nor the background folder."""


STUDY_KEYS = ("auroc", "baseline_auroc", "unknown_rejected", "closed_known_accuracy", "known_accuracy",
              "window_auroc", "window_unknown_rejected")  # fmt: skip
ALARM_KEYS = ("files", "hours", "events", "false_alarms_per_hour", "files_named", "windows_named")


def _folder_of(esc50: Path, classes: tuple[str, ...], target: Path) -> Path:
    """A user's background folder: symlinks to the ESC-50 clips of ``classes`` (no copy of the data)."""
    import csv

    target.mkdir(parents=True, exist_ok=True)
    with open(esc50 / "meta" / "esc50.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["category"] in classes:
                stem = Path(row["filename"]).stem
                link = target / f"{stem}.flac"
                if not link.exists():
                    link.symlink_to(esc50 / "audio" / f"{stem}.flac")
    return target


def _judge_final(out_dir: Path, data, folder: Path, yamnet, cache: Path) -> dict:
    """False alarms of ``out_dir``'s final head (which never saw ``folder``) on every file of ``folder``."""
    import keras

    from pipeline.audio import load_audio
    from pipeline.background import false_alarms, load_background, with_background
    from pipeline.embeddings import embed_dataset
    from pipeline.openset import OpenSet
    from pipeline.training.evaluation import unseen_background

    info = json.loads((out_dir / "head.json").read_text())
    merged = with_background(embed_dataset(data, yamnet, cache), embed_dataset(load_background(folder), yamnet, cache))
    part = unseen_background(keras.models.load_model(out_dir / "head.keras"), merged, tuple(info["features"]))
    decision = OpenSet.from_json(info["open_set"])
    return false_alarms([part], decision, lambda i: load_audio(merged.paths[i]), info["labels"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None, help="Keep the heads and folders here.")
    args = parser.parse_args()

    from pipeline.background import load_background
    from pipeline.datasets import load_dataset
    from pipeline.embeddings import default_cache_dir
    from pipeline.training import TrainConfig, train
    from pipeline.yamnet import load_yamnet

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-background-"))
    esc50 = SHARED / "datasets" / "esc50"
    yamnet = load_yamnet(str(SHARED / "models" / "yamnet"))
    everything = load_dataset(esc50)
    known = [c for c in everything.labels if c not in BACKGROUND + NOVEL]
    data = everything.subset(classes=known)
    room = _folder_of(esc50, BACKGROUND, work / "background")
    novel = _folder_of(esc50, NOVEL, work / "novel")
    cache = default_cache_dir()
    rows = {}
    for name, background in (("without", None), ("with", load_background(room, esc50, data.labels))):
        start = time.perf_counter()
        result = train(
            data, yamnet, work / name, TrainConfig(), cache_dir=cache, on_message=print, background=background
        )
        seconds = time.perf_counter() - start
        report = result.report
        study = report["open_set"]
        alarms = (
            report["background"] if background is not None else _judge_final(work / name, data, room, yamnet, cache)
        )
        rows[name] = {
            "accuracy": report["cv"]["mean_accuracy"],
            "study": {k: study[k] for k in STUDY_KEYS},
            "background": {k: alarms[k] for k in ALARM_KEYS},
            "background_judged_by": "fold heads, out of fold"
            if background is not None
            else "final head (never saw it)",
            "novel": _judge_final(work / name, data, novel, yamnet, cache),
            "train_seconds": round(seconds, 1),
        }
    results = {"known_classes": len(known), "background_classes": list(BACKGROUND), "novel_classes": list(NOVEL),
               "rows": rows}  # fmt: skip
    save_results("background", results)
    update_docs(results)


def update_docs(results: dict) -> None:
    """Rewrite the table in docs/open-set.md (between the bench:background markers)."""
    lines = []
    for name, label in (("without", "no background set"), ("with", "`--background` (5 room-sound classes)")):
        r = results["rows"][name]
        s, b, n = r["study"], r["background"], r["novel"]
        lines.append(
            f"| {label} | {r['accuracy']:.4f} | {s['auroc']:.3f} | {s['unknown_rejected']:.0%} "
            f"({s['closed_known_accuracy']:.3f} → {s['known_accuracy']:.3f}) | **{b['false_alarms_per_hour']:.0f}** "
            f"| {b['files_named']:.0%} / {b['windows_named']:.0%} | {n['false_alarms_per_hour']:.0f} "
            f"| {n['files_named']:.0%} / {n['windows_named']:.0%} | {r['train_seconds']:.0f} s |"
        )
    header = ["head (40 ESC-50 classes)", "CV accuracy", "study AUROC", "study: unknown rejected (known acc.)",
              "false alarms / h, background", "background files / windows named", "false alarms / h, novel",
              "novel files / windows named", "train"]  # fmt: skip
    b = results["rows"]["with"]["background"]
    n = results["rows"]["with"]["novel"]
    note = (
        f"\n\nBackground audio: {b['files']} files ({b['hours'] * 60:.0f} min); novel audio: {n['files']} files "
        f"({n['hours'] * 60:.0f} min). Background classes: {', '.join(results['background_classes'])}; novel: "
        f"{', '.join(results['novel_classes'])}."
    )
    replace_between_markers(REPO / "docs" / "open-set.md", "background", markdown_table(header, lines) + note)


if __name__ == "__main__":
    main()
