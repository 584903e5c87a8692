"""Freeze YAMNet and rewrite its front end into ops every TF.js backend runs fast.

TF Hub's YAMNet computes its spectrogram with ``tf.signal.stft``, which becomes ``RFFT`` +
``ComplexAbs``: the TF.js wasm backend has no kernels for them and the cpu backend runs them in slow
JavaScript. The converter also fuses ``matmul(x, mel) + 0.001`` into a ``_FusedMatMul`` with a scalar
bias, which wasm rejects. This module freezes the hub model into a GraphDef and performs surgery
with the same math (see ``../shared/notes/toolchain.md``):

1. every ``RFFT`` of 512 over zero-padded 400-sample windowed frames becomes ``frames @ [cos | sin]``
   (a [400, 514] DFT basis), squared, re + im, sqrt; the ``ComplexAbs`` node is replaced by that
   ``Sqrt`` under the same name, so its consumers stay wired;
2. the DFT basis is *computed in the graph* from integer ``n * k mod 512`` (exact before cos/sin),
   and the range start depends on the input, so the converter cannot constant-fold it into an
   0.8 MB weight (that would blow the uint8 size goal and could be quantized by mistake);
3. a scalar-Const ``Add``/``AddV2``/``BiasAdd`` after a ``MatMul`` gets a full-shape bias;
4. front-end constants (Hann window, mel matrix, log offset) are renamed under
   :data:`FRONTEND_PREFIX`, so quantization can leave them alone (quantizing them wrecks log-mel).

Nodes are found by op type, never by name: Google's graph and the shared copy name them differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..constants import LAYER_WIDTHS
from ..errors import ModelLoadError
from ..tfenv import native_logs_silenced, tf

FRONTEND_PREFIX = "yamnet_frontend"
"""Name prefix of every front-end node this module creates; quantization skips these weights."""

YAMNET_OUTPUTS = ("scores", "embeddings", "log_mel")
"""Names of the frozen graph's outputs (Hub's ``model(waveform)`` tuple order)."""


RELU_OPS = ("Relu", "Relu6")
CONV_OPS = frozenset({"Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"})


@dataclass
class FrozenYamnet:
    """YAMNet as one frozen GraphDef: waveform in, outputs by tensor name.

    ``output_names`` holds the three hub outputs and, when the network has YAMNet's 14-block shape,
    ``layer9`` .. ``layer13``: the 4-D activations ``[N, h, w, c]`` of those blocks (see
    :func:`block_outputs`), which :func:`patch_features` pools into per-patch head features.
    """

    graph_def: Any  # tf.compat.v1.GraphDef
    input_name: str  # e.g. "waveform:0"
    output_names: dict[str, str]  # "scores" -> "Identity_2:0", "layer13" -> ".../Relu_24:0"


def freeze_yamnet(model: Any) -> FrozenYamnet:
    """Inline the hub SavedModel's ``__call__`` and its variables into a single constant GraphDef."""
    tfm = tf()
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    @tfm.function(input_signature=[tfm.TensorSpec([None], tfm.float32, name="waveform")], autograph=False)
    def call(waveform: Any) -> dict[str, Any]:
        scores, embeddings, log_mel = model(waveform)
        return {"scores": scores, "embeddings": embeddings, "log_mel": log_mel}

    with native_logs_silenced():
        frozen = convert_variables_to_constants_v2(call.get_concrete_function())
    # structured_outputs of the frozen function is a flat list in sorted-key order.
    names = {key: t.name for key, t in zip(sorted(YAMNET_OUTPUTS), frozen.outputs, strict=True)}
    graph_def = frozen.graph.as_graph_def()
    names.update(block_outputs(graph_def, names["embeddings"]))
    return FrozenYamnet(graph_def, frozen.inputs[0].name, names)


def block_outputs(graph_def: Any, embeddings: str) -> dict[str, str]:
    """``{"layer9": tensor, ..}``: the output activation of YAMNet's blocks 9-13, found by structure.

    YAMNet is a chain: layer1 (conv + ReLU), then 13 separable blocks (depthwise conv + ReLU,
    pointwise conv + ReLU), then a global mean (the embedding). Walking back from the embedding along
    each op's data input (input 0 of Mean, ReLU, BiasAdd/FusedBatchNorm and the convolutions) meets
    the 27 ReLUs in reverse; block ``k``'s output is the pointwise ReLU, the ``2k-2``-th from the
    start. Names are never used, so this holds for Google's graph (batch norm unfolded) and for the
    shared copy (folded). An unexpected chain gives ``{}``: layer features are then unavailable.
    """
    nodes = {n.name: n for n in graph_def.node}
    relus: list[str] = []
    seen: set[str] = set()
    node = nodes.get(_base(embeddings))
    while node is not None and node.name not in seen:
        seen.add(node.name)
        if node.op in RELU_OPS:
            relus.append(f"{node.name}:0")
        node = nodes.get(_base(node.input[0])) if node.input else None
    relus.reverse()
    if len(relus) != 27:
        return {}
    return {f"layer{k}": relus[2 * k - 2] for k in LAYER_WIDTHS}


