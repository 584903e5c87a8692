"""Event-level F1 of the page's live events and of ``predict --events``, on a recording neither has seen.

A head is trained by the product (``train``, defaults) on 10 ESC-50 classes from folds 1-4 only and
exported; the recording is built from fold 5: 3 clips of each known class and one clip of each of 6
classes the head does not know, shuffled, 1.5-3.5 s of silence between them (``tests.support.
long_recording``). The page hears it through Chromium's fake microphone in real time (wasm), Python
reads the file. Scored against the clips' sound spans (same label, onset within 1 s), and against each
other (onsets within one hop + the fake device's start-up).

Usage: ``.venv/bin/python bench/bench_events.py [--work DIR]``. Results go to
``bench/results/events.json`` and into the table in ``docs/events.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.doc_tables import markdown_table, replace_between_markers, save_results  # noqa: E402

SHARED = Path(os.environ.get("YAMNET_TFJS_SHARED", REPO.parent / "shared"))
KNOWN = ("dog", "rooster", "rain", "crying_baby", "sea_waves", "crackling_fire", "crickets", "chirping_birds",
         "clock_tick", "helicopter")  # fmt: skip
UNKNOWN = ("church_bells", "keyboard_typing", "siren", "vacuum_cleaner", "door_wood_knock", "laughing")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None, help="Keep the head, export and recording here.")
    args = parser.parse_args()
    import numpy as np

    from pipeline.constants import PATCH_HOP_SECONDS, SAMPLE_RATE
    from pipeline.datasets import load_dataset
    from pipeline.export import export_model
    from pipeline.js.browser import fake_microphone_wav
    from pipeline.predict import file_events, load_exported
    from pipeline.sound_events import EventRules, event_f1, match_events
    from pipeline.training import TrainConfig, train
    from pipeline.yamnet import load_yamnet
    from tests.support import long_recording
    from tests.test_live_events import START_UP, page_events

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-events-"))
    yamnet = load_yamnet(str(SHARED / "models" / "yamnet"))
    data = load_dataset(SHARED / "datasets" / "esc50").subset(classes=list(KNOWN), folds=[1, 2, 3, 4])
    model_dir = work / "head"
    if not (model_dir / "metadata.json").exists():
        train(data, yamnet, model_dir, TrainConfig(), on_message=print)
        export_model(model_dir, yamnet, [], on_message=print)
    model = load_exported(model_dir)
    known = tuple(model.labels)
    wave, truth = long_recording(known, UNKNOWN, per_class=3, fold=5, seed=0)
    wav = fake_microphone_wav(wave, SAMPLE_RATE, work / "recording.wav")
    seconds = len(wave) / SAMPLE_RATE
    rules = model.event_rules
    offline = file_events(model, wave)
    live, info = page_events(model_dir, wav, seconds, work)
    pairs = match_events(live, offline, collar=PATCH_HOP_SECONDS + START_UP)
    results = {
        "recording_seconds": round(seconds, 1),
        "true_events": len(truth),
        "rules": rules.to_json(),
        "predict": {**event_f1(offline, truth), "events": len(offline)},
        "page": {**event_f1(live, truth), "events": len(live), "windows": info["windows"], "skipped": info["skipped"]},
        "page_vs_predict_matched": len(pairs),
        "page_mean_ms_per_window": round(info["meanMs"], 1),
    }
    # the same decisions under other rules, for the choice of defaults (offline only: deterministic)
    from pipeline.predict import patch_outputs, window_decisions
    from pipeline.sound_events import patch_events

    decided = window_decisions(model, patch_outputs(model, wave))
    results["rules_sweep"] = {
        f"on {on}, off {off}": event_f1(patch_events(wave, decided, EventRules(on, off, 1)), truth)
        for on, off in ((1, 1), (2, 2), (3, 2), (3, 3), (4, 2))
    }
    # how often a window is called "unknown" while an unknown clip plays, and while a known one does
    from pipeline.sound_events import window_rms

    starts = np.arange(len(decided)) * PATCH_HOP_SECONDS
    in_truth = np.zeros(len(decided), bool)
    for event in truth:
        in_truth |= (starts + 0.975 > event.start) & (starts < event.end)
    sounding = window_rms(wave, len(decided)) >= rules.silence_rms
    results["windows_called_unknown"] = {
        "during_known_clips": round(float(np.mean(decided[in_truth & sounding] < 0)), 3),
        "during_unknown_clips": round(float(np.mean(decided[~in_truth & sounding] < 0)), 3),
    }
    save_results("events", results)
    update_docs(results)


def update_docs(results: dict) -> None:
    """Rewrite the table in docs/events.md (between the bench:events markers)."""
    rows = []
    for name, key in (
        ("`predict --events` (Python, the file)", "predict"),
        ("page, live (Chromium wasm, fake microphone)", "page"),
    ):
        r = results[key]
        rows.append(f"| {name} | {r['events']} | {r['precision']:.3f} | {r['recall']:.3f} | **{r['f1']:.3f}** |")
    for rule, r in results["rules_sweep"].items():
        rows.append(f"| `predict`, {rule} | | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} |")
    header = ["who (rules: on 3, off 2, cooldown 1 unless said)", "events", "precision", "recall", "F1"]
    table = markdown_table(header, rows)
    table += (
        f"\n\n{results['true_events']} true events in {results['recording_seconds']} s; page and `predict` events "
        f"paired (same label, onset within one hop): {results['page_vs_predict_matched']}; "
        f"page: {results['page']['windows']} windows, {results['page']['skipped']} skipped, "
        f"{results['page_mean_ms_per_window']} ms per window. Windows called unknown: "
        f"{results['windows_called_unknown']['during_unknown_clips']:.0%} during unknown clips, "
        f"{results['windows_called_unknown']['during_known_clips']:.0%} during known ones."
    )
    replace_between_markers(REPO / "docs" / "events.md", "events", table)


if __name__ == "__main__":
    main()
