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
from .openset import UNKNOWN, UNKNOWN_LABEL, OpenSet, decide
from .sound_events import EventRules, patch_events
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

    @property
    def event_rules(self) -> EventRules:
        """The hysteresis the page uses for live events (defaults for exports made before events)."""
        return EventRules.from_json(self.metadata.get("events"))

    @property
    def open_set(self) -> OpenSet | None:
        """The shipped "none of my classes" decision (None for exports made before it existed)."""
        value = self.metadata.get("open_set")
        return OpenSet.from_json(value) if value else None

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


def patch_outputs(model: ExportedModel, waveform: np.ndarray) -> dict[str, np.ndarray]:
    """The head's per-patch probabilities ``scores`` [N, C] and YAMNet's ``yamnet_scores`` [N, 521], in chunks
    of patches for long inputs (see :mod:`.chunks`)."""
    return run_chunked(model, waveform, keep=("scores", "yamnet_scores"))


def predict_waveform(
    model: ExportedModel, waveform: np.ndarray, k: int = 5, timeline: bool = False, events: bool = False
) -> dict[str, Any]:
    """Top-k classes of one waveform (mean over patches = ``clip_scores``), the per-patch timeline if asked,
    the open-set decision (the best class, or ``unknown``: "none of my classes") and, if asked, the sound
    events the page would list live for the same audio (:mod:`.sound_events`)."""
    out = patch_outputs(model, waveform)
    result = describe_scores(out["scores"], model.labels, len(waveform), k, timeline)
    if model.open_set is not None:
        label, score = decide(out["scores"].mean(axis=0), out["yamnet_scores"], model.open_set)
        result["decision"] = {
            "label": UNKNOWN_LABEL if label == UNKNOWN else model.labels[label],
            "score": round(score, 6),
            "threshold": round(model.open_set.threshold_clip, 6),
        }
    if events:
        result["events"] = [
            {
                "label": model.labels[e.label],
                "start": round(e.start, 3),
                "end": round(e.end, 3),
                "text": e.describe(model.labels),
            }
            for e in file_events(model, waveform, out)
        ]
    return result


def window_decisions(model: ExportedModel, out: dict[str, np.ndarray]) -> np.ndarray:
    """Each patch's decision as one live window's (``threshold_window``): a class index or UNKNOWN."""
    if model.open_set is None:
        return out["scores"].argmax(axis=1)
    return np.array(
        [
            decide(p, y[None], model.open_set, window=True)[0]
            for p, y in zip(out["scores"], out["yamnet_scores"], strict=True)
        ]
    )


def file_events(model: ExportedModel, waveform: np.ndarray, out: dict[str, np.ndarray] | None = None) -> list:
    """The sound events of a file: its patches' window decisions through the page's hysteresis."""
    out = out if out is not None else patch_outputs(model, waveform)
    return patch_events(waveform, window_decisions(model, out), model.event_rules)


def predict_files(
    model: ExportedModel,
    paths: Iterable[str | Path],
    k: int = 5,
    timeline: bool = False,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    events: bool = False,
) -> tuple[list[dict[str, Any]], list[PipelineError]]:
    """The exported model's top-k for each file (see :func:`~pipeline.classify.each_file` for failures)."""
    return each_file(paths, lambda wave: predict_waveform(model, wave, k, timeline, events), on_result)