def first_conv_input(graph_def: Any) -> str:
    """The tensor feeding the only convolution with no convolution upstream: YAMNet's patch batch.

    Cutting the graph there splits YAMNet into its front end (waveform -> log-mel patches
    ``[N, 96, 64, 1]``) and its network (patches -> everything else), which the embedder runs on
    patches batched across clips. Found by op type, so it holds for Google's graph and the shared copy.
    """
    nodes = {n.name: n for n in graph_def.node}
    memo: dict[str, bool] = {}

    def has_conv_upstream(name: str) -> bool:
        stack, seen = [name], set()
        while stack:
            cur = stack.pop()
            if cur in memo:
                if memo[cur]:
                    return True
                continue
            if cur in seen:
                continue
            seen.add(cur)
            node = nodes.get(cur)
            if node is None:
                continue
            for inp in node.input:
                src = _base(inp)
                if src in nodes and nodes[src].op in CONV_OPS:
                    return True
                stack.append(src)
        for s in seen:
            memo[s] = False
        return False

    firsts = [n for n in graph_def.node if n.op in CONV_OPS and not has_conv_upstream(_base(n.input[0]))]
    if len(firsts) != 1:
        raise ValueError(f"expected one first convolution, found {len(firsts)}")
    inp = firsts[0].input[0]
    return inp if ":" in inp else inp + ":0"


def patch_features(outputs: dict[str, Any], names: list[str] | tuple[str, ...]) -> Any:
    """A head's input ``[N, F]`` in the graph: the named features concatenated in the order given.

    ``embeddings`` and ``yamnet_scores`` are YAMNet's outputs as they are; ``layerK`` is the spatial
    mean of block K's activation, the same pooling YAMNet applies to block 14 for its embedding.
    Used by the export (in the served graph) and by the embedder (to fill the cache), so the head is
    trained on exactly what the exported model computes.
    """
    tfm = tf()
    parts = []
    for name in names:
        if name == "yamnet_scores":
            parts.append(outputs["scores"])
        elif name.startswith("layer"):
            if name not in outputs:
                raise ModelLoadError(f"this YAMNet graph does not have YAMNet's block structure: no {name} feature")
            parts.append(tfm.reduce_mean(outputs[name], axis=[1, 2]))
        else:
            parts.append(outputs[name])
    return parts[0] if len(parts) == 1 else tfm.concat(parts, axis=1)


def _base(name: str) -> str:
    return name.lstrip("^").split(":")[0]


def _const_value(node: Any) -> np.ndarray:
    return tf().make_ndarray(node.attr["value"].tensor)


def _const_node(name: str, value: np.ndarray) -> Any:
    tfm = tf()
    node = tfm.compat.v1.NodeDef(name=name, op="Const")
    node.attr["dtype"].type = tfm.as_dtype(value.dtype).as_datatype_enum
    node.attr["value"].tensor.CopyFrom(tfm.make_tensor_proto(value))
    return node


