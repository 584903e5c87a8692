"""A background set (``--background DIR``): sounds that are none of the user's classes, and what they buy.

A room is mostly not the user's classes: speech, traffic, a fan, music. A folder of such sounds (e.g.
speech-commands' ``_background_noise_``, recordings of the room itself) trains the rejection:

* the head learns one extra class, the **sink**, from the background's patches (beside the user's classes,
  with the same folds, hold-outs and early stopping);
* the saved head drops the sink's column (a fixed selection layer, :func:`pipeline.training.head.build_head`),
  so the exported graph, ``metadata.json``, the page and parity see exactly the user's classes. Their
  probabilities then sum to less than one: the rest is "background", which raises the open-set doubt
  ``1 - max p`` (:mod:`pipeline.openset`) without any change to the decision's rule or its JavaScript twin;
* the background clips are split over the data set's folds (by content hash, so copies stay together), and
  each fold's background is judged by the head that never saw it: the report's **false alarms per hour**
  are the events (:mod:`pipeline.sound_events`, the page's rules, silence included) that out-of-fold
  background audio fires, per hour of it.

This module owns the background's name, how its clips join a data set's embeddings, and the false-alarm
count; ``train`` (:mod:`pipeline.training.stage`) wires them in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .audio import audio_info
from .constants import AUDIO_EXTENSIONS, SAMPLE_RATE
from .datasets import Clip, Dataset
from .embeddings import EmbeddingSet
from .errors import AudioError, DatasetError
from .layout import OUTPUT_MARKERS
from .openset import UNKNOWN, OpenSet, OutOfFold, scores
from .sound_events import SILENT, EventRules, grid_events, with_silence

BACKGROUND_LABEL = "(background)"
"""The sink class's name inside training (never a label of the saved head: a folder cannot be a class of
this name, see :func:`load_background`)."""


def load_background(folder: str | Path, data_root: Path | None = None, class_names: list[str] | None = None) -> Dataset:
    """Every readable audio file under ``folder`` (any depth) as one-class clips; unreadable ones are skipped
    and listed in ``skipped``.

    Raises:
        DatasetError: no such folder, no readable audio, the folder is the data set or inside it (it would
            also be a class), or a class of the data set is named :data:`BACKGROUND_LABEL`.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DatasetError(f"background folder {root} does not exist (give --background a folder of audio files)")
    if data_root is not None:
        here, data = root.resolve(), Path(data_root).expanduser().resolve()
        if here == data or data in here.parents:
            raise DatasetError(
                f"background folder {root} is inside the data set {data_root}: its sounds would also be a class; "
                "keep it outside --data"
            )
    if class_names and BACKGROUND_LABEL in class_names:
        raise DatasetError(
            f"a class is named '{BACKGROUND_LABEL}', the name the background set trains under; rename it"
        )
    files = sorted(
        p for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
        and not any((p.parent / m).is_file() for m in OUTPUT_MARKERS)
    )  # fmt: skip
    clips, skipped = [], []
    for path in files:
        try:
            audio_info(path)
            clips.append(Clip(path, BACKGROUND_LABEL, None, path.relative_to(root).as_posix()))
        except AudioError as err:
            skipped.append((path, err.problem))
    if not clips:
        raise DatasetError(
            f"background folder {root}: no readable audio files ({', '.join(AUDIO_EXTENSIONS)})"
            + (f"; {len(skipped)} unreadable file(s) skipped" if skipped else "")
        )
    return Dataset(root, "background", clips, [BACKGROUND_LABEL], skipped)


def sink_index(views: EmbeddingSet) -> int | None:
    """The sink class's index in a set made by :func:`with_background` (always the last), else None."""
    names = views.label_names
    return len(names) - 1 if names and names[-1] == BACKGROUND_LABEL else None


def background_mask(views: EmbeddingSet) -> np.ndarray:
    """Which clips of ``views`` are the background's (all False for a set without one)."""
    sink = sink_index(views)
    return views.labels == sink if sink is not None else np.zeros(len(views), bool)


def known_names(views: EmbeddingSet) -> list[str]:
    """The user's classes: the label names without the sink."""
    return views.label_names[:-1] if sink_index(views) is not None else list(views.label_names)


