"""The head: a small per-patch Keras model over YAMNet features, and how it is fitted.

The saved model is ``Input -> Normalization -> members -> Average`` (standard layers only; contract in
docs/contracts.md), so the export puts it in the served graph unchanged. Its training recipe (label
smoothing, input dropout, members side by side with their own early stopping) is measured in
docs/training.md; this module says why each piece is there, not what it scored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..constants import DEFAULT_FEATURES, FEATURE_WIDTHS, PATCH_HOP_SAMPLES
from ..embeddings import EmbeddingSet
from ..errors import DatasetError
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
    learning_rate: float = 1e-3
    batch_size: int = 256
    max_epochs: int = 60
    patience: int = 8
    monitor: str = "val_loss"  # early-stopping quantity on the hold-out: val_loss or val_accuracy
    validation_fraction: float = 0.15
    shifted_views: bool = False  # measured: the shifted views did not help (docs/training.md)
    view_shifts: tuple[int, ...] = (HALF_HOP,)  # sample offsets of the extra training views
    ensemble: int = 2  # small members averaged beat one wider member (docs/training.md)
    seed: int = 0
    folds: list[int] | None = None  # evaluate only these test folds (quick runs); None = all
    stratified_folds: int = 5


def cfg_dict(cfg: TrainConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d["features"] = list(cfg.features)
    return d


def _stratified_holdout(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A boolean mask choosing ~``fraction`` of each class (at least one clip when a class has 2+)."""
    mask = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        n = round(fraction * len(idx))
        if len(idx) >= 2:
            mask[idx[: max(1, n)]] = True
    return mask


def _member(n_features: int, n_classes: int, cfg: TrainConfig, name: str) -> Any:
    keras = _keras()
    inp = keras.Input((n_features,), name=f"{name}_in")
    x = keras.layers.Dropout(cfg.input_dropout, name=f"{name}_in_dropout")(inp) if cfg.input_dropout else inp
    if cfg.hidden:  # hidden=0 gives a linear probe (softmax regression)
        x = keras.layers.Dense(cfg.hidden, activation="relu", name=f"{name}_hidden")(x)
        x = keras.layers.Dropout(cfg.dropout, name=f"{name}_dropout")(x)
    out = keras.layers.Dense(n_classes, activation="softmax", name=f"{name}_probs")(x)
    return keras.Model(inp, out, name=name)


def _keras() -> Any:
    tf()
    import keras

    return keras


def fit_members(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    n_classes: int,
    cfg: TrainConfig,
    seed: int,
) -> tuple[Any, list[int], list[dict[str, list[float]]]]:
    """Train ``cfg.ensemble`` members with early stopping and wrap them in one per-patch model.

    The members are trained side by side as the outputs of one Keras model (one loss each, summed):
    they share nothing, so each member's gradients are those of its own loss, but Keras' per-step
    overhead, which dominates for heads this small, is paid once instead of once per member
    (docs/training.md has the timings). :func:`_early_stop_each` keeps each member's own best epoch.

    The saved wrapper is Input -> Normalization (fitted on the training patches) -> members ->
    Average, standard layers only, so the export can load it without custom objects.
    """
    keras = _keras()
    mean, var = _normalization(x_train, cfg.features)
    norm = keras.layers.Normalization(mean=mean[0], variance=var[0], name="normalize")
    x_train_n = ((x_train - mean) / np.sqrt(var)).astype(np.float32)
    x_val_n = ((x_val - mean) / np.sqrt(var)).astype(np.float32)
    eye = np.eye(n_classes, dtype=np.float32)
    keras.utils.set_random_seed(seed * 1000)
    members = [_member(x_train.shape[1], n_classes, cfg, f"member{m}") for m in range(cfg.ensemble)]
    features = keras.Input((x_train.shape[1],), name="normalized_features")
    trainer = keras.Model(features, [member(features) for member in members], name="members")
    k = len(members)
    trainer.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate),
        loss=[keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing)] * k,
        metrics=[["accuracy"]] * k,
    )
    stop = _early_stop_each(members, cfg.monitor, cfg.patience)
    hist = trainer.fit(
        x_train_n,
        [eye[y_train]] * k,
        validation_data=(x_val_n, [eye[y_val]] * k),
        batch_size=cfg.batch_size,
        epochs=cfg.max_epochs,
        callbacks=[stop],
        shuffle=True,
        verbose=0,
    )
    histories = [
        {
            metric: [float(v) for v in hist.history[_log_key(m, k, metric)]]
            for metric in ("loss", "accuracy", "val_loss", "val_accuracy")
        }
        for m in range(k)
    ]
    inp = keras.Input((x_train.shape[1],), name="features")
    z = norm(inp)
    outs = [member(z) for member in members]
    out = outs[0] if len(outs) == 1 else keras.layers.Average(name="ensemble_mean")(outs)
    return keras.Model(inp, out, name="head"), stop.best_epochs, histories


