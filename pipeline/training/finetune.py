"""``train --fine-tune``: tune YAMNet's top block(s) jointly with the head, on cached activations below them.

Why this shape (the research behind it is in docs/training.md, "Fine-tuning"):

* **Stage 1** is today's head, trained by the engine exactly as without ``--fine-tune`` (same tasks, hold-outs,
  seeds). **Stage 2** starts from it: YAMNet's block 14 (``--tune-blocks 1``) or blocks 13-14 (``2``, the
  default) rebuilt as variables from the frozen graph's constants (:class:`pipeline.yamnet.top.TopBlocks`),
  trained together with the head's members.
* **No YAMNet pass per epoch**: the input of the first tuned block (block 12's or 13's output map) is
  computed once per clip through the product's own frozen graph (:func:`block_inputs`) and kept in RAM
  (float32: ~1 GB for ESC-50 with two blocks, so the tuned model is evaluated on exactly the activations the
  exported graph computes). The untuned features (blocks 9-12's pooled outputs) come from the embedding
  cache as for stage 1.
* **The research recipe**, fixed: a fixed number of epochs that each see a random ``patch_fraction`` of the
  training patches, cosine decay of both learning rates to 0, Adam with separate rates for the blocks and
  the head, label smoothing and the head's dropouts, **no augmentation** (every augmentation tried on
  cached activations cost accuracy) and **no early stopping** (the hold-out loss was still falling at the
  end, so the last epoch is what it would pick). The stage-1 hold-out clips are left out of stage 2 too, so
  both stages see the same training clips; the test fold is never read.
* Deterministic per seed: batch orders and dropout masks come from NumPy generators seeded by the task
  (masks through the engine's counter hash, not TF's stateful generator), and op determinism is on.

Each tuned task yields its Keras head (the contract's model with tuned member weights, stage 1's
normalisation), the tuned block values (what :func:`pipeline.yamnet.top.write_back` puts into the export)
and, for every plain patch of the data set, its class probabilities and YAMNet's 521 scores as the tuned
graph computes them: evaluation and the open-set calibration read those, so they describe the model that
is exported.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..audio import load_audio
from ..constants import FEATURE_WIDTHS
from ..embeddings import DEFAULT_BATCH_PATCHES, EmbeddingSet
from ..errors import PipelineError
from ..events import OnMessage, ignore
from ..tfenv import tf as _tf
from ..yamnet import Yamnet
from ..yamnet.runner import block_runner
from ..yamnet.top import TUNABLE, TopBlocks, score_layer
from .engine import Table, Task, TaskResult, _keep_mask
from .head import TrainConfig, build_head


@dataclass
class BlockInputs:
    """The input map of the first tuned block for every plain patch, in the engine table's row order."""

    first: int  # first tuned block (13 or 14)
    maps: np.ndarray  # [P, h, w, c] float32: block ``first - 1``'s output
    graph_def: Any  # the frozen graph they came from (its constants initialise the tuned blocks)
    embeddings: str  # its embedding tensor name
    scores: str  # its scores tensor name
    seconds: float


@dataclass
class TunedModel:
    """One fine-tuned task: the Keras head, the tuned blocks, and its outputs on every plain patch."""

    head: Any
    blocks: dict[str, np.ndarray]
    probs: np.ndarray  # [P, C] class probabilities of every plain patch
    yamnet: np.ndarray  # [P, 521] YAMNet's scores from the tuned embedding
    seconds: float
    curve: list[float]  # mean training loss per epoch
    init_diff: float  # max |probability| difference between the rebuilt model at step 0 and stage 1's head
    frozen_head: Any = None  # the stage-1 head it started from (set by evaluation.cross_validate)


def first_block(cfg: TrainConfig) -> int:
    """The first tuned block for ``cfg.tune_blocks`` (1: block 14, 2: blocks 13-14)."""
    if cfg.tune_blocks not in TUNABLE:
        raise PipelineError(f"--tune-blocks takes {' or '.join(map(str, TUNABLE))}, got {cfg.tune_blocks}")
    return 15 - cfg.tune_blocks


