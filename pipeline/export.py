"""Put YAMNet (with a TF.js-friendly front end) and a trained head into ONE SavedModel, then ship it.

``export_model(exported/NAME)`` reads ``head.keras`` + ``head.json`` (written by ``train``, see
docs/contracts.md), builds a SavedModel whose serving signature takes ``waveform`` float32 [None]
and returns ``scores``, ``clip_scores``, ``yamnet_scores``, ``embeddings`` and ``log_mel``, converts
it to TF.js (plus quantized variants) and writes ``metadata.json`` and a model card.

Everything is built in a staging folder inside ``exported/NAME`` and swapped in only when all of it
succeeded, so a failed export leaves the previous one untouched.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .atomic import staged
from .constants import FEATURE_WIDTHS
from .errors import PipelineError
from .layout import DERIVED_FROM_EXPORT, EXPORT_ARTIFACTS, MARKER, check_output_dir, marker_text
from .tfenv import native_logs_silenced, tf
from .yamnet import Yamnet
from .yamnet_graph import FrozenYamnet, freeze_yamnet, import_yamnet, patch_features, rewrite_front_end

OUTPUTS = ("scores", "clip_scores", "yamnet_scores", "embeddings", "log_mel")
"""The exported signature's outputs, in the order metadata.json lists them."""

YAMNET_ONLY_OUTPUTS = ("scores", "embeddings", "log_mel")
"""``export-yamnet``'s outputs in TF Hub's order: ``const [scores, embeddings, spectrogram] = model.predict(x)``."""

QUANTIZATIONS = ("float16", "uint8")
"""Quantized TF.js variants written beside ``tfjs/`` (network weights only, see convert.py)."""


class ExportError(PipelineError):
    """The head, its folder or the export target is unusable."""


@dataclass
class Head:
    """A trained per-patch head: Keras model [N, F] -> [N, C] and its ``head.json``."""

    model: Any
    info: dict[str, Any]

    @property
    def labels(self) -> list[str]:
        return list(self.info["labels"])

    @property
    def features(self) -> list[str]:
        return list(self.info["features"])


def load_head(model_dir: Path) -> Head:
    """Read ``head.keras`` + ``head.json`` from ``model_dir`` and check they agree with each other."""
    keras_path, json_path = model_dir / "head.keras", model_dir / "head.json"
    for path in (keras_path, json_path):
        if not path.is_file():
            raise ExportError(f"{path} not found: run `yamnet-tfjs train` for {model_dir} first")
    try:
        info = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ExportError(f"{json_path}: not valid JSON ({err})") from None
    labels, features = info.get("labels"), info.get("features")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise ExportError(f'{json_path}: "labels" must be a non-empty list of class names')
    if not isinstance(features, list) or not features or any(f not in FEATURE_WIDTHS for f in features):
        raise ExportError(f'{json_path}: "features" must list some of {sorted(FEATURE_WIDTHS)}, got {features}')
    tf()
    import keras

    try:
        model = keras.models.load_model(keras_path, compile=False)
    except Exception as err:
        raise ExportError(f"{keras_path}: cannot load the Keras head ({err})") from None
    width = sum(FEATURE_WIDTHS[f] for f in features)
    in_shape, out_shape = tuple(model.input_shape), tuple(model.output_shape)
    if in_shape[-1] != width or out_shape[-1] != len(labels):
        raise ExportError(
            f"{keras_path}: head maps {in_shape} -> {out_shape} but head.json says {width} features "
            f"({'+'.join(features)}) -> {len(labels)} labels"
        )
    return Head(model, info)


def _make_module(frozen: FrozenYamnet, head: Head | None) -> Any:
    """A tf.Module whose ``serve`` imports the rewritten YAMNet graph and applies the head in one function."""
    tfm = tf()

    class ExportedModel(tfm.Module):
        def __init__(self) -> None:
            super().__init__(name="yamnet_tfjs")
            self.head = head.model if head else None

        # autograph=False: plain graph code, and autograph once swapped import_yamnet for another function
        # (convert.graph_ops) when pipeline.train was imported in the same process.
        @tfm.function(input_signature=[tfm.TensorSpec([None], tfm.float32, name="waveform")], autograph=False)
        def serve(self, waveform: Any) -> Any:
            yam = import_yamnet(frozen, waveform)
            if head is None:
                # A list gives signature keys output_0..2 in TF Hub's order (see YAMNET_ONLY_OUTPUTS).
                return [tfm.identity(yam[k], name=k) for k in YAMNET_ONLY_OUTPUTS]
            probs = self.head(patch_features(yam, head.features), training=False)
            return {
                "scores": tfm.identity(probs, name="scores"),
                "clip_scores": tfm.reduce_mean(probs, axis=0, name="clip_scores"),
                "yamnet_scores": tfm.identity(yam["scores"], name="yamnet_scores"),
                "embeddings": tfm.identity(yam["embeddings"], name="embeddings"),
                "log_mel": tfm.identity(yam["log_mel"], name="log_mel"),
            }

    return ExportedModel()


