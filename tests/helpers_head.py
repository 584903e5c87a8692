"""Test-only: a small real head, trained briefly on real YAMNet features of a few ESC-50 clips.

Export tests must not wait for (or depend on) ``train``: this writes ``head.keras`` + ``head.json``
exactly as docs/contracts.md specifies, from real data, so the export sees what ``train`` will give it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipeline.audio import load_audio
from pipeline.constants import PATCH_HOP_SECONDS, PATCH_WINDOW_SECONDS, SAMPLE_RATE
from tests.conftest import esc50_clips_of

CATEGORIES = ("dog", "rooster", "rain", "crying_baby")


def head_clips(per_class: int = 3) -> list[tuple[Path, int]]:
    """(clip, label index) pairs: the first ``per_class`` clips of each category."""
    return [(clip, i) for i, cat in enumerate(CATEGORIES) for clip in esc50_clips_of(cat, per_class)]


def patch_features(yamnet, waveform: np.ndarray, features: tuple[str, ...] | list[str]) -> np.ndarray:
    """The head input ``[N, F]`` for one clip, from the embedder's batched runner (all features)."""
    from pipeline.embeddings import get_runner

    runner = get_runner(yamnet)
    out = runner.run(runner.patches(waveform))
    return np.concatenate([out[f] for f in features], axis=1)


def write_head(
    model_dir: Path, yamnet, features: tuple[str, ...] = ("embeddings",), seed: int = 0, product: bool = False
) -> Path:
    """Train a head on real clips and save it per the contract.

    ``product=True`` builds it with ``train``'s own code and default architecture (normalisation, the
    ensemble of small members), so size and parity tests see the model users get; otherwise a plain
    Dense-softmax head (a hidden layer too when it reads more than the embedding), whose tiny error
    amplification lets the export tests hold it to 1e-5 of YAMNet + head run separately.
    """
    from pipeline.tfenv import tf

    tf()
    import keras

    xs, ys = [], []
    for clip, label in head_clips():
        xs.append(patch_features(yamnet, load_audio(clip), features))
        ys.append(np.full(len(xs[-1]), label))
    x, y = np.concatenate(xs).astype(np.float32), np.concatenate(ys)
    if product:
        from pipeline.train import TrainConfig, _fit_members

        model, _epochs, _history = _fit_members(x, y, x, y, len(CATEGORIES), TrainConfig(max_epochs=15), seed)
    else:
        keras.utils.set_random_seed(seed)
        layers = [keras.Input((x.shape[1],))]
        if len(features) > 1:
            layers.append(keras.layers.Dense(32, activation="relu"))
        layers.append(keras.layers.Dense(len(CATEGORIES), activation="softmax"))
        model = keras.Sequential(layers)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save(model_dir / "head.keras")
    info = {
        "labels": list(CATEGORIES),
        "features": list(features),
        "yamnet": {"handle": yamnet.handle, "identity": yamnet.identity},
        "sample_rate": SAMPLE_RATE,
        "patch_window_seconds": PATCH_WINDOW_SECONDS,
        "patch_hop_seconds": PATCH_HOP_SECONDS,
        "seed": seed,
        "created": "test",
        "inputs_hash": "test",
    }
    (model_dir / "head.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    (model_dir / "report.json").write_text(json.dumps({"accuracy": 1.0, "note": "test fixture"}), encoding="utf-8")
    return model_dir
