"""YAMNet's top blocks as trainable TF variables, rebuilt from the frozen graph, and written back into it.

Why: ``train --fine-tune`` tunes YAMNet's last one or two separable blocks together with the head, but the
product ships ONE frozen graph (YAMNet + head) that TF.js, the page and parity all read by structure. So
the tuned part is never a new model: it is the same constants with new values.

* :func:`find_blocks` walks the frozen GraphDef from the embedding back along the data inputs (op types
  and structure, never names, like :func:`pipeline.yamnet.graph.block_outputs`) and returns, per
  separable block 2..14, the Const nodes holding its depthwise and pointwise kernels and biases. The
  shared copy has batch norm folded into BiasAdd biases; Google's graph has FusedBatchNormV3 after each
  conv, which is folded here (``kernel * gamma / sqrt(var + eps)``, ``bias = beta - mean * that``).
* :class:`TopBlocks` holds blocks ``first..14`` as ``tf.Variable`` s and computes each block's output map
  from block ``first-1``'s output with the raw ``tf.nn.depthwise_conv2d`` (fast forward and backward on
  these 6x4 / 3x2 maps on a CPU; Keras' ``DepthwiseConv2D`` was far slower) and the pointwise
  convolution as one matmul. From float32 inputs it reproduces the frozen graph's embedding bit for bit
  (tests/test_finetune.py; the research run in docs/training.md measured 0.0 on 64 patches).
* :func:`score_layer` reads YAMNet's own classifier (``sigmoid(embedding @ W + b)``): with a tuned
  embedding its 521 scores move too, and the open-set decision must see the scores the export emits.
* :func:`write_back` puts tuned values into a copy of the GraphDef: same nodes, names, shapes and dtypes,
  only tensor values change, so conversion, the page and parity work unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ModelLoadError
from ..tfenv import tf
from .graph import RELU_OPS, _base

BN_OPS = ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
ADD_OPS = ("BiasAdd", "Add", "AddV2")
TUNABLE = (1, 2)
"""How many top blocks ``--tune-blocks`` may tune: block 14, or blocks 13-14."""


@dataclass(frozen=True)
class ConvParams:
    """One convolution + (BiasAdd | FusedBatchNorm) + ReLU of the frozen graph."""

    kernel_const: str  # Const node of the kernel (behind any Identity nodes)
    kind: str  # "bias": BiasAdd with folded batch norm; "bn": FusedBatchNorm
    bias_const: str | None  # the BiasAdd's Const (kind "bias")
    bn_node: str | None  # the FusedBatchNorm node (kind "bn")
    stride: int


def _const_behind(nodes: dict[str, Any], name: str) -> Any:
    node = nodes[_base(name)]
    while node.op == "Identity":
        node = nodes[_base(node.input[0])]
    if node.op != "Const":
        raise ModelLoadError(f"unexpected YAMNet graph: {name} is not a constant (op {node.op})")
    return node


def _value(node: Any) -> np.ndarray:
    return tf().make_ndarray(node.attr["value"].tensor)


def find_blocks(graph_def: Any, embeddings: str) -> dict[int, dict[str, ConvParams]]:
    """``{block: {"dw": ConvParams, "pw": ConvParams}}`` for blocks 2..14, found by structure.

    Raises:
        ModelLoadError: the chain from the embedding back is not YAMNet's 27 conv + ReLU stages.
    """
    nodes = {n.name: n for n in graph_def.node}
    convs: list[ConvParams] = []
    node = nodes.get(_base(embeddings))
    seen: set[str] = set()
    while node is not None and node.name not in seen:
        seen.add(node.name)
        if node.op in RELU_OPS:
            pre = nodes[_base(node.input[0])]
            if pre.op == "BiasAdd":
                conv = nodes[_base(pre.input[0])]
                kind, bias, bn = "bias", _const_behind(nodes, pre.input[1]).name, None
            elif pre.op in BN_OPS:
                conv = nodes[_base(pre.input[0])]
                kind, bias, bn = "bn", None, pre.name
            else:
                raise ModelLoadError(f"unexpected YAMNet graph: {pre.op} before {node.name}")
            strides = list(conv.attr["strides"].list.i)
            kernel = _const_behind(nodes, conv.input[1]).name
            convs.append(ConvParams(kernel, kind, bias, bn, int(strides[1]) if strides else 1))
        node = nodes.get(_base(node.input[0])) if node.input else None
    convs.reverse()
    if len(convs) != 27:
        raise ModelLoadError(f"unexpected YAMNet graph: {len(convs)} conv + ReLU stages, expected 27")
    return {k: {"dw": convs[2 * k - 3], "pw": convs[2 * k - 2]} for k in range(2, 15)}


def folded(graph_def: Any, p: ConvParams) -> tuple[np.ndarray, np.ndarray]:
    """``(kernel, bias)`` with batch norm folded in: depthwise kernel ``[3, 3, C]``, pointwise ``[Cin, Cout]``."""
    nodes = {n.name: n for n in graph_def.node}
    k = _value(nodes[p.kernel_const]).astype(np.float32)
    if p.kind == "bias":
        b = _value(nodes[p.bias_const]).astype(np.float32)
    else:
        bn = nodes[p.bn_node]
        gamma, beta, mean, var = (_value(_const_behind(nodes, bn.input[i])).astype(np.float32) for i in (1, 2, 3, 4))
        s = gamma / np.sqrt(var + bn.attr["epsilon"].f)
        depthwise = k.shape[3] == 1 and k.shape[:2] == (3, 3)
        k = k * (s[None, None, :, None] if depthwise else s)
        b = beta - mean * s
    if k.shape[3] == 1 and k.shape[:2] == (3, 3):  # depthwise [3, 3, C, 1]
        return k[:, :, :, 0], b
    return k[0, 0], b  # pointwise [1, 1, Cin, Cout]


def score_layer(graph_def: Any, scores: str) -> tuple[np.ndarray, np.ndarray]:
    """``(W [1024, 521], b [521])`` of YAMNet's classifier: ``scores = sigmoid(embedding @ W + b)``."""
    nodes = {n.name: n for n in graph_def.node}
    node = nodes[_base(scores)]
    while node.op == "Identity":
        node = nodes[_base(node.input[0])]
    if node.op != "Sigmoid":
        raise ModelLoadError(f"unexpected YAMNet graph: scores come from {node.op}, expected Sigmoid")
    add = nodes[_base(node.input[0])]
    matmul = nodes[_base(add.input[0])]
    if add.op not in ADD_OPS or matmul.op != "MatMul" or matmul.attr["transpose_b"].b:
        raise ModelLoadError(f"unexpected YAMNet graph: scores are {add.op}({matmul.op}), expected BiasAdd(MatMul)")
    w = _value(_const_behind(nodes, matmul.input[1])).astype(np.float32)
    b = _value(_const_behind(nodes, add.input[1])).astype(np.float32)
    return w, b


