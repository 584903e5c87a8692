"""The head: a small per-patch Keras model over YAMNet features, and how it is fitted.

The saved model is ``Input -> Normalization -> members -> Average`` (standard layers only; contract in
docs/contracts.md), so the export puts it in the served graph unchanged. Its recipe (label smoothing,
input dropout, small members averaged, Adam with a cosine decay, early stopping per member on a hold-out)
is measured in docs/training.md; :mod:`.engine` trains it, many heads at once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..constants import DEFAULT_FEATURES, FEATURE_WIDTHS, PATCH_HOP_SAMPLES
from ..tfenv import tf

HALF_HOP = PATCH_HOP_SAMPLES // 2  # 3840 samples = 0.24 s: the shifted training view


@dataclass
class TrainConfig:
    """Head and training settings; the defaults are the tuned ones from docs/training.md."""

    features: tuple[str, ...] = DEFAULT_FEATURES
    hidden: int = 32  # per member: every unit costs a 4096-wide column in the uint8 model (size goal, docs/)
    dropout: float = 0.5
    input_dropout: float = 0.1
    label_smoothing: float = 0.1
    learning_rate: float = 2e-3  # Adam's peak rate, decayed by a cosine to 0 at max_epochs
    schedule: str = "cosine"  # or "constant"
    batch_size: int = 512  # rows per member per step
    max_epochs: int = 20
    patience: int = 8  # a member stops once its hold-out loss has not improved for this many epochs
    validation_fraction: float = 0.15
    shifted_views: bool = False  # measured: the shifted views did not help (docs/training.md)
    view_shifts: tuple[int, ...] = (HALF_HOP,)  # sample offsets of the extra training views
    ensemble: int = 2  # small members averaged beat one wider member (docs/training.md)
    seed: int = 0
    folds: list[int] | None = None  # evaluate only these test folds (quick runs); None = all
    stratified_folds: int = 5
    reject_budget: float = 0.02  # known-class accuracy the "unknown" decision may cost (pipeline.openset)
    # --fine-tune (training/finetune.py): the research recipe of docs/training.md, "Fine-tuning". Off by
    # default: it measured no real gain on ESC-50 (0.9085 vs 0.9075) for several times the head's training time.
    fine_tune: bool = False
    tune_blocks: int = 2  # 1: block 14; 2: blocks 13-14
    tune_epochs: int = 12  # fixed (no early stopping), each a random tune_patch_fraction of the patches
    tune_patch_fraction: float = 0.5
    tune_lr_blocks: float = 1e-3  # Adam, cosine-decayed to 0 over tune_epochs
    tune_lr_head: float = 3e-4
    tune_batch_size: int = 128


FINE_TUNE_FIELDS = ("fine_tune", "tune_blocks", "tune_epochs", "tune_patch_fraction", "tune_lr_blocks",
                    "tune_lr_head", "tune_batch_size")  # fmt: skip
"""Left out of :func:`cfg_dict` unless ``fine_tune``: a run without it hashes and reports as before."""


def cfg_dict(cfg: TrainConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d["features"] = list(cfg.features)
    if not cfg.fine_tune:
        for key in FINE_TUNE_FIELDS:
            d.pop(key)
    return d


def stratified_holdout(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A boolean mask choosing ~``fraction`` of each class (at least one clip when a class has 2+)."""
    mask = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        n = round(fraction * len(idx))
        if len(idx) >= 2:
            mask[idx[: max(1, n)]] = True
    return mask


def _row_chunks(n_rows: int, rows: np.ndarray | None, chunk: int) -> list[np.ndarray]:
    rows = np.arange(n_rows) if rows is None else np.asarray(rows)
    return [rows[i : i + chunk] for i in range(0, len(rows), chunk)]


def column_mean(x: np.ndarray, rows: np.ndarray | None = None, chunk: int = 2048) -> np.ndarray:
    """The float64 mean of each column of ``x[rows]`` (all of ``x`` when ``rows`` is None), summed ``chunk`` rows
    at a time: neither the selected rows nor a float64 copy of them is ever made whole (a fold's rows are most
    of the table, and such copies were most of the time of making a task)."""
    parts = _row_chunks(len(x), rows, chunk)
    total = sum((x[p].sum(axis=0, dtype=np.float64) for p in parts), np.zeros(x.shape[1]))
    return total / max(sum(len(p) for p in parts), 1)


