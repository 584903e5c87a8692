"""Run YAMNet's network on patches batched across clips, not one clip per call.

TF Hub's YAMNet takes one 1-D waveform per call, so a naive loop runs its convolutions on 10 patches
at a time and pays per-call overhead 2000 times for ESC-50. Here the SavedModel's own graph is frozen
once and cut in two at the input of its first convolution (found by op type, so it works on both
Google's graph and the shared copy):

* ``front(waveform) -> patches [N, 96, 64, 1]``: the STFT / log-mel / framing, cheap, per clip;
* ``net(patches) -> features``: the MobileNet, on any batch of patches, giving every per-patch
  feature a head may read (:data:`pipeline.constants.FEATURE_WIDTHS`): scores ``[B, 521]``,
  embeddings ``[B, 1024]`` and the pooled outputs of blocks 9-13, pooled by the same
  :func:`pipeline.yamnet.graph.patch_features` the export puts in the served graph.

Both halves are the model's own ops and constants (the cut is
:func:`pipeline.yamnet.graph.first_conv_input`), so the results equal the hub call's (checked in the
tests); nothing about YAMNet is rebuilt by hand. If the graph cannot be cut (an unexpected
model), :func:`make_runner` falls back to calling the hub model per clip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..constants import FEATURE_ORDER
from ..errors import ModelLoadError
from ..tfenv import tf
from .graph import FrozenYamnet, first_conv_input, freeze_yamnet, patch_features
from .model import Yamnet


@dataclass
class PatchRunner:
    """YAMNet split into a per-clip front end and a batchable network (or the hub call as a fallback)."""

    front: Callable[[np.ndarray], Any] | None
    net: Callable[[Any], list[Any]] | None
    yamnet: Yamnet
    batched: bool
    feature_names: tuple[str, ...] = ("yamnet_scores", "embeddings")  # what ``net`` returns, in order

    def patches(self, waveform: np.ndarray) -> np.ndarray:
        """The clip's log-mel patches ``[N, 96, 64, 1]`` exactly as YAMNet frames them."""
        assert self.front is not None
        return self.front(tf().constant(waveform)).numpy()

    def run(self, patches: np.ndarray) -> dict[str, np.ndarray]:
        """Every per-patch feature (``feature_names``) for a batch of patches from any clips."""
        assert self.net is not None
        outs = self.net(tf().constant(patches))
        return {name: t.numpy() for name, t in zip(self.feature_names, outs, strict=True)}

    def run_padded(self, patches: np.ndarray, batch_rows: int) -> dict[str, np.ndarray]:
        """:meth:`run` on exactly ``batch_rows`` rows: ``patches`` (at most that many) zero-padded, outputs cut back.

        Why: YAMNet's CPU kernels round a row's low bits differently for other batch sizes (a row's
        position in the batch does not matter). With every call the same size, a clip's features do not
        depend on which clips shared its batch, on the data set's size, or on who ran it (the local
        embedder or a Beam worker); padding costs at most one partial batch per run.
        """
        n = len(patches)
        if n < batch_rows:
            patches = np.concatenate([patches, np.zeros((batch_rows - n, *patches.shape[1:]), patches.dtype)])
        outputs = self.run(patches)
        return {name: value[:n] for name, value in outputs.items()} if n < batch_rows else outputs

    def run_clip(self, waveform: np.ndarray) -> dict[str, np.ndarray]:
        """Scores and embeddings for one clip (the hub call; the fallback path has no layer features)."""
        out = self.yamnet(waveform)
        return {"yamnet_scores": out.scores, "embeddings": out.embeddings}


def make_runner(yamnet: Yamnet) -> PatchRunner:
    """Cut ``yamnet``'s graph into front end and network; fall back to per-clip hub calls if impossible."""
    try:
        front, net, names = _split(yamnet)
    except Exception:  # any surprise in an unfamiliar graph: correct but slower path
        return PatchRunner(None, None, yamnet, batched=False)
    return PatchRunner(front, net, yamnet, batched=True, feature_names=names)


def _split(yamnet: Yamnet) -> tuple[Callable, Callable, tuple[str, ...]]:
    frozen = freeze_yamnet(yamnet.model)  # the same frozen graph the export rewrites
    names = tuple(f for f in FEATURE_ORDER if f in ("embeddings", "yamnet_scores") or f in frozen.output_names)
    front, net = split_graph(frozen, lambda outputs: [patch_features(outputs, [name]) for name in names])
    return front, net, names


def split_graph(frozen: FrozenYamnet, fetch: Callable[[dict[str, Any]], list[Any]]) -> tuple[Callable, Callable]:
    """``(front(waveform) -> patches, net(patches) -> fetch(outputs))``: ``frozen`` cut at its first convolution.

    ``fetch`` maps the graph's named outputs (:attr:`FrozenYamnet.output_names`) to the tensors ``net`` returns.
    """
    tfm = tf()
    graph_def = tfm.compat.v1.GraphDef()
    graph_def.CopyFrom(frozen.graph_def)
    for node in graph_def.node:  # control edges only ordered variable reads; the variables are constants now
        inputs = [i for i in node.input if not i.startswith("^")]
        del node.input[:]
        node.input.extend(inputs)
    patches_name = first_conv_input(graph_def)
    keys = list(frozen.output_names)

    def _import() -> list[Any]:
        tensors = tfm.compat.v1.import_graph_def(
            graph_def, name="", return_elements=[frozen.output_names[k] for k in keys]
        )
        return fetch(dict(zip(keys, tensors, strict=True)))

    wrapped = tfm.compat.v1.wrap_function(_import, [])
    graph = wrapped.graph
    front = wrapped.prune(
        feeds=[graph.get_tensor_by_name(frozen.input_name)], fetches=graph.get_tensor_by_name(patches_name)
    )
    net = wrapped.prune(feeds=[graph.get_tensor_by_name(patches_name)], fetches=wrapped.outputs)
    return front, net


def block_runner(yamnet: Yamnet, layer: str) -> tuple[PatchRunner, FrozenYamnet]:
    """A runner whose network returns block ``layer``'s raw output map (``"layer12"`` -> ``{"maps": [B, 6, 4, 512]}``),
    and the frozen graph it cut: what ``train --fine-tune`` feeds its tuned blocks.

    Raises:
        ModelLoadError: the graph does not have YAMNet's block structure.
    """
    frozen = freeze_yamnet(yamnet.model)
    if layer not in frozen.output_names:
        raise ModelLoadError(f"this YAMNet graph does not have YAMNet's block structure: no {layer}")
    front, net = split_graph(frozen, lambda outputs: [outputs[layer]])
    return PatchRunner(front, net, yamnet, batched=True, feature_names=("maps",)), frozen
