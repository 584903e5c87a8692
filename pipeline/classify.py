"""YAMNet's own 521-class prediction for audio files (the ``classify`` command).

A file's scores are YAMNet's per-patch scores averaged over patches (TF Hub's recommended clip
aggregation); ``timeline`` adds each patch's top class with its start time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .audio import load_audio
from .constants import PATCH_HOP_SECONDS, SAMPLE_RATE
from .errors import PipelineError
from .yamnet import Yamnet


def top_k(scores: np.ndarray, labels: list[str], k: int) -> list[dict[str, Any]]:
    """The ``k`` highest entries of a 1-D score vector as ``{"index", "label", "score"}`` dicts."""
    k = max(1, min(k, len(scores)))
    order = np.argsort(-scores, kind="stable")[:k]
    return [{"index": int(i), "label": labels[i], "score": round(float(scores[i]), 6)} for i in order]


def patch_timeline(patch_scores: np.ndarray, labels: list[str]) -> list[dict[str, Any]]:
    """Top class of every patch with its start time in seconds (patches start every 0.48 s)."""
    rows = []
    for n, row in enumerate(patch_scores):
        best = int(np.argmax(row))
        rows.append(
            {
                "start": round(n * PATCH_HOP_SECONDS, 3),
                "index": best,
                "label": labels[best],
                "score": round(float(row[best]), 6),
            }
        )
    return rows


def classify_waveform(yamnet: Yamnet, waveform: np.ndarray, k: int = 5, timeline: bool = False) -> dict[str, Any]:
    """YAMNet's mean-over-patches top-k for one 16 kHz waveform (plus the per-patch timeline)."""
    out = yamnet(waveform)
    result: dict[str, Any] = {
        "duration": round(len(waveform) / SAMPLE_RATE, 3),
        "top": top_k(out.scores.mean(axis=0), yamnet.class_names, k),
    }
    if timeline:
        result["timeline"] = patch_timeline(out.scores, yamnet.class_names)
    return result


def each_file(
    paths: Iterable[str | Path],
    classify: Callable[[np.ndarray], dict[str, Any]],
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], list[PipelineError]]:
    """Load each file and classify its waveform; a file that fails is collected and the rest still run.

    Shared by ``classify`` (YAMNet's classes) and ``predict`` (an exported model's classes), so both
    report bad files and shape their JSON the same way.
    """
    results: list[dict[str, Any]] = []
    errors: list[PipelineError] = []
    for path in paths:
        try:
            result = {"file": str(path), **classify(load_audio(path))}
        except PipelineError as err:
            errors.append(err)
            continue
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results, errors


def classify_files(
    yamnet: Yamnet,
    paths: Iterable[str | Path],
    k: int = 5,
    timeline: bool = False,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], list[PipelineError]]:
    """YAMNet's top-k for each file (see :func:`each_file` for how failures are handled)."""
    return each_file(paths, lambda wave: classify_waveform(yamnet, wave, k, timeline), on_result)
