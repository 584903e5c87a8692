"""Classify audio files with an exported model's SavedModel (the ``predict`` command).

Uses ``exported/NAME/saved_model`` (YAMNet + head in one graph, the same graph that was converted to
TF.js) and ``metadata.json`` for labels, and gives the same JSON shape as ``classify``: a clip's
scores are ``clip_scores`` (the mean of per-patch head probabilities), ``timeline`` is per patch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .chunks import run_chunked
from .classify import describe_scores, each_file
from .errors import ModelLoadError, PipelineError
from .layout import METADATA_JSON, SAVED_MODEL, ArtifactError, check_label_count, read_metadata, verify_files
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
    """Load ``exported/NAME`` (its ``saved_model/`` and ``metadata.json``), checked before it is trusted.

    The SavedModel's files must match the sha256 metadata.json recorded, and the labels the width of
    its ``clip_scores``: otherwise every prediction would be printed under the wrong name.
    """
    model_dir = Path(model_dir)
    saved, meta_path = model_dir / SAVED_MODEL, model_dir / METADATA_JSON
    if not (saved / "saved_model.pb").is_file() or not meta_path.is_file():
        raise ModelLoadError(f"{model_dir} holds no export (saved_model/ and metadata.json): run `yamnet-tfjs export`")
    metadata = read_metadata(meta_path)
    if metadata.get("kind") != "classifier":
        raise ModelLoadError(f"{model_dir} is a YAMNet-only export; use `yamnet-tfjs classify` for YAMNet's classes")
    verify_files(meta_path, metadata, saved)
    try:
        model = tf().saved_model.load(str(saved))
        serve = model.signatures["serving_default"]
    except Exception as err:
        raise ModelLoadError(f"could not load {saved}: {err}") from None
    widths = {}
    for name, spec in serve.structured_outputs.items():
        node = next((o["node"] for o in metadata["outputs"] if o["name"] == name), None)
        if node is not None and spec.shape.rank:
            widths[node] = spec.shape[-1]
    try:
        check_label_count(meta_path, metadata, widths)
    except ArtifactError as err:
        raise ModelLoadError(str(err)) from None
    return ExportedModel(model_dir, serve, metadata)


def head_patch_scores(model: ExportedModel, waveform: np.ndarray) -> np.ndarray:
    """The head's per-patch probabilities ``[N, C]``, in chunks of patches for long inputs (see :mod:`.chunks`)."""
    return run_chunked(model, waveform, keep=("scores",))["scores"]


def predict_waveform(model: ExportedModel, waveform: np.ndarray, k: int = 5, timeline: bool = False) -> dict[str, Any]:
    """Top-k classes of one waveform (mean over patches = ``clip_scores``), plus the per-patch timeline if asked."""
    return describe_scores(head_patch_scores(model, waveform), model.labels, len(waveform), k, timeline)


def predict_files(
    model: ExportedModel,
    paths: Iterable[str | Path],
    k: int = 5,
    timeline: bool = False,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], list[PipelineError]]:
    """The exported model's top-k for each file (see :func:`~pipeline.classify.each_file` for failures)."""
    return each_file(paths, lambda wave: predict_waveform(model, wave, k, timeline), on_result)
