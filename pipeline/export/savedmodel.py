"""The ONE SavedModel: YAMNet (with its TF.js-friendly front end) and a trained head in one graph.

``serve(waveform float32 [None])`` returns the outputs :data:`pipeline.layout.OUTPUTS` names (or, for
``export-yamnet``, YAMNet's three in TF Hub's order), computing the head's features with the same
:func:`pipeline.yamnet.graph.patch_features` the embedder used in training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..checksums import sha256_file
from ..errors import PipelineError
from ..layout import HEAD_KERAS, OUTPUTS, TUNED_BLOCKS, YAMNET_ONLY_OUTPUTS, ArtifactError, HeadInfo, read_head_info
from ..tfenv import native_logs_silenced, tf
from ..yamnet import Yamnet
from ..yamnet.graph import FrozenYamnet, import_yamnet, patch_features, tfjs_friendly
from ..yamnet.top import write_back


class ExportError(PipelineError):
    """The head, its folder or the export target is unusable."""


@dataclass
class Head:
    """A trained per-patch head: Keras model [N, F] -> [N, C] and its ``head.json``.

    ``tuned_blocks``: YAMNet's top blocks as ``train --fine-tune`` left them (``tuned_blocks.npz``); the head
    was trained on features computed through them, so the export writes them into YAMNet's graph.
    """

    model: Any
    info: HeadInfo
    tuned_blocks: dict[str, np.ndarray] | None = None

    @property
    def labels(self) -> list[str]:
        return list(self.info.labels)

    @property
    def features(self) -> list[str]:
        return list(self.info.features)


def load_head(model_dir: Path) -> Head:
    """Read ``head.keras`` + ``head.json`` from ``model_dir`` and check they agree with each other."""
    keras_path = model_dir / HEAD_KERAS
    if not keras_path.is_file():
        raise ExportError(f"{keras_path} not found: run `yamnet-tfjs train` for {model_dir} first")
    try:
        info = read_head_info(model_dir)
    except ArtifactError as err:
        raise ExportError(str(err)) from None
    tf()
    import keras

    try:
        model = keras.models.load_model(keras_path, compile=False)
    except Exception as err:
        raise ExportError(f"{keras_path}: cannot load the Keras head ({err})") from None
    in_shape, out_shape = tuple(model.input_shape), tuple(model.output_shape)
    if in_shape[-1] != info.num_features or out_shape[-1] != len(info.labels):
        raise ExportError(
            f"{keras_path}: head maps {in_shape} -> {out_shape} but head.json says {info.num_features} features "
            f"({'+'.join(info.features)}) -> {len(info.labels)} labels"
        )
    return Head(model, info, _tuned_blocks(model_dir, info))


def _tuned_blocks(model_dir: Path, info: HeadInfo) -> dict[str, np.ndarray] | None:
    """The fine-tuned blocks head.json names (checked against its sha256), or None for a frozen-YAMNet head."""
    ft = info.raw.get("fine_tune")
    if not ft:
        return None
    path = model_dir / TUNED_BLOCKS
    if not path.is_file():
        raise ExportError(f"{info.path} says YAMNet's top blocks were fine-tuned, but {path} is missing: rerun train")
    if ft.get("sha256") and sha256_file(path) != ft["sha256"]:
        raise ExportError(f"{path} is not the file {info.path} was written with (sha256 differs): rerun train")
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def yamnet_graph(yamnet: Yamnet, head: Head | None) -> FrozenYamnet:
    """The YAMNet graph the export imports: TF.js-friendly, with a fine-tuned head's blocks written back.

    Only constant values change (same nodes, names, shapes), so conversion, the page and parity see the
    graph they always see.
    """
    frozen = tfjs_friendly(yamnet.model)
    if head is None or head.tuned_blocks is None:
        return frozen
    graph_def = write_back(frozen.graph_def, frozen.output_names["embeddings"], head.tuned_blocks)
    return FrozenYamnet(graph_def, frozen.input_name, dict(frozen.output_names))


def _make_module(frozen: FrozenYamnet, head: Head | None) -> Any:
    """A tf.Module whose ``serve`` imports the rewritten YAMNet graph and applies the head in one function."""
    tfm = tf()

    class ExportedModel(tfm.Module):
        def __init__(self) -> None:
            super().__init__(name="yamnet_tfjs")
            self.head = head.model if head else None

        # autograph=False: plain graph code; autograph once converted import_yamnet into a different function
        # when other modules of the package had been imported in the same process.
        @tfm.function(input_signature=[tfm.TensorSpec([None], tfm.float32, name="waveform")], autograph=False)
        def serve(self, waveform: Any) -> Any:
            yam = import_yamnet(frozen, waveform)
            if head is None:
                # A list gives signature keys output_0..2 in TF Hub's order (see YAMNET_ONLY_OUTPUTS).
                return [tfm.identity(yam[k], name=k) for k in YAMNET_ONLY_OUTPUTS]
            probs = self.head(patch_features(yam, head.features), training=False)
            values = {
                "scores": probs,
                "clip_scores": tfm.reduce_mean(probs, axis=0),  # a clip's score: the mean over its patches
                "yamnet_scores": yam["scores"],
                "embeddings": yam["embeddings"],
                "log_mel": yam["log_mel"],
            }
            return {name: tfm.identity(values[name], name=name) for name in OUTPUTS}

    return ExportedModel()


def save_saved_model(yamnet: Yamnet, head: Head | None, out_dir: Path) -> None:
    """Write one SavedModel: waveform -> dict of outputs (with head) or YAMNet's three (without)."""
    tfm = tf()
    # Freezing runs a graph session (constant folding) and tracing runs grappler/MLIR, which log INFO lines
    # from C++ straight to stderr ("MLIR V1 optimization pass is not enabled"): keep them off the terminal.
    with native_logs_silenced():
        module = _make_module(yamnet_graph(yamnet, head), head)
        signature = module.serve.get_concrete_function()
        tfm.saved_model.save(module, str(out_dir), signatures={"serving_default": signature})