def block_inputs(plain: EmbeddingSet, yamnet: Yamnet, first: int, on_message: OnMessage = ignore) -> BlockInputs:
    """Block ``first - 1``'s output map for every patch of ``plain``, through the product's frozen graph.

    The graph is cut at its first convolution like the embedder's runner (front end per clip, network on
    the embedder's full batches of patches), so these maps are the ones the cached features came from.

    Raises:
        PipelineError: a clip gives a different number of patches than its cached features.
        ModelLoadError: the graph does not have YAMNet's block structure.
    """
    start = time.perf_counter()
    runner, frozen = block_runner(yamnet, f"layer{first - 1}")
    total = sum(len(o["embeddings"]) for o in plain.outputs)
    maps: np.ndarray | None = None
    done = 0

    def run(batch: np.ndarray) -> None:
        nonlocal maps, done
        out = runner.run_padded(batch, DEFAULT_BATCH_PATCHES)["maps"]  # full-size calls, as the embedder: same bits
        if maps is None:
            maps = np.empty((total, *out.shape[1:]), np.float32)
        maps[done : done + len(out)] = out
        done += len(out)

    queued = np.zeros((0, 96, 64, 1), np.float32)
    for i, path in enumerate(plain.paths):
        p = runner.patches(load_audio(path))
        if len(p) != len(plain.outputs[i]["embeddings"]):
            raise PipelineError(f"{path}: {len(p)} patches now, {len(plain.outputs[i]['embeddings'])} in the cache")
        queued = np.concatenate([queued, p]) if len(queued) else p
        while len(queued) >= DEFAULT_BATCH_PATCHES:
            run(queued[:DEFAULT_BATCH_PATCHES])
            queued = queued[DEFAULT_BATCH_PATCHES:]
    if len(queued):
        run(queued)
    assert maps is not None and done == total
    seconds = time.perf_counter() - start
    on_message(f"fine-tune: block {first - 1}'s output for {total} patches ({maps.nbytes / 1e6:.0f} MB) "
               f"in {seconds:.1f} s")  # fmt: skip
    return BlockInputs(first, maps, frozen.graph_def, frozen.output_names["embeddings"], frozen.output_names["scores"],
                       seconds)  # fmt: skip


