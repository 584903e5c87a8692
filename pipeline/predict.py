"""Classify audio files with an exported model's SavedModel (the ``predict`` command).

Uses ``exported/NAME/saved_model`` (YAMNet + head in one graph, the same graph that was converted to
TF.js) and ``metadata.json`` for labels, and gives the same JSON shape as ``classify``: a clip's
scores are ``clip_scores`` (the mean of per-patch head probabilities), ``timeline`` is per patch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .classify import each_file, patch_timeline, top_k
from .constants import SAMPLE_RATE
from .errors import ModelLoadError, PipelineError
from .tfenv import tf


@dataclass
class ExportedModel:
    """An exported SavedModel's serving function and its metadata."""

    model_dir: Path
    serve: Any
    metadata: dict[str, Any]

    @property
    def labels(self) -> list[str]:
        return list(self.metadata["labels"])

    def __call__(self, waveform: np.ndarray) -> dict[str, np.ndarray]:
        """All outputs for one 1-D float32 16 kHz waveform, as numpy arrays."""
        out = self.serve(waveform=tf().constant(np.asarray(waveform, dtype=np.float32)))
        return {k: v.numpy() for k, v in out.items()}


def load_exported(model_dir: Path) -> ExportedModel:
    """Load ``exported/NAME`` (its ``saved_model/`` and ``metadata.json``)."""
    saved, meta_path = model_dir / "saved_model", model_dir / "metadata.json"
    if not (saved / "saved_model.pb").is_file() or not meta_path.is_file():
        raise ModelLoadError(f"{model_dir} holds no export (saved_model/ and metadata.json): run `yamnet-tfjs export`")
    metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    if metadata.get("kind") != "classifier":
        raise ModelLoadError(f"{model_dir} is a YAMNet-only export; use `yamnet-tfjs classify` for YAMNet's classes")
    try:
        model = tf().saved_model.load(str(saved))
    except Exception as err:
        raise ModelLoadError(f"could not load {saved}: {err}") from None
    return ExportedModel(model_dir, model.signatures["serving_default"], metadata)


def predict_waveform(model: ExportedModel, waveform: np.ndarray, k: int = 5, timeline: bool = False) -> dict[str, Any]:
    """Top-k classes of one waveform (mean over patches), plus the per-patch timeline if asked."""
    out = model(waveform)
    result: dict[str, Any] = {
        "duration": round(len(waveform) / SAMPLE_RATE, 3),
        "top": top_k(out["clip_scores"], model.labels, k),
    }
    if timeline:
        result["timeline"] = patch_timeline(out["scores"], model.labels)
    return result


def predict_files(
    model: ExportedModel,
    paths: Iterable[str | Path],
    k: int = 5,
    timeline: bool = False,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], list[PipelineError]]:
    """The exported model's top-k for each file (see :func:`~pipeline.classify.each_file` for failures)."""
    return each_file(paths, lambda wave: predict_waveform(model, wave, k, timeline), on_result)
