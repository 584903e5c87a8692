"""Train the classifier head on cached YAMNet patch embeddings, evaluate it honestly, save it.

The head is a small Keras model applied to every 0.96 s patch; a clip's class scores are the mean of
its patch probabilities, exactly what the exported graph computes (``clip_scores``), so the accuracy
reported here is the accuracy of the exported model (see docs/contracts.md for the head contract).

Evaluation is cross-validation over folds that keep clips of one recording together: ESC-50's five
official folds, a manifest's folds, or else a stratified split (user folders without a manifest).
For each rotation a head is trained on the other folds, with early stopping on a held-out part of
*those* folds (never the test fold), and scored on the test fold. The final head is then trained the
same way on all data and written, with its report, to a temporary folder renamed into place.

Training tricks (each measured in docs/training.md): label smoothing and input dropout (both on by
default); optional extra training views of each clip shifted by a fraction of a hop (``--shifted``),
YAMNet's own 521 scores as extra input features and a small ensemble averaged inside the head. Test
folds always use the plain view, the one the exported model sees.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import staged
from .constants import (
    DEFAULT_LAYERS,
    FEATURE_ORDER,
    FEATURE_WIDTHS,
    LAYER_WIDTHS,
    PATCH_HOP_SAMPLES,
    PATCH_HOP_SECONDS,
    PATCH_WINDOW_SECONDS,
    SAMPLE_RATE,
)
from .datasets import Dataset
from .embeddings import EmbeddingSet, embed_dataset
from .errors import DatasetError, PipelineError
from .layout import (
    DERIVED_FROM_EXPORT,
    EXPORT_ARTIFACTS,
    HEAD_JSON,
    HEAD_KERAS,
    MARKER,
    TRAIN_ARTIFACTS,
    check_output_dir,
    marker_text,
)
from .tfenv import tf
from .yamnet import Yamnet

HALF_HOP = PATCH_HOP_SAMPLES // 2  # 3840 samples = 0.24 s: the shifted training view


def feature_names(layers: str = DEFAULT_LAYERS, with_scores: bool = False) -> tuple[str, ...]:
    """The head's features for ``--layers`` (``9-13``, ``11,13`` or ``none``) and ``--with-scores``.

    Always the embedding first; then YAMNet's scores and the named blocks, in :data:`FEATURE_ORDER`.
    """
    text = layers.strip().lower()
    blocks: set[int] = set()
    if text not in ("", "none"):
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            try:
                first, last = int(lo), int(hi or lo)
            except ValueError:
                raise PipelineError(f"--layers: '{part.strip()}' is not a block number or range like 9-13") from None
            blocks.update(range(first, last + 1))
        unknown = sorted(blocks - set(LAYER_WIDTHS))
        if unknown:
            raise PipelineError(
                f"--layers: block(s) {unknown} not available; choose from {min(LAYER_WIDTHS)}-{max(LAYER_WIDTHS)} "
                "(block 14 is the embedding, always used) or 'none'"
            )
    wanted = {"embeddings", *(f"layer{k}" for k in blocks)} | ({"yamnet_scores"} if with_scores else set())
    return tuple(f for f in FEATURE_ORDER if f in wanted)


@dataclass
class TrainConfig:
    """Head and training settings; the defaults are the tuned ones from docs/training.md."""

    features: tuple[str, ...] = feature_names()
    hidden: int = 32  # per member: 2 x 32 on the 4096 features keeps the uint8 model <= 4.2 MB (3 x 32 does not)
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
    ensemble: int = 2  # 2 x 32 units: 0.906 vs 0.9015 for one 64-unit member (docs/training.md)
    seed: int = 0
    folds: list[int] | None = None  # evaluate only these test folds (quick runs); None = all
    stratified_folds: int = 5


@dataclass
class FoldResult:
    fold: int
    accuracy: float
    patch_accuracy: float
    epochs: list[int]
    seconds: float
    history: list[dict[str, list[float]]] = field(default_factory=list)


@dataclass
class CVResult:
    """Cross-validation results: per-fold accuracy and the pooled clip predictions."""

    folds: list[FoldResult]
    y_true: np.ndarray
    y_pred: np.ndarray
    label_names: list[str]
    scheme: str

    @property
    def mean_accuracy(self) -> float:
        return float(np.mean([f.accuracy for f in self.folds]))


def assign_folds(views: EmbeddingSet, k: int, seed: int) -> tuple[np.ndarray, str]:
    """The data set's own folds if it has them (any integers), else a stratified ``k``-fold split by clip.

    Clips with identical content (same sha256) always share a fold in the stratified split, so a
    copied file can never sit on both sides of it.

    Raises:
        DatasetError: the data set's folds are a single fold, or a class has fewer than 2 clips.
    """
    if views.has_folds:
        present = sorted(set(views.folds.tolist()))
        if len(present) < 2:
            raise DatasetError(
                f"every clip is in fold {present[0]}: evaluation needs at least two folds (train on some, "
                "test on another); give the manifest's rows two or more fold values, or leave the fold column out"
            )
        if set(present) == {1, 2, 3, 4, 5} and views.kind == "esc50":
            return views.folds.copy(), "ESC-50 official folds"
        return views.folds.copy(), f"the data set's {len(present)} folds ({', '.join(map(str, present))})"
    counts = np.bincount(views.labels, minlength=len(views.label_names))
    k = int(min(k, counts.min()))
    if k < 2:
        small = views.label_names[int(np.argmin(counts))]
        raise DatasetError(
            f"class '{small}' has {counts.min()} readable clip(s); evaluation needs at least 2 per class"
        )
    rng = np.random.default_rng(seed)
    folds = np.zeros(len(views), dtype=np.int64)
    groups = _content_groups(views)
    for label in range(len(views.label_names)):
        firsts = [g for g in groups if views.labels[g[0]] == label]
        for n, g in enumerate(rng.permutation(len(firsts))):
            folds[firsts[g]] = n % k + 1
    return folds, f"stratified {k}-fold split (no folds in the data set)"


def _content_groups(views: EmbeddingSet) -> list[list[int]]:
    """Clip indices grouped by file content (a group has several members only for duplicated files)."""
    groups: dict[str, list[int]] = {}
    for i, digest in enumerate(views.digests or [str(i) for i in range(len(views))]):
        groups.setdefault(digest, []).append(i)
    return list(groups.values())


def check_duplicates(views: EmbeddingSet) -> list[str]:
    """Refuse identical files in two folds (test clips leaking into training); warn about other duplicates.

    Returns warnings: identical files within one fold or label set (counted more than once).

    Raises:
        DatasetError: the same content in two different folds, or under two different labels.
    """
    warnings = []
    for group in _content_groups(views):
        if len(group) < 2:
            continue
        names = ", ".join(str(views.paths[i]) for i in group[:4]) + (" ..." if len(group) > 4 else "")
        if len({int(views.labels[i]) for i in group}) > 1:
            labels = sorted({views.label_names[views.labels[i]] for i in group})
            raise DatasetError(f"identical audio under different labels ({', '.join(labels)}): {names}; keep one")
        if views.has_folds and len({int(views.folds[i]) for i in group}) > 1:
            folds = sorted({int(views.folds[i]) for i in group})
            raise DatasetError(
                f"identical audio in folds {folds}: {names}; a test clip would also be a training clip. "
                "Keep one copy, or put the copies in the same fold"
            )
        warnings.append(f"identical audio counted {len(group)} times: {names}")
    return warnings


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


def _fit_members(
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
    overhead, which dominates for heads this small, is paid once instead of once per member (an
    epoch of 3 members costs about what one member's did; 5-fold CV of 3 members took 313 s instead of
    411 s, as members now run longer before stopping). :func:`_early_stop_each` keeps each member's
    own best epoch.

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
    until the uint8 TF.js model lost clips (measured, docs/quantization.md). The centring stays per column.
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


def clip_probabilities(head: Any, views: EmbeddingSet, clips: np.ndarray, features: tuple[str, ...]) -> np.ndarray:
    """Mean of per-patch probabilities for each clip (what the exported ``clip_scores`` computes)."""
    x, _, owner = views.patch_table(clips, features)
    probs = head.predict(x, batch_size=4096, verbose=0)
    sums = np.zeros((len(views), probs.shape[1]))
    np.add.at(sums, owner, probs)
    counts = np.bincount(owner, minlength=len(views))[clips]
    return sums[clips] / counts[:, None]


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
    return _fit_members(x_train, y_train, x_val, y_val, len(plain.label_names), cfg, seed)


def cross_validate(
    train_views: list[EmbeddingSet], cfg: TrainConfig, on_event: Callable[[str], None] | None = None
) -> CVResult:
    """Train on all folds but one and test on that one, for every fold (or ``cfg.folds``)."""
    plain = train_views[0]
    folds, scheme = assign_folds(plain, cfg.stratified_folds, cfg.seed)
    test_folds = sorted(set(folds.tolist()))
    if cfg.folds:
        missing = sorted(set(cfg.folds) - set(test_folds))
        if missing:
            raise DatasetError(f"no fold(s) {missing} to test on; the data has folds {test_folds}")
        test_folds = sorted(cfg.folds)
    results, y_true, y_pred = [], [], []
    for fold in test_folds:
        start = time.perf_counter()
        test = np.flatnonzero(folds == fold)
        train = np.flatnonzero(folds != fold)
        head, epochs, hist = fit_head(train_views, train, cfg, cfg.seed + fold)
        probs = clip_probabilities(head, plain, test, cfg.features)
        pred = probs.argmax(axis=1)
        x, y, _ = plain.patch_table(test, cfg.features)
        patch_acc = float((head.predict(x, batch_size=4096, verbose=0).argmax(axis=1) == y).mean())
        acc = float((pred == plain.labels[test]).mean())
        results.append(FoldResult(fold, acc, patch_acc, epochs, time.perf_counter() - start, hist))
        y_true.append(plain.labels[test])
        y_pred.append(pred)
        if on_event:
            on_event(
                f"fold {fold}: clip accuracy {acc:.3f} (patch {patch_acc:.3f}, epochs {epochs}, "
                f"{results[-1].seconds:.1f} s)"
            )
    return CVResult(results, np.concatenate(y_true), np.concatenate(y_pred), plain.label_names, scheme)


def _views(
    dataset: Dataset, yamnet: Yamnet, cfg: TrainConfig, cache_dir: Path | None, on_progress: Callable | None
) -> list[EmbeddingSet]:
    """The plain view (always first) and, with ``shifted_views``, the shifted ones (``view_shifts``)."""
    plain = embed_dataset(dataset, yamnet, cache_dir, shift=0, on_progress=on_progress)
    views = [plain]
    for shift in cfg.view_shifts if cfg.shifted_views else ():
        shifted = embed_dataset(dataset, yamnet, cache_dir, shift=shift, on_progress=on_progress)
        keep = {d: i for i, d in enumerate(shifted.digests)}
        if [keep.get(d) for d in plain.digests] != list(range(len(plain))):
            raise PipelineError("the shifted view lost different clips than the plain view; rerun `embed`")
        views.append(shifted)
    return views


def inputs_hash(plain: EmbeddingSet) -> str:
    """sha256 over YAMNet's identity and every clip's (content digest, label, fold): what the head saw."""
    digest = hashlib.sha256(plain.yamnet_identity.encode())
    for d, label, fold in zip(plain.digests, plain.labels, plain.folds, strict=True):
        digest.update(f"{d}\t{plain.label_names[label]}\t{fold}\n".encode())
    return digest.hexdigest()


@dataclass
class TrainResult:
    out_dir: Path
    cv: CVResult
    report: dict[str, Any]


def train(
    dataset: Dataset,
    yamnet: Yamnet,
    out_dir: str | Path,
    cfg: TrainConfig | None = None,
    cache_dir: Path | None = None,
    on_event: Callable[[str], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Embed (cached), cross-validate, train the final head on all data and write ``out_dir``.

    ``out_dir`` receives ``head.keras``, ``head.json``, ``report.json``, ``report.html`` and the plots,
    all at once (staged, then swapped in): a failed run leaves the previous ones untouched. An export
    already in ``out_dir`` is kept when the new head is identical to the one it was made from (same
    weights), and removed otherwise, with a message, so no stale model is ever left beside a new head.

    Raises:
        OutputDirError: ``out_dir`` is a file, someone else's non-empty folder, or inside/above the data.
    """
    from .report import write_report

    cfg = cfg or TrainConfig()
    say = on_event or (lambda _msg: None)
    out_dir = check_output_dir(out_dir, dataset.root)
    started = time.perf_counter()
    tfm = tf()
    tfm.config.experimental.enable_op_determinism()
    views = _views(dataset, yamnet, cfg, cache_dir, on_progress)
    plain = views[0]
    embed_seconds = time.perf_counter() - started
    say(f"{len(plain)} clips embedded ({plain.stats.cached} from cache) in {embed_seconds:.1f} s")
    counts = np.bincount(plain.labels, minlength=len(plain.label_names))
    if counts.min() == 0:
        empty = plain.label_names[int(np.argmin(counts))]
        raise DatasetError(f"class '{empty}' has no clip that could be decoded; fix or remove its files")
    data_warnings = check_duplicates(plain)
    assign_folds(plain, cfg.stratified_folds, cfg.seed)  # refuses unusable folds before any training
    for message in data_warnings:
        say(f"warning: {message}")

    cv_start = time.perf_counter()
    cv = cross_validate(views, cfg, say)
    cv_seconds = time.perf_counter() - cv_start
    say(f"cross-validation ({cv.scheme}): mean clip accuracy {cv.mean_accuracy:.4f}")

    final_start = time.perf_counter()
    head, epochs, history = fit_head(views, np.arange(len(plain)), cfg, cfg.seed)
    final_seconds = time.perf_counter() - final_start
    say(f"final head trained on all {len(plain)} clips ({epochs} epochs, {final_seconds:.1f} s)")

    fingerprint = head_fingerprint(head, plain.label_names, cfg.features)
    keep_export = _previous_fingerprint(out_dir) == fingerprint
    stale = [] if keep_export else [n for n in (*EXPORT_ARTIFACTS, *DERIVED_FROM_EXPORT) if (out_dir / n).exists()]
    replaced = TRAIN_ARTIFACTS + (MARKER,) + (() if keep_export else EXPORT_ARTIFACTS + DERIVED_FROM_EXPORT)
    with staged(out_dir, replaced) as stage:
        head.save(stage / HEAD_KERAS)
        head_json = {
            "labels": plain.label_names,
            "features": list(cfg.features),
            "num_features": int(sum(FEATURE_WIDTHS[f] for f in cfg.features)),
            "yamnet": {"handle": yamnet.handle, "identity": yamnet.identity},
            "sample_rate": SAMPLE_RATE,
            "patch_window_seconds": PATCH_WINDOW_SECONDS,
            "patch_hop_seconds": PATCH_HOP_SECONDS,
            "clip_aggregation": "mean of patch probabilities",
            "seed": cfg.seed,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "inputs_hash": inputs_hash(plain),
            "weights_sha256": fingerprint,
        }
        (stage / HEAD_JSON).write_text(json.dumps(head_json, indent=2) + "\n")
        (stage / MARKER).write_text(marker_text("classifier"))
        timing = {
            "embed_seconds": round(embed_seconds, 2),
            "cv_seconds": round(cv_seconds, 2),
            "final_seconds": round(final_seconds, 2),
            "total_seconds": round(time.perf_counter() - started, 2),
        }
        report = write_report(stage, dataset, plain, cv, cfg_dict(cfg), timing, epochs, history, warnings=data_warnings)
    if stale:
        say(
            f"removed the export made from the previous head in {out_dir} ({', '.join(stale)}); "
            f"run `yamnet-tfjs export {out_dir}` to make one from the new head"
        )
    elif keep_export and (out_dir / EXPORT_ARTIFACTS[0]).exists():
        say(f"the export in {out_dir} was made from an identical head (same weights): kept")
    return TrainResult(out_dir, cv, report)


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


def _previous_fingerprint(out_dir: Path) -> str | None:
    try:
        return json.loads((out_dir / HEAD_JSON).read_text(encoding="utf-8")).get("weights_sha256")
    except (OSError, ValueError, AttributeError):
        return None


def cfg_dict(cfg: TrainConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d["features"] = list(cfg.features)
    return d