def _columns(features: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """``{feature: (start, stop)}`` of each feature's columns in the head's input."""
    out, start = {}, 0
    for f in features:
        out[f] = (start, start + FEATURE_WIDTHS[f])
        start += FEATURE_WIDTHS[f]
    return out


def _member_weights(head: Any, ensemble: int) -> list[list[np.ndarray]]:
    """Per member, its Dense layers' [kernel, bias, ...] in order (what ``build_head`` takes back)."""
    keras_dense = type(head.get_layer("member0").layers[-1])
    out = []
    for m in range(ensemble):
        member = head.get_layer(f"member{m}")
        out.append([w for layer in member.layers if isinstance(layer, keras_dense) for w in layer.get_weights()])
    return out


def tune_task(
    table: Table, task: Task, stage1: TaskResult, inputs: BlockInputs, cfg: TrainConfig, plain_rows: int,
) -> TunedModel:  # fmt: skip
    """Stage 2 for one task: its top blocks and head members trained jointly from stage 1's head."""
    tfm = _tf()
    start = time.perf_counter()
    features = tuple(cfg.features)
    cols = _columns(features)
    top = TopBlocks(inputs.graph_def, inputs.embeddings, inputs.first)
    score_w, score_b = (tfm.constant(v) for v in score_layer(inputs.graph_def, inputs.scores))
    members = _member_weights(stage1.head, cfg.ensemble)
    head_vars = [[tfm.Variable(w) for w in member] for member in members]
    flat_head = [v for member in head_vars for v in member]
    mean = tfm.constant(task.mean)
    inv_std = tfm.constant((1.0 / np.maximum(np.sqrt(task.var), 1e-7)).astype(np.float32))  # Keras' Normalization
    n_classes, n_feat = table.n_classes, len(task.mean)
    tuned = {"embeddings", "yamnet_scores"} | ({"layer13"} if inputs.first == 13 else set())
    p_in, p_h, smooth = cfg.input_dropout, cfg.dropout, cfg.label_smoothing

    def head_input(maps_in: Any, x: Any) -> tuple[Any, Any]:
        """The head's input ``[B, F]`` (tuned features recomputed, the others from the table) and YAMNet's scores."""
        maps = top.maps(maps_in)
        emb = tfm.reduce_mean(maps[14], axis=[1, 2])
        scores = tfm.sigmoid(tfm.matmul(emb, score_w) + score_b)
        parts = []
        for f in features:
            if f == "embeddings":
                parts.append(emb)
            elif f == "yamnet_scores":
                parts.append(scores)
            elif f == "layer13" and f in tuned:
                parts.append(tfm.reduce_mean(maps[13], axis=[1, 2]))
            else:
                a, b = cols[f]
                parts.append(x[:, a:b])
        return (parts[0] if len(parts) == 1 else tfm.concat(parts, axis=1)), scores

    @tfm.function  # one trace per batch shape (the dropout masks need static shapes)
    def forward(maps_in: Any, x: Any, key: Any, train: bool) -> tuple[list[Any], Any]:
        f, scores = head_input(maps_in, x)
        z = (f - mean) * inv_std
        out = []
        batch = maps_in.shape[0]
        for m, weights in enumerate(head_vars):
            h = z
            mkey = tfm.bitwise.bitwise_xor(key, tfm.constant([(m + 1) * 0x9E3779B9 % 2**32, 0x632BE5AB], tfm.uint32))
            if train and p_in:
                h = h * _keep_mask([batch, n_feat], mkey, p_in, tfm) / (1 - p_in)
            if len(weights) == 4:
                h = tfm.nn.relu(tfm.matmul(h, weights[0]) + weights[1])
                if train and p_h:
                    hkey = tfm.bitwise.bitwise_xor(mkey, tfm.constant([0x51ED270B, 0x2545F491], tfm.uint32))
                    h = h * _keep_mask([batch, h.shape[1]], hkey, p_h, tfm) / (1 - p_h)
                out.append(tfm.matmul(h, weights[2]) + weights[3])
            else:  # linear probe
                out.append(tfm.matmul(h, weights[0]) + weights[1])
        return out, scores

    params = top.variables + flat_head
    rates = [cfg.tune_lr_blocks] * len(top.variables) + [cfg.tune_lr_head] * len(flat_head)
    slots = [(tfm.Variable(tfm.zeros_like(v)), tfm.Variable(tfm.zeros_like(v))) for v in params]
    step_count = tfm.Variable(0.0)

    @tfm.function
    def train_step(maps_in: Any, x: Any, y: Any, key: Any, scale: Any) -> Any:
        targets = tfm.one_hot(y, n_classes) * (1 - smooth) + smooth / n_classes
        with tfm.GradientTape() as tape:
            outs, _ = forward(maps_in, x, key, True)
            loss = tfm.add_n([tfm.reduce_mean(tfm.nn.softmax_cross_entropy_with_logits(targets, lg)) for lg in outs])
        grads = tape.gradient(loss, params)
        step_count.assign_add(1.0)
        c1, c2 = 1 - 0.9**step_count, 1 - 0.999**step_count
        for v, g, (m_, s_), lr in zip(params, grads, slots, rates, strict=True):
            m_.assign(0.9 * m_ + 0.1 * g)
            s_.assign(0.999 * s_ + 0.001 * g * g)
            v.assign_sub(lr * scale * (m_ / c1) / (tfm.sqrt(s_ / c2) + 1e-7))
        return loss

    # The rebuilt model before any step must be stage 1's head (checked on every run, recorded in the report)
    check = task.val_rows[:512]
    outs, _ = forward(tfm.constant(inputs.maps[check]), tfm.constant(table.x[check]), tfm.constant([0, 0], tfm.uint32),
                      False)  # fmt: skip
    init_probs = (tfm.add_n([tfm.nn.softmax(lg) for lg in outs]) / len(outs)).numpy()
    init_diff = float(np.abs(init_probs - stage1.head.predict(table.x[check], verbose=0)).max()) if len(check) else 0.0

    fit = task.train_rows[task.train_rows < plain_rows]  # plain patches only: the maps exist for those
    rng = np.random.default_rng([task.seed, 2718281, cfg.tune_blocks])
    batch = cfg.tune_batch_size
    per_epoch = max(batch, int(len(fit) * cfg.tune_patch_fraction))
    curve = []
    no_key = tfm.constant([0, 0], tfm.uint32)
    for epoch in range(cfg.tune_epochs):
        order = rng.permutation(fit)[:per_epoch]
        steps = max(1, math.ceil((len(order) - batch // 2) / batch))
        keys = rng.integers(0, 2**32, (steps, 2), dtype=np.uint64).astype(np.uint32)
        losses = []
        for s in range(steps):
            rows = np.sort(order[s * batch : (s + 1) * batch])
            progress = min(1.0, (epoch + s * batch / len(order)) / cfg.tune_epochs)
            scale = np.float32(0.5 * (1 + math.cos(math.pi * progress)))
            batch_in = (inputs.maps[rows], table.x[rows], table.y[rows].astype(np.int32), keys[s], scale)
            loss = train_step(*(tfm.constant(a) for a in batch_in))
            losses.append(float(loss))
        curve.append(float(np.mean(losses)))

    probs = np.empty((plain_rows, n_classes), np.float32)
    yam = np.empty((plain_rows, score_b.shape[0]), np.float32)
    for s in range(0, plain_rows, 512):
        r = np.arange(s, min(s + 512, plain_rows))
        outs, scores = forward(tfm.constant(inputs.maps[r]), tfm.constant(table.x[r]), no_key, False)
        probs[r] = (tfm.add_n([tfm.nn.softmax(lg) for lg in outs]) / len(outs)).numpy()
        yam[r] = scores.numpy()
    tuned_members = [[v.numpy() for v in member] for member in head_vars]
    head = build_head(task.mean, task.var, n_classes, cfg, tuned_members)
    return TunedModel(head, top.values(), probs, yam, time.perf_counter() - start, curve, init_diff)


def tune_all(
    table: Table, tasks: list[Task], trained: list[TaskResult], inputs: BlockInputs, cfg: TrainConfig,
    plain_rows: int, on_message: OnMessage = ignore,
) -> list[TunedModel]:  # fmt: skip
    """Stage 2 for every task (the CV folds and the final head), one after another."""
    out = []
    for task, result in zip(tasks, trained, strict=True):
        tuned = tune_task(table, task, result, inputs, cfg, plain_rows)
        on_message(
            f"fine-tune {task.name}: blocks {inputs.first}-14 + head, {cfg.tune_epochs} epochs in "
            f"{tuned.seconds:.0f} s (training loss {tuned.curve[0]:.3f} -> {tuned.curve[-1]:.3f}; at step 0 it "
            f"matched the frozen head within {tuned.init_diff:.1e})"
        )
        out.append(tuned)
    return out