def _normalization(x: np.ndarray, features: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean, and one variance per feature *group* (the embedding, each block, the scores).

    Scaling each group by its average variance, not each column by its own, keeps a group's quiet
    channels quiet: blocks 12-13 have channels whose pooled output varies ~1000x less than others, and
    dividing each by its own std amplified the rounding of YAMNet's uint8 weights into those channels
    until the uint8 TF.js model lost clips (docs/quantization.md). The centring stays per column.
    """
    mean = x.mean(axis=0, keepdims=True)
    var = x.var(axis=0, keepdims=True)
    widths = [FEATURE_WIDTHS[f] for f in features]
    if sum(widths) == x.shape[1]:
        start = 0
        for width in widths:
            var[:, start : start + width] = var[:, start : start + width].mean()
            start += width
    return mean, var + 1e-6


def _log_key(member: int, members: int, metric: str) -> str:
    """Keras' log name of one member's metric: ``val_loss`` alone, ``val_member1_loss`` among several."""
    if members == 1:
        return metric
    prefix = "val_" if metric.startswith("val_") else ""
    return f"{prefix}member{member}_{metric.removeprefix('val_')}"


def _early_stop_each(members: list[Any], monitor: str, patience: int) -> Any:
    """A Keras callback for early stopping per ensemble member: keep each member's best weights on the
    hold-out, stop when every member has gone ``patience`` epochs without improving, then restore
    each one's best. Its ``best_epochs`` lists each member's best epoch (1-based).

    Defined inside a function because Keras is imported only when training.
    """
    keras = _keras()
    higher_is_better = "accuracy" in monitor

    class EarlyStopEach(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.best = [-np.inf if higher_is_better else np.inf] * len(members)
            self.best_epochs = [0] * len(members)
            self.weights: list[Any] = [m.get_weights() for m in members]

        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            logs = logs or {}
            for i, member in enumerate(members):
                value = float(logs[_log_key(i, len(members), monitor)])
                if (value > self.best[i]) if higher_is_better else (value < self.best[i]):
                    self.best[i], self.best_epochs[i] = value, epoch + 1
                    self.weights[i] = member.get_weights()
            if all(epoch + 1 - best >= patience for best in self.best_epochs):
                self.model.stop_training = True

        def on_train_end(self, logs: dict[str, float] | None = None) -> None:
            for member, weights in zip(members, self.weights, strict=True):
                member.set_weights(weights)

    return EarlyStopEach()


def _training_rows(
    train_views: list[EmbeddingSet], clips: np.ndarray, features: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for v in train_views:
        x, y, _ = v.patch_table(clips, features)
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def fit_head(
    train_views: list[EmbeddingSet], clips: np.ndarray, cfg: TrainConfig, seed: int
) -> tuple[Any, list[int], list[dict[str, list[float]]]]:
    """Hold out part of ``clips`` for early stopping (plain view only), train on the rest (all views)."""
    plain = train_views[0]
    rng = np.random.default_rng(seed)
    held = _stratified_holdout(plain.labels[clips], cfg.validation_fraction, rng)
    if not held.any() or held.all():
        raise DatasetError(
            f"too few training clips ({len(clips)}) to hold some out for early stopping: every class needs "
            "at least 2 clips in the training folds"
        )
    fit_clips, val_clips = clips[~held], clips[held]
    x_train, y_train = _training_rows(train_views, fit_clips, cfg.features)
    x_val, y_val, _ = plain.patch_table(val_clips, cfg.features)
    return fit_members(x_train, y_train, x_val, y_val, len(plain.label_names), cfg, seed)


def head_fingerprint(head: Any, labels: list[str], features: tuple[str, ...] | list[str]) -> str:
    """sha256 of a head's weights, labels and features: equal fingerprints mean the same model.

    Training is deterministic per seed, so rerunning ``train`` on unchanged data gives the same
    fingerprint, and an export made from the old head is still the export of the new one.
    """
    digest = hashlib.sha256(json.dumps([list(labels), list(features)]).encode())
    for weights in head.get_weights():
        array = np.ascontiguousarray(weights)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