def _magnitude_nodes(prefix: str, frames: str, out_name: str, window: int, fft_length: int) -> list[Any]:
    """NodeDefs computing ``|rfft(pad(frames, fft_length))|`` as a matmul DFT, ending in ``out_name``.

    Built in a scratch graph with a placeholder for the frames, then renamed under ``prefix`` and
    rewired to read the real ``frames`` tensor.
    """
    tfm = tf()
    bins = fft_length // 2 + 1
    graph = tfm.Graph()
    with graph.as_default():
        x = tfm.compat.v1.placeholder(tfm.float32, [None, window], name="frames")
        # min(num_frames, 0) is always 0 but unknown to constant folding: keeps the basis out of the weights.
        zero = tfm.minimum(tfm.shape(x, out_type=tfm.int32)[0], 0)
        n = tfm.cast(tfm.range(zero, zero + window), tfm.float32)
        k = tfm.cast(tfm.range(zero, zero + bins), tfm.float32)
        # n * k as a one-term float32 matmul: exact (the products are below 2**24), and the basis is rebuilt on
        # every call, where TF.js's wasm backend runs a matmul far faster than its broadcast int32 multiply
        # (docs/speed.md); exact integers before the angle, as before.
        nk = tfm.math.floormod(tfm.cast(tfm.matmul(n[:, None], k[None, :]), tfm.int32), fft_length)
        # cos(2 pi m / L) for the L integers m, rounded once from float64; sin(x) = cos(x - pi/2).
        table = tfm.constant(np.cos(2.0 * np.pi * np.arange(fft_length) / fft_length).astype(np.float32))
        cos = tfm.gather(table, nk)
        sin = tfm.gather(table, tfm.math.floormod(nk - fft_length // 4, fft_length))
        basis = tfm.concat([cos, sin], axis=1)  # [window, 2 * bins]
        power = tfm.square(tfm.matmul(x, basis))
        re, im = tfm.split(power, 2, axis=1)
        tfm.sqrt(re + im, name="magnitude")
    nodes = []
    for node in graph.as_graph_def().node:
        if node.name == "frames":
            continue
        node.name = out_name if node.name == "magnitude" else f"{prefix}/{node.name}"
        for i, inp in enumerate(node.input):
            base, _, port = inp.partition(":")
            if base == "frames":
                node.input[i] = frames
            elif base == "magnitude":
                node.input[i] = out_name + (f":{port}" if port else "")
            else:
                node.input[i] = f"{prefix}/{inp}"
        nodes.append(node)
    return nodes


def tfjs_friendly(model: Any) -> FrozenYamnet:
    """YAMNet frozen, with the matmul-DFT front end every TF.js backend runs (what the export imports).

    Google's own reference code (``research/audioset/yamnet/features.py``, ``_tflite_stft_magnitude``)
    computes the same magnitude spectrum as a matmul with a DFT basis for TFLite, for the same reason:
    the runtime has no (fast) FFT kernel.
    """
    return rewrite_front_end(freeze_yamnet(model))


def rewrite_front_end(frozen: FrozenYamnet) -> FrozenYamnet:
    """A copy of ``frozen`` with the RFFT front end replaced by a matmul DFT (see module docstring)."""
    tfm = tf()
    gd = tfm.compat.v1.GraphDef()
    gd.CopyFrom(frozen.graph_def)
    nodes = {n.name: n for n in gd.node}
    rffts = [n for n in gd.node if n.op == "RFFT"]
    if not rffts:
        raise ModelLoadError("YAMNet graph has no RFFT node: not the TF Hub YAMNet front end this export rewrites")
    new_nodes: list[Any] = []
    drop: set[str] = set()
    frames_tensors: list[str] = []
    for index, rfft in enumerate(rffts):
        pad, fft_len_node = nodes[_base(rfft.input[0])], nodes[_base(rfft.input[1])]
        fft_length = int(_const_value(fft_len_node).reshape(-1)[0])
        if pad.op not in ("Pad", "PadV2"):
            raise ModelLoadError(f"unexpected YAMNet graph: RFFT input is {pad.op}, expected Pad")
        paddings = _const_value(nodes[_base(pad.input[1])])
        if paddings.shape != (2, 2) or paddings[0].any() or paddings[1, 0] != 0:
            raise ModelLoadError(f"unexpected YAMNet graph: RFFT pad {paddings.tolist()} is not right-padding")
        window = fft_length - int(paddings[1, 1])
        abs_nodes = [n for n in gd.node if n.op == "ComplexAbs" and _base(n.input[0]) == rfft.name]
        if len(abs_nodes) != 1:
            raise ModelLoadError("unexpected YAMNet graph: RFFT output is not read by exactly one ComplexAbs")
        prefix = f"{FRONTEND_PREFIX}/dft_{index}"
        new_nodes += _magnitude_nodes(prefix, pad.input[0], abs_nodes[0].name, window, fft_length)
        drop |= {rfft.name, abs_nodes[0].name}
        frames_tensors.append(pad.input[0])
    kept = [n for n in gd.node if n.name not in drop]
    del gd.node[:]
    gd.node.extend(kept + new_nodes)
    _name_front_end_constants(gd, [n.name for n in new_nodes if n.op == "Sqrt"], frames_tensors, frozen)
    _full_shape_matmul_biases(gd)
    pruned = tfm.compat.v1.graph_util.extract_sub_graph(gd, [_base(name) for name in frozen.output_names.values()])
    return FrozenYamnet(pruned, frozen.input_name, dict(frozen.output_names))


def _consumers(gd: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for node in gd.node:
        for inp in node.input:
            out.setdefault(_base(inp), []).append(node)
    return out


def _replace_input(gd: Any, old: str, new: str) -> None:
    for node in gd.node:
        for i, inp in enumerate(node.input):
            if _base(inp) == old and not inp.startswith("^"):
                node.input[i] = new + inp[len(_base(inp)) :]


def _name_front_end_constants(gd: Any, magnitudes: list[str], frames: list[str], frozen: FrozenYamnet) -> None:
    """Give the window and mel matrix Const nodes known names under :data:`FRONTEND_PREFIX`.

    The Hann window may be a Const (Google's graph) or computed from Cos (the shared copy); either
    way it depends on no input, so its value is evaluated once and stored as a named Const.
    """
    nodes = {n.name: n for n in gd.node}
    consumers = _consumers(gd)
    for magnitude in magnitudes:
        for user in consumers.get(magnitude, []):
            if user.op == "MatMul":
                # A Const in both known graphs; evaluated otherwise (e.g. behind an Identity).
                mel = nodes[_base(user.input[1])]
                value = _const_value(mel) if mel.op == "Const" else _evaluate_constant(frozen, user.input[1])
                if value is not None:
                    new = _const_node(f"{FRONTEND_PREFIX}/mel_matrix", value.astype(np.float32))
                    gd.node.append(new)
                    user.input[1] = new.name
    for frames_tensor in frames:
        mul = nodes.get(_base(frames_tensor))
        if mul is None or mul.op != "Mul":
            continue
        for slot in (1, 0):
            value = _evaluate_constant(frozen, mul.input[slot])
            if value is not None and value.ndim == 1:
                window = _const_node(f"{FRONTEND_PREFIX}/hann_window", value.astype(np.float32))
                gd.node.append(window)
                mul.input[slot] = window.name
                break


def _evaluate_constant(frozen: FrozenYamnet, tensor: str) -> np.ndarray | None:
    """Value of a tensor that depends on no placeholder, or None if it does depend on the input."""
    tfm = tf()
    graph = tfm.Graph()
    with graph.as_default():
        tfm.graph_util.import_graph_def(frozen.graph_def, name="")
    target = graph.get_tensor_by_name(tensor if ":" in tensor else tensor + ":0")
    seen, stack = set(), [target.op]
    while stack:
        op = stack.pop()
        if op.type == "Placeholder":
            return None
        for t in op.inputs:
            if t.op.name not in seen:
                seen.add(t.op.name)
                stack.append(t.op)
    # Control dependencies may still reach the placeholder; any value works since data does not.
    feed = {graph.get_tensor_by_name(frozen.input_name): np.zeros(16000, np.float32)}
    with tfm.compat.v1.Session(graph=graph) as sess:
        return np.asarray(sess.run(target, feed_dict=feed))


def _full_shape_matmul_biases(gd: Any) -> None:
    """Give ``MatMul(x, W) + scalar`` a [W.shape[-1]] bias: wasm's _FusedMatMul rejects rank-0 biases."""
    nodes = {n.name: n for n in gd.node}
    for node in list(gd.node):
        if node.op not in ("Add", "AddV2", "BiasAdd"):
            continue
        srcs = [nodes.get(_base(i)) for i in node.input[:2]]
        if len(srcs) != 2 or any(s is None for s in srcs):
            continue
        for mm, const, slot in ((srcs[0], srcs[1], 1), (srcs[1], srcs[0], 0)):
            if mm.op != "MatMul" or const.op != "Const":
                continue
            value = _const_value(const)
            weight = nodes.get(_base(mm.input[1]))
            if value.size != 1 or weight is None or weight.op != "Const":
                continue
            w_shape = _const_value(weight).shape
            width = w_shape[0] if mm.attr["transpose_b"].b else w_shape[-1]
            name = f"{FRONTEND_PREFIX}/log_offset" if "mel_matrix" in weight.name else f"{const.name}/full"
            if name not in nodes:
                new = _const_node(name, np.full([width], value.reshape(-1)[0], dtype=value.dtype))
                gd.node.append(new)
                nodes[name] = new
            node.input[slot] = name
            break


def graph_ops(graph_def: Any) -> set[str]:
    """The set of op types in a GraphDef (tests check RFFT/ComplexAbs are gone)."""
    return {n.op for n in graph_def.node}


def import_yamnet(frozen: FrozenYamnet, waveform: Any, name: str = "yamnet") -> dict[str, Any]:
    """Import the frozen graph into the current graph/function, fed by ``waveform``; outputs by name."""
    tfm = tf()
    keys = list(frozen.output_names)
    tensors = tfm.graph_util.import_graph_def(
        frozen.graph_def,
        input_map={frozen.input_name: waveform},
        return_elements=[frozen.output_names[k] for k in keys],
        name=name,
    )
    return dict(zip(keys, tensors, strict=True))