def tfjs_friendly_yamnet(yamnet: Yamnet) -> FrozenYamnet:
    """YAMNet frozen, with the matmul-DFT front end (see yamnet_graph.py)."""
    return rewrite_front_end(freeze_yamnet(yamnet.model))


def save_saved_model(yamnet: Yamnet, head: Head | None, out_dir: Path) -> None:
    """Write one SavedModel: waveform -> dict of outputs (with head) or YAMNet's three (without)."""
    tfm = tf()
    module = _make_module(tfjs_friendly_yamnet(yamnet), head)
    signature = module.serve.get_concrete_function()
    with native_logs_silenced():
        tfm.saved_model.save(module, str(out_dir), signatures={"serving_default": signature})


@contextmanager
def _staged_export(model_dir: Path, kind: str) -> Iterator[Path]:
    """A staging folder inside ``model_dir`` whose export artifacts replace the old ones only on success.

    The folder always holds either the complete previous export or the complete new one; parity and
    site, made from the previous export, are replaced with it (they would describe another model).
    """
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
        with staged(model_dir, (*EXPORT_ARTIFACTS, *DERIVED_FROM_EXPORT, MARKER)) as stage:
            (stage / MARKER).write_text(marker_text(kind))
            yield stage
    except OSError as err:
        reason = err.strerror or err
        raise ExportError(f"cannot write the export into {model_dir} ({reason}); nothing was changed") from None


def _stale_derived(model_dir: Path) -> list[str]:
    return [name for name in DERIVED_FROM_EXPORT if (model_dir / name).exists()]


def export_model(
    model_dir: Path,
    yamnet: Yamnet,
    quantizations: Sequence[str] = QUANTIZATIONS,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Export ``exported/NAME``: SavedModel, TF.js (float32 + ``quantizations``), metadata, model card.

    Returns the metadata that was written.
    """
    from .convert import convert_all
    from .metadata import build_metadata, write_metadata, write_model_card

    step = on_step or (lambda _msg: None)
    for q in quantizations:
        if q not in QUANTIZATIONS:
            raise ExportError(f"unknown quantization {q!r}: use one of none, {', '.join(QUANTIZATIONS)}")
    head = load_head(model_dir)
    _check_head_matches(head, yamnet, model_dir)
    stale = _stale_derived(model_dir)
    with _staged_export(model_dir, "classifier") as stage:
        step("building the SavedModel (YAMNet + head, matmul-DFT front end)")
        save_saved_model(yamnet, head, stage / "saved_model")
        step("converting to TF.js")
        variants = convert_all(stage / "saved_model", stage, quantizations, on_step=step)
        metadata = build_metadata(
            stage, yamnet, head=head, variants=variants, report_path=model_dir / "report.json", source_dir=model_dir
        )
        write_model_card(stage / "README.md", metadata, name=model_dir.name)  # before hashing, so it is listed
        write_metadata(stage, metadata, variants)
    if stale:
        step(f"removed {', '.join(stale)}: made from the previous export (rerun `parity`/`site`)")
    return metadata


def export_yamnet(out_dir: Path, yamnet: Yamnet, quantizations: Sequence[str] = (), on_step=None) -> dict[str, Any]:
    """Convert YAMNet alone (no head) the same way: a drop-in for TF Hub's TF.js YAMNet, in ``out_dir``."""
    from .convert import convert_all
    from .metadata import build_metadata, write_metadata, write_model_card

    step = on_step or (lambda _msg: None)
    out_dir = check_output_dir(out_dir)
    with _staged_export(out_dir, "yamnet") as stage:
        step("building the YAMNet SavedModel (matmul-DFT front end)")
        save_saved_model(yamnet, None, stage / "saved_model")
        step("converting to TF.js")
        variants = convert_all(stage / "saved_model", stage, quantizations, structured=False, on_step=step)
        metadata = build_metadata(stage, yamnet, head=None, variants=variants)
        write_model_card(stage / "README.md", metadata, name=out_dir.name)
        write_metadata(stage, metadata, variants)
    return metadata


def _check_head_matches(head: Head, yamnet: Yamnet, model_dir: Path) -> None:
    """Refuse a head trained on another YAMNet's embeddings: its predictions would be silently wrong."""
    trained_on = (head.info.get("yamnet") or {}).get("identity")
    if trained_on and trained_on != yamnet.identity:
        raise ExportError(
            f"{model_dir}/head.json was trained on YAMNet {trained_on[:12]}, but --yamnet {yamnet.handle} is "
            f"{yamnet.identity[:12]}: export with the same YAMNet used for training"
        )
