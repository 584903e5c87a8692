"""Train many heads at once: every (task, member) pair is one small MLP, all stepped in one graph.

A head of 2 x 32 hidden units over 4096 features is tiny arithmetic, so Keras' per-step overhead used
to be the whole cost of training (every fold, one after another). Here the members of every task (the
cross-validation folds, the final head, the open-set study's heads) are ``M`` independent MLPs whose
weights are stacked ``[M, ...]`` and trained side by side by one custom loop:

* the models are grouped by member index; each group draws its batches from the union of the tasks'
  training rows (a fresh permutation per group and epoch), and each model weighs a batch's rows by whether
  they are its own, so it trains on exactly its task's rows and never on another task's test fold;
* each group's batch is gathered and multiplied by one input dropout mask in one XLA kernel; the masks
  come from a counter-based integer hash keyed per step (TF's Philox generator cost more than the matmuls);
* a group's first layers are one matmul, ``[B, F] x [F, T * H]``, each model's normalisation folded into
  its kernel (:class:`Engine`): ``M`` separately normalised copies of the batch, the previous design, made
  memory traffic the cost. That matmul runs outside XLA (XLA's CPU matmul is slower than oneDNN's here) and
  in bfloat16 where the CPU multiplies it natively (:func:`pipeline.tfenv.matmul_precision`), with float32
  weights, optimiser and everything after it;
* a task may know only some of the classes (the open-set study holds classes out): the others are
  masked out of its softmax and its label smoothing, so its head is exactly a head over its classes.

Each model keeps the weights of its best epoch on its task's hold-out (early stopping with patience), and
:func:`train_tasks` puts them into the contract's Keras head (``head.build_head``), which is what gets
saved and exported. The same seed gives bit-identical weights: row orders, hash keys and initial weights
come from NumPy generators seeded by the task; every TF op is deterministic. docs/training.md has the
measurements behind each choice.
"""

from __future__ import annotations

import contextlib
import gc
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..tfenv import matmul_precision, native_logs_silenced
from ..tfenv import tf as _tf
from .head import TrainConfig, build_head, column_mean

OnEpoch = Callable[[int, int], None]
"""``on_epoch(done, max_epochs)`` after every epoch of a training run."""


@dataclass
class Table:
    """Every patch row the tasks train and validate on, read once: features, labels, clip of each row."""

    x: np.ndarray  # [N, F] float32
    y: np.ndarray  # [N] class index
    owner: np.ndarray  # [N] clip index
    n_classes: int


@dataclass
class Task:
    """One head to train: its training rows, its early-stopping rows, its normalisation and classes."""

    name: str
    train_rows: np.ndarray  # int [R]
    val_rows: np.ndarray  # int [V]
    mean: np.ndarray  # [F]
    var: np.ndarray  # [F]
    seed: int
    classes: np.ndarray  # the class indices this head outputs, in order (all of them normally)
    sink: bool = False  # the last of ``classes`` is a background set's sink: trained, dropped from the head


@dataclass
class TaskResult:
    """A trained head: the contract's Keras model over the task's classes, best epochs, learning curves."""

    head: Any
    best_epochs: list[int]
    history: list[dict[str, list[float]]] = field(default_factory=list)  # per member: loss, val_loss, val_accuracy
    tuned: Any = None  # with --fine-tune: the finetune.TunedModel whose head replaced stage 1's


def _mix(h: Any, tf: Any) -> Any:
    """lowbias32 (C. Wellons): a 32-bit integer mixer with very low bias."""
    h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 16))
    h = h * tf.constant(0x7FEB352D, tf.uint32)
    h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 15))
    h = h * tf.constant(0x846CA68B, tf.uint32)
    return tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 16))


def _keep_mask(shape: list[int], key: Any, rate: float, tf: Any) -> Any:
    """Bernoulli(1 - rate) as float32 from a keyed counter hash (key: uint32 [2])."""
    n = int(np.prod(shape))
    i = tf.cast(tf.reshape(tf.range(n, dtype=tf.int32), shape), tf.uint32)
    h = _mix(i * tf.constant(0x9E3779B9, tf.uint32) + key[0], tf)
    h = _mix(tf.bitwise.bitwise_xor(h, key[1]), tf)
    return tf.cast(h >= tf.constant(min(round(rate * 2**32), 2**32 - 1), tf.uint32), tf.float32)