def depthwise(x: Any, kernel: Any, bias: Any, stride: int) -> Any:
    """3x3 depthwise conv (TF ``SAME`` padding) + bias + ReLU; ``kernel`` ``[3, 3, C]``."""
    tfm = tf()
    y = tfm.nn.depthwise_conv2d(x, kernel[:, :, :, None], [1, stride, stride, 1], "SAME")
    return tfm.nn.relu(y + bias)


def pointwise(x: Any, kernel: Any, bias: Any) -> Any:
    """1x1 conv + bias + ReLU as one matmul over the spatial positions."""
    tfm = tf()
    shape = tfm.shape(x)
    y = tfm.matmul(tfm.reshape(x, [-1, x.shape[-1]]), kernel) + bias
    return tfm.nn.relu(tfm.reshape(y, [shape[0], shape[1], shape[2], kernel.shape[1]]))


class TopBlocks:
    """YAMNet's blocks ``first``..14 as ``tf.Variable`` s, initialised from a frozen graph's constants.

    ``values()`` / ``assign()`` use the keys ``dw13_k`` (``[3, 3, C]``), ``dw13_b``, ``pw13_k``
    (``[Cin, Cout]``), ``pw13_b``, ... that :func:`write_back` takes.
    """

    def __init__(self, graph_def: Any, embeddings: str, first: int) -> None:
        if first not in (14, 13):
            raise ValueError(f"can tune blocks 13-14 or 14, not from block {first}")
        tfm = tf()
        blocks = find_blocks(graph_def, embeddings)
        self.first = first
        self.stride = {k: blocks[k]["dw"].stride for k in range(first, 15)}
        self.vars: dict[str, Any] = {}
        for k in range(first, 15):
            for part in ("dw", "pw"):
                kernel, bias = folded(graph_def, blocks[k][part])
                for name, value in ((f"{part}{k}_k", kernel), (f"{part}{k}_b", bias)):
                    self.vars[name] = tfm.Variable(value, name=name)

    @property
    def variables(self) -> list[Any]:
        return list(self.vars.values())

    def maps(self, x: Any) -> dict[int, Any]:
        """``{block: output map}`` for blocks ``first``..14, from block ``first-1``'s output map."""
        out = {}
        v = self.vars
        for k in range(self.first, 15):
            x = depthwise(x, v[f"dw{k}_k"], v[f"dw{k}_b"], self.stride[k])
            x = pointwise(x, v[f"pw{k}_k"], v[f"pw{k}_b"])
            out[k] = x
        return out

    def values(self) -> dict[str, np.ndarray]:
        return {k: v.numpy() for k, v in self.vars.items()}

    def assign(self, values: dict[str, np.ndarray]) -> None:
        if set(values) != set(self.vars):
            raise ValueError(f"tuned values for {sorted(values)}, expected {sorted(self.vars)}")
        for k, v in values.items():
            self.vars[k].assign(np.asarray(v, np.float32))


