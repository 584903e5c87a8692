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
from .chunks import run_chunked
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


def describe_scores(
    patch_scores: np.ndarray, labels: list[str], num_samples: int, k: int = 5, timeline: bool = False
) -> dict[str, Any]:
    """The JSON of one file: duration, top-k of the mean over patches, and optionally each patch's top class.

    Shared by ``classify`` (YAMNet's 521 scores) and ``predict`` (an export's head probabilities, whose
    mean over patches is exactly its ``clip_scores``), so both commands print the same shape.
    """
    result: dict[str, Any] = {
        "duration": round(num_samples / SAMPLE_RATE, 3),
        "top": top_k(patch_scores.mean(axis=0), labels, k),
    }
    if timeline:
        result["timeline"] = patch_timeline(patch_scores, labels)
    return result


def yamnet_patch_scores(yamnet: Yamnet, waveform: np.ndarray) -> np.ndarray:
    """YAMNet's per-patch scores ``[N, 521]``, in chunks of patches for long inputs (see :mod:`.chunks`)."""
    return run_chunked(lambda wave: {"scores": yamnet(wave).scores}, waveform, keep=("scores",))["scores"]


def classify_waveform(yamnet: Yamnet, waveform: np.ndarray, k: int = 5, timeline: bool = False) -> dict[str, Any]:
    """YAMNet's mean-over-patches top-k for one 16 kHz waveform (plus the per-patch timeline)."""
    return describe_scores(yamnet_patch_scores(yamnet, waveform), yamnet.class_names, len(waveform), k, timeline)


def each_file(
    paths: Iterable[str | Path],
    classify: Callable[[np.ndarray], dict[str, Any]],
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], list[PipelineError]]:
    """Load each file and classify its waveform; a file that fails is reported and the rest still run.

    Returns one entry per file, in order: a failed file's entry is ``{"file", "error"}`` (so JSON
    output has one entry per file), and the errors themselves for the caller to print. Shared by
    ``classify`` and ``predict``.
    """
    entries: list[dict[str, Any]] = []
    errors: list[PipelineError] = []
    for path in paths:
        try:
            entry = {"file": str(path), **classify(load_audio(path))}
        except PipelineError as err:
            errors.append(err)
            entry = {"file": str(path), "error": getattr(err, "problem", str(err))}
        entries.append(entry)
        if on_result is not None:
            on_result(entry)
    return entries, errors


def classify_files(
    yamnet: Yamnet,
    paths: Iterable[str | Path],
    k: int = 5,
    timeline: bool = False,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], list[PipelineError]]:
    """YAMNet's top-k for each file (see :func:`each_file` for how failures are handled)."""
    return each_file(paths, lambda wave: classify_waveform(yamnet, wave, k, timeline), on_result)