class Engine:
    """``M`` = tasks x members independent MLPs over one feature table, trained side by side.

    Models are grouped by member index (the ``m``-th member of every task: ``K`` groups of ``T`` models).
    Every step draws, per group, one batch of rows from the union of the tasks' training rows, in the group's
    own order; each model trains on the rows of that batch that are its own (a 0/1 weight per model and row),
    so its epoch is still one pass over exactly its rows, and a task's members still see different orders
    and dropout masks. Sharing the batch is what makes the first layer cheap: the normalised inputs of ``M``
    models would be ``M`` copies of the batch (memory traffic, not arithmetic, was the cost), while a shared
    batch meets its group's first layers in one ``[B, F] x [F, T * H]`` matmul, with each model's
    normalisation folded into its weights:

        ((x - mu) * s) W  =  ((x - r) - (mu - r)) * s W  =  (x - r) (s W)  -  ((mu - r) * s) W

    where ``r`` is one reference mean for the table (the mean of the rows any task trains on). Input dropout
    is one mask per step and group, applied to ``x - r``; Keras applies it to ``(x - mu) * s``. The
    two differ only where a task's mean ``mu`` differs from ``r`` (a fold's mean from the training rows'
    mean: a small fraction of a feature's spread), and only during training: the saved head is unchanged.
    """

    def __init__(self, table: Table, tasks: list[Task], cfg: TrainConfig) -> None:
        tf = _tf()
        self.tf, self.cfg, self.tasks = tf, cfg, tasks
        k = cfg.ensemble
        T = len(tasks)
        self.models = [(t, m) for m in range(k) for t in range(T)]  # model j = m * T + t: group m, contiguous
        M, F, C = len(self.models), table.x.shape[1], table.n_classes
        H = cfg.hidden
        self.M, self.F, self.H, self.C, self.K, self.T = M, F, H, C, k, T
        self.linear = H == 0  # a linear probe: the first layer is the output layer
        self.union = np.unique(np.concatenate([t.train_rows for t in tasks]))
        self.owns = np.zeros((M, len(table.x)), np.float32)  # 1 where a row is in model j's training rows
        for j, (t, _) in enumerate(self.models):
            self.owns[j, tasks[t].train_rows] = 1.0
        # the largest task sees batch_size rows per step, as a head trained alone would
        self.steps = max(1, math.ceil(max(len(t.train_rows) for t in tasks) / cfg.batch_size))
        self.batch = math.ceil(len(self.union) / self.steps)
        reference = column_mean(table.x, self.union).astype(np.float32)
        self.X = tf.constant(table.x - reference)
        self.Y = tf.constant(table.y.astype(np.int32))
        mask = np.zeros((M, C), np.float32)
        for j, (t, _) in enumerate(self.models):
            mask[j, tasks[t].classes] = 1.0
        self.class_mask = tf.constant(mask)
        self.class_bias = tf.constant((mask - 1.0) * 1e9)  # -1e9 on classes a task does not know
        self.smooth_share = tf.constant(cfg.label_smoothing / mask.sum(axis=1))  # spread over known classes
        inv = np.stack([1.0 / np.sqrt(tasks[t].var) for t, _ in self.models]).astype(np.float32)  # [M, F]
        shift = np.stack([tasks[t].mean - reference for t, _ in self.models]).astype(np.float32)
        self.dtype = tf.bfloat16 if matmul_precision() == "bfloat16" else tf.float32  # the first layer's matmuls
        # [K, F, T, 1]: scales the stacked kernels; input dropout's 1/(1 - rate) is folded in (its mask is 0/1)
        self.inv = tf.constant(self._grouped(inv / (1.0 - cfg.input_dropout))[..., None])
        self.shift_inv = tf.constant(self._grouped(shift * inv))  # [K, F, T]
        self.inv_rows, self.shift_rows = tf.constant(inv), tf.constant(shift)  # [M, F], for the hold-outs
        V = max([len(t.val_rows) for t in tasks] + [1])  # hold-out rows per model, padded to one length
        vrows, wval = np.zeros((M, V), np.int32), np.zeros((M, V), np.float32)
        for j, (t, _) in enumerate(self.models):
            rows = tasks[t].val_rows
            vrows[j, : len(rows)], wval[j, : len(rows)] = rows, 1
        self.Vrows, self.Wval = tf.constant(vrows), tf.constant(wval)
        out1 = C if self.linear else H
        w1 = np.zeros((M, F, out1), np.float32)
        w2 = np.zeros((M, max(H, 1), C), np.float32)
        for j, (t, m) in enumerate(self.models):  # Keras' Dense defaults: glorot-uniform kernels, zero biases
            rng = np.random.default_rng([tasks[t].seed, m, 7919])
            w1[j] = rng.uniform(-1, 1, (F, out1)) * math.sqrt(6 / (F + out1))
            if not self.linear:
                w2[j] = rng.uniform(-1, 1, (H, C)) * math.sqrt(6 / (H + C))
        # the first kernel is stored [K, F, T, out]: one [F, T * out] matmul per group
        self.params = [tf.Variable(self._grouped(w1)), tf.Variable(np.zeros((M, out1), np.float32))]
        if not self.linear:
            self.params += [tf.Variable(w2), tf.Variable(np.zeros((M, C), np.float32))]
        self.adam_m = [tf.Variable(tf.zeros_like(p)) for p in self.params]
        self.adam_v = [tf.Variable(tf.zeros_like(p)) for p in self.params]
        self.t = tf.Variable(0.0)
        self._build()

    def _grouped(self, per_model: np.ndarray) -> np.ndarray:
        """``[M, F, ...]`` in model order to the grouped layout ``[K, F, T, ...]``."""
        grouped = per_model.reshape(self.K, self.T, *per_model.shape[1:])
        return np.ascontiguousarray(np.moveaxis(grouped, 1, 2))

    def _first_layer(self, x: Any, params: list[Any]) -> Any:
        """Every model's first layer on its group's rows ``x - r`` ``[K, B, F]``: ``[M, B, out]``."""
        tf = self.tf
        K, _, T, out = params[0].shape
        kernels, shift = self._fold(params[0], self.inv, self.shift_inv)
        h = tf.cast(tf.matmul(x, kernels), tf.float32)
        h = tf.transpose(tf.reshape(h, [K, -1, T, out]), [0, 2, 1, 3])
        return tf.reshape(h, [K * T, -1, out]) + (params[1] - shift)[:, None]

    def _head_of(self, h: Any, params: list[Any], j: int | None, hmask: Any = None) -> Any:
        """Logits from first-layer outputs ``h``: of model ``j`` (``[B, out]``), or of all (``[M, B, out]``)."""
        tf = self.tf
        bias = self.class_bias[j] if j is not None else self.class_bias[:, None]
        if self.linear:
            return h + bias
        h = tf.nn.relu(h)
        if j is not None:
            return tf.matmul(h, params[2][j]) + params[3][j] + bias
        return tf.matmul(h * hmask, params[2]) + params[3][:, None] + bias

    def _build(self) -> None:
        tf, cfg = self.tf, self.cfg
        M, H, C = self.M, max(self.H, 1), self.C
        p_in, p_h = cfg.input_dropout, cfg.dropout

        @tf.function(jit_compile=True)
        def inputs(X: Any, rows: Any, key: Any) -> tuple[Any, Any]:
            B = rows.shape[-1]
            x = tf.gather(X, rows)  # [K, B, F], each group's batch shared by its models
            if p_in:
                x = x * _keep_mask([self.K, B, self.F], key, p_in, tf)
            x = tf.cast(x, self.dtype)
            hkey = tf.bitwise.bitwise_xor(key, tf.constant([0x51ED270B, 0x2545F491], tf.uint32))
            return x, _keep_mask([M, B, H], hkey, p_h, tf) / (1 - p_h)

        @tf.function(jit_compile=True)
        def fold(W1: Any, inv: Any, shift_inv: Any) -> tuple[Any, Any]:
            """The normalisation folded into the stacked kernels ``[K, F, T, out]``: the scaled kernels as one
            ``[F, T * out]`` matrix per group, and each model's centring term ``((mu - r) * s) W`` ``[M, out]``.
            In one XLA kernel, forward and backward: as separate TF ops they cost as much as the matmuls."""
            K, F, T, out = W1.shape
            shift = tf.reduce_sum(W1 * shift_inv[..., None], axis=1)
            return tf.cast(tf.reshape(W1 * inv, [K, F, T * out]), self.dtype), tf.reshape(shift, [K * T, out])

        self._fold = fold

        @tf.function(jit_compile=True)
        def adam(p: Any, g: Any, m: Any, v: Any, on: Any, alpha: Any) -> tuple[Any, Any, Any]:
            """One Adam update in one pass over memory (unfused, it cost as much as the matmuls)."""
            m = m + on * 0.1 * (g - m)
            v = v + on * 0.001 * (tf.square(g) - v)
            return p - on * alpha * m / (tf.sqrt(v) + 1e-7), m, v

        def step(rows: Any, valid: Any, key: Any, lr: Any) -> Any:
            onehot = tf.repeat(tf.one_hot(tf.gather(self.Y, rows), C), self.T, axis=0)  # [M, B, C]
            targets = onehot * (1 - cfg.label_smoothing) + self.smooth_share[:, None, None] * self.class_mask[:, None]
            x, hmask = inputs(self.X, rows, key)
            with tf.GradientTape() as tape:
                logits = self._head_of(self._first_layer(x, self.params), self.params, None, hmask)
                nll = -tf.reduce_sum(targets * tf.nn.log_softmax(logits), -1)  # [M, B]
                per_model = tf.reduce_sum(valid * nll, 1) / tf.maximum(tf.reduce_sum(valid, 1), 1.0)
                total = tf.reduce_sum(per_model)
            grads = tape.gradient(total, self.params)
            self.t.assign_add(1.0)
            alpha = lr * tf.sqrt(1 - 0.999**self.t) / (1 - 0.9**self.t)  # Adam, as Keras (eps 1e-7)
            # A model with none of its rows in this batch must not move: Adam's momentum alone would keep
            # stepping it.
            live = tf.cast(tf.reduce_sum(valid, 1) > 0, tf.float32)
            for i, (p, g, m_, v_) in enumerate(zip(self.params, grads, self.adam_m, self.adam_v, strict=True)):
                on = tf.reshape(live, [self.K, 1, self.T, 1] if i == 0 else [M] + [1] * (len(p.shape) - 1))
                new_p, new_m, new_v = adam(p, g, m_, v_, on, alpha)
                p.assign(new_p)
                m_.assign(new_m)
                v_.assign(new_v)
            return per_model

        @tf.function
        def epoch(idx: Any, valid: Any, keys: Any, lrs: Any) -> Any:
            total = tf.zeros([M])
            for s in tf.range(tf.shape(idx)[0]):
                total += step(idx[s], valid[s], keys[s], lrs[s])
            return total / tf.cast(tf.shape(idx)[0], tf.float32)

        @tf.function
        def validate() -> tuple[Any, Any]:
            losses, accs = [], []
            for j in range(M):  # one model at a time: the normalised hold-out is [V, F], never [M, V, F]
                rows = self.Vrows[j]
                z = (tf.gather(self.X, rows) - self.shift_rows[j]) * self.inv_rows[j]
                kernel = self.params[0][j // self.T, :, j % self.T]
                logits = self._head_of(tf.matmul(z, kernel) + self.params[1][j], self.params, j)
                y = tf.gather(self.Y, rows)
                targets = tf.one_hot(y, C) * (1 - cfg.label_smoothing) + self.smooth_share[j] * self.class_mask[j]
                nll = -tf.reduce_sum(targets * tf.nn.log_softmax(logits), -1)
                hit = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), y), tf.float32)
                weight = tf.maximum(tf.reduce_sum(self.Wval[j]), 1.0)
                losses.append(tf.reduce_sum(self.Wval[j] * nll) / weight)
                accs.append(tf.reduce_sum(self.Wval[j] * hit) / weight)
            return tf.stack(losses), tf.stack(accs)

        self._epoch, self._validate = epoch, validate

    def _lr(self, epoch: int, steps: int) -> np.ndarray:
        """Adam's learning rate for each step of ``epoch``: cosine decay to 0 over ``max_epochs``."""
        cfg = self.cfg
        progress = np.clip((epoch + (np.arange(steps) + 0.5) / steps) / cfg.max_epochs, 0, 1)
        factor = 0.5 * (1 + np.cos(np.pi * progress)) if cfg.schedule == "cosine" else np.ones(steps)
        return (cfg.learning_rate * factor).astype(np.float32)

    def _epoch_arrays(self, rng: np.random.Generator, epoch: int) -> tuple[np.ndarray, ...]:
        """Row indices ``[S, K, B]`` (the union's rows, shuffled per group; the last batch padded), each
        model's weight for its group's rows ``[S, M, B]``, hash keys ``[S, 2]``, learning rates ``[S]``."""
        steps, B, K, T = self.steps, self.batch, self.K, self.T
        order = np.zeros((K, steps * B), np.int64)
        for g in range(K):
            order[g, : len(self.union)] = rng.permutation(self.union)
        padding = np.arange(steps * B) >= len(self.union)
        valid = np.stack([self.owns[g * T : (g + 1) * T][:, order[g]] for g in range(K)]).reshape(self.M, -1)
        valid[:, padding] = 0
        idx = np.ascontiguousarray(order.reshape(K, steps, B).transpose(1, 0, 2).astype(np.int32))
        valid = np.ascontiguousarray(valid.reshape(self.M, steps, B).transpose(1, 0, 2))
        keys = rng.integers(0, 2**32, (steps, 2), dtype=np.uint64).astype(np.uint32)
        return idx, valid, keys, self._lr(epoch, steps)

    def _weights(self) -> list[np.ndarray]:
        """Every parameter with the model on axis 0 (the first kernel is stored ``[K, F, T, out]``)."""
        values = [p.numpy() for p in self.params]
        values[0] = np.ascontiguousarray(np.moveaxis(values[0], 2, 1)).reshape(self.M, self.F, -1)
        return values

    def fit(self, on_epoch: OnEpoch | None = None) -> dict[str, Any]:
        """Train until every model is ``patience`` epochs past its best (or the epoch cap)."""
        tf, cfg = self.tf, self.cfg
        rng = np.random.default_rng([cfg.seed, 104729, self.M])
        best = np.full(self.M, np.inf)
        best_epoch = np.zeros(self.M, int)
        best_w = self._weights()
        history = {"loss": [], "val_loss": [], "val_accuracy": []}
        for e in range(cfg.max_epochs):
            arrays = [tf.constant(a) for a in self._epoch_arrays(rng, e)]
            # the first epoch compiles the XLA kernels, and XLA's C++ prints its start-up banner to stderr past
            # TensorFlow's log level (absl logs before it is initialised): silenced, errors still raise
            with native_logs_silenced() if e == 0 else contextlib.nullcontext():
                train_loss = self._epoch(*arrays).numpy()
            val_loss, val_acc = (v.numpy() for v in self._validate())
            for key, value in (("loss", train_loss), ("val_loss", val_loss), ("val_accuracy", val_acc)):
                history[key].append(value)
            # A model past its patience keeps its best epoch even while others train on, so its
            # result does not depend on how long the slowest task sharing the run needs.
            waiting = e - best_epoch < cfg.patience
            improved = np.flatnonzero((val_loss < best) & waiting)
            if len(improved):
                now = self._weights()
                for j in improved:
                    best[j], best_epoch[j] = val_loss[j], e + 1
                    for bw, nw in zip(best_w, now, strict=True):
                        bw[j] = nw[j]
            if on_epoch:
                on_epoch(e + 1, cfg.max_epochs)
            if np.all(e + 1 - best_epoch >= cfg.patience):
                break
        return {"weights": best_w, "best_epochs": best_epoch, "history": {k: np.array(v) for k, v in history.items()}}