def first_tuned_block(values: dict[str, np.ndarray]) -> int:
    """The first block a set of tuned values covers (13 for ``dw13_k`` ...)."""
    return min(int(k[2:].split("_")[0]) for k in values)


def write_back(graph_def: Any, embeddings: str, values: dict[str, np.ndarray]) -> Any:
    """A copy of ``graph_def`` with the tuned blocks' constants replaced (same nodes, names, shapes, dtypes).

    Folded graphs (BiasAdd) get kernel and bias replaced; batch-norm graphs get the folded kernel and their
    batch norm set to "identity plus bias" (gamma 1, beta b, mean 0, variance 1 - eps).

    Raises:
        ValueError: a tuned value's size does not match its constant.
    """
    tfm = tf()
    gd = tfm.compat.v1.GraphDef()
    gd.CopyFrom(graph_def)
    blocks = find_blocks(gd, embeddings)
    nodes = {n.name: n for n in gd.node}

    def put(name: str, arr: np.ndarray) -> None:
        node = nodes[name]
        old = _value(node)
        arr = np.asarray(arr)
        if arr.size != old.size:
            raise ValueError(f"tuned value for {name} has {arr.size} elements, the graph's constant {old.size}")
        node.attr["value"].tensor.CopyFrom(tfm.make_tensor_proto(arr.astype(old.dtype).reshape(old.shape)))

    for key, arr in values.items():
        if not key.endswith("_k"):
            continue
        part, k = key[:2], int(key[2:-2])
        p = blocks[k][part]
        bias = np.asarray(values[f"{part}{k}_b"], np.float32)
        put(p.kernel_const, arr[:, :, :, None] if part == "dw" else arr[None, None])
        if p.kind == "bias":
            assert p.bias_const is not None
            put(p.bias_const, bias)
        else:  # Google's graph; the shared copy has batch norm folded (this branch is untested there)
            bn = nodes[p.bn_node]
            eps = bn.attr["epsilon"].f
            ones, zeros = np.ones_like(bias), np.zeros_like(bias)
            for i, v in zip((1, 2, 3, 4), (ones, bias, zeros, np.full_like(bias, 1 - eps)), strict=True):
                put(_const_behind(nodes, bn.input[i]).name, v)
    return gd