def normalization(
    x: np.ndarray, features: tuple[str, ...] | list[str], rows: np.ndarray | None = None, chunk: int = 2048
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per-feature mean ``[F]``, and one variance per feature *group* (the embedding, each block, the scores),
    over ``x[rows]`` (all of ``x`` when ``rows`` is None).

    Scaling each group by its average variance, not each column by its own, keeps a group's quiet
    channels quiet: blocks 12-13 have channels whose pooled output varies ~1000x less than others, and
    dividing each by its own std amplified the rounding of YAMNet's uint8 weights into those channels
    until the uint8 TF.js model lost clips (docs/quantization.md). The centring stays per column.

    Two passes (:func:`column_mean`, then the squared deviations), ``chunk`` rows at a time, in float64.
    """
    parts = _row_chunks(len(x), rows, chunk)
    mean = column_mean(x, rows, chunk)
    centre = mean.astype(x.dtype)
    var = sum((np.square(x[p] - centre).sum(axis=0, dtype=np.float64) for p in parts), np.zeros(x.shape[1]))
    var /= max(sum(len(p) for p in parts), 1)
    widths = [FEATURE_WIDTHS[f] for f in features]
    if sum(widths) == x.shape[1]:
        start = 0
        for width in widths:
            var[start : start + width] = var[start : start + width].mean()
            start += width
    return mean.astype(np.float32), (var + 1e-6).astype(np.float32)


def _keras() -> Any:
    tf()
    import keras

    return keras


def build_head(
    mean: np.ndarray, var: np.ndarray, n_classes: int, cfg: TrainConfig, member_weights: list[list[np.ndarray]],
    keep: int | None = None,
) -> Any:  # fmt: skip
    """The contract's per-patch head with trained weights: Input -> Normalization -> members -> Average.

    Each member is Dropout -> Dense(hidden, relu) -> Dropout -> Dense(C, softmax) (or one Dense for a
    linear probe, ``hidden=0``); standard layers only, so the export loads it without custom objects.
    ``member_weights``: per member, the Dense layers' [kernel, bias, ...] in order.

    ``keep``: output only the first ``keep`` classes (a background set's sink class is the last one,
    :mod:`pipeline.background`): a fixed 0/1 selection Dense (``known_classes``), still a standard layer, so
    the graph, TF.js and parity need nothing new; the kept probabilities then sum to less than one.
    """
    keras = _keras()
    n_features = len(mean)
    members = []
    for m, weights in enumerate(member_weights):
        name = f"member{m}"
        inp = keras.Input((n_features,), name=f"{name}_in")
        x = keras.layers.Dropout(cfg.input_dropout, name=f"{name}_in_dropout")(inp) if cfg.input_dropout else inp
        if cfg.hidden:
            x = keras.layers.Dense(cfg.hidden, activation="relu", name=f"{name}_hidden")(x)
            x = keras.layers.Dropout(cfg.dropout, name=f"{name}_dropout")(x)
        out = keras.layers.Dense(n_classes, activation="softmax", name=f"{name}_probs")(x)
        member = keras.Model(inp, out, name=name)
        dense = [layer for layer in member.layers if isinstance(layer, keras.layers.Dense)]
        for layer, i in zip(dense, range(0, len(weights), 2), strict=True):
            layer.set_weights([weights[i], weights[i + 1]])
        members.append(member)
    inp = keras.Input((n_features,), name="features")
    z = keras.layers.Normalization(mean=mean, variance=var, name="normalize")(inp)
    outs = [member(z) for member in members]
    out = outs[0] if len(outs) == 1 else keras.layers.Average(name="ensemble_mean")(outs)
    if keep is not None and keep < n_classes:
        select = keras.layers.Dense(keep, use_bias=False, trainable=False, name="known_classes")
        out = select(out)
        select.set_weights([np.eye(n_classes, keep, dtype=np.float32)])
    return keras.Model(inp, out, name="head")


def head_fingerprint(
    head: Any, labels: list[str], features: tuple[str, ...] | list[str], decision: dict[str, Any] | None = None,
    tuned_blocks: dict[str, np.ndarray] | None = None,
) -> str:  # fmt: skip
    """sha256 of a head's weights, labels, features, shipped decision (and tuned YAMNet blocks, if any):
    equal means the same model.

    Training is deterministic per seed, so rerunning ``train`` on unchanged data gives the same
    fingerprint, and an export made from the old head is still the export of the new one.
    """
    digest = hashlib.sha256(json.dumps([list(labels), list(features), decision], sort_keys=True).encode())
    extra = [tuned_blocks[k] for k in sorted(tuned_blocks)] if tuned_blocks else []
    for weights in [*head.get_weights(), *extra]:
        array = np.ascontiguousarray(weights)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