def train_tasks(table: Table, tasks: list[Task], cfg: TrainConfig, on_epoch: OnEpoch | None = None) -> list[TaskResult]:
    """Train every task's members in one run; one Keras head (the contract's) per task."""
    tf = _tf()
    tf.config.experimental.enable_op_determinism()
    engine = Engine(table, tasks, cfg)
    out = engine.fit(on_epoch)
    models, linear = engine.models, engine.linear
    del engine  # its graph functions hold copies of the table
    gc.collect()
    results = []
    for t, task in enumerate(tasks):
        ids = [j for j, (tt, _) in enumerate(models) if tt == t]
        members = []
        for j in ids:
            weights = [w[j] for w in out["weights"]]
            if linear:
                members.append([weights[0][:, task.classes], weights[1][task.classes]])
            else:
                members.append([weights[0], weights[1], weights[2][:, task.classes], weights[3][task.classes]])
        keep = len(task.classes) - 1 if task.sink else None
        head = build_head(task.mean, task.var, len(task.classes), cfg, members, keep)
        history = [
            {k: [float(v) for v in out["history"][k][:, j]] for k in ("loss", "val_loss", "val_accuracy")} for j in ids
        ]
        results.append(TaskResult(head, [int(out["best_epochs"][j]) for j in ids], history))
    return results


def fit_on_arrays(x: np.ndarray, y: np.ndarray, n_classes: int, cfg: TrainConfig, seed: int) -> TaskResult:
    """One head on given patch rows, every row training and validating: for callers without a data set."""
    from .head import normalization

    rows = np.arange(len(x))
    mean, var = normalization(x, cfg.features)
    table = Table(np.ascontiguousarray(x, np.float32), np.asarray(y, np.int64), rows, n_classes)
    return train_tasks(table, [Task("arrays", rows, rows, mean, var, seed, np.arange(n_classes))], cfg)[0]