def with_background(data: EmbeddingSet, background: EmbeddingSet) -> EmbeddingSet:
    """``data``'s clips followed by the background's as one more class (the last), in the data's folds.

    A background clip's fold comes from its content hash (copies share a fold), spread over the folds the
    data set has; without folds the split is stratified later, the background as one more class.
    """
    n = len(data.label_names)
    fold_ids = sorted(set(data.folds.tolist())) if data.has_folds else [0]
    bg_folds = np.array(
        [fold_ids[int(hashlib.sha256(d.encode()).hexdigest()[:8], 16) % len(fold_ids)] for d in background.digests],
        dtype=data.folds.dtype,
    )
    return replace(
        data,
        clip_ids=data.clip_ids + [f"{BACKGROUND_LABEL}/{c}" for c in background.clip_ids],
        paths=data.paths + background.paths,
        labels=np.concatenate([data.labels, np.full(len(background), n, data.labels.dtype)]),
        label_names=[*data.label_names, BACKGROUND_LABEL],
        folds=np.concatenate([data.folds, bg_folds]),
        outputs=data.outputs + background.outputs,
        digests=data.digests + background.digests,
        skipped=data.skipped + background.skipped,
    )


@dataclass
class BackgroundFold:
    """One cross-validation fold's background clips through the head that never saw them (row-aligned
    patches: ``oof.patch_*``, ``clip`` the clip index of each patch, ``oof.clip_*`` per clip in ``clips``)."""

    oof: OutOfFold
    clips: np.ndarray
    patch_clip: np.ndarray


def window_labels(part: BackgroundFold, decision: OpenSet) -> np.ndarray:
    """Each out-of-fold patch's live decision: a class index, or UNKNOWN (the window threshold)."""
    oof = part.oof
    s = scores(oof.patch_probs, oof.patch_yamnet, oof.q, decision.weight)
    return np.where(s > decision.threshold_window, UNKNOWN, oof.patch_probs.argmax(axis=1))


def false_alarms(
    parts: list[BackgroundFold],
    decision: OpenSet,
    waveform: Callable[[int], np.ndarray],
    label_names: list[str],
    rules: EventRules | None = None,
) -> dict[str, Any]:
    """False alarms of the shipped decision on out-of-fold background audio (``report.json["background"]``).

    Each background file is a separate stream through the page's rules (``rules``, default the shipped
    ones): its windows are decided as live (``threshold_window``), silent windows are silence, and every
    event that starts is a false alarm. ``waveform(i)`` is clip ``i``'s 16 kHz audio (for the silence rule
    and the duration). Also reported: the share of files a whole-file ``predict`` names as a class, and of
    non-silent windows named as a class; the classes that fire most.
    """
    rules = rules or EventRules()
    seconds, events, windows, named_windows, files, named_files = 0.0, 0, 0, 0, 0, 0
    by_class: dict[str, int] = {}
    for part in parts:
        labels = window_labels(part, decision)
        clip_score = scores(part.oof.clip_probs, part.oof.clip_yamnet, part.oof.q, decision.weight)
        for k, clip in enumerate(part.clips):
            wave = waveform(int(clip))
            seconds += len(wave) / SAMPLE_RATE
            mine = with_silence(wave, labels[part.patch_clip == clip], rules)
            fired = grid_events(mine, rules)
            events += len(fired)
            for event in fired:
                by_class[label_names[event.label]] = by_class.get(label_names[event.label], 0) + 1
            sounding = mine != SILENT
            windows += int(sounding.sum())
            named_windows += int((mine >= 0).sum())
            files += 1
            named_files += int(clip_score[k] <= decision.threshold_clip)
    hours = seconds / 3600
    return {
        "files": files,
        "hours": round(hours, 4),
        "events": events,
        "false_alarms_per_hour": round(events / hours, 2) if hours else None,
        "files_named": round(named_files / files, 4) if files else None,
        "windows_named": round(named_windows / windows, 4) if windows else None,
        "top_classes": dict(sorted(by_class.items(), key=lambda kv: -kv[1])[:5]),
        "rules": rules.to_json(),
        "note": "each fold's background files through the head that never saw them, decided as live windows "
        "(threshold_window, silence below rules.silence_rms) and as whole files (threshold_clip)",
    }
