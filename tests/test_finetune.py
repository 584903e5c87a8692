"""``train --fine-tune`` on a small real slice of ESC-50 (4 classes, folds 1-2): the rebuilt blocks reproduce
YAMNet, a rerun with the seed reproduces the tuned weights, the export (tuned constants written back into
the one graph) equals the tuned model within 1e-5 on real clips, the "unknown" decision's q comes from the
scores the export emits, and without ``--fine-tune`` nothing changes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from pipeline.audio import load_audio
from pipeline.cli import app
from pipeline.constants import DEFAULT_FEATURES
from pipeline.embeddings import embed_dataset
from pipeline.training import TrainConfig, train
from pipeline.training.head import cfg_dict
from tests.conftest import ESC50_DIR, QUICK_TRAIN
from tests.support import max_diff

QUICK = QUICK_TRAIN


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(features=DEFAULT_FEATURES, seed=3, **QUICK, **kw)


@pytest.fixture(scope="module")
def tuned(yamnet, slice_set, cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("exported") / "tuned"
    return train(slice_set, yamnet, out, _cfg(fine_tune=True, tune_epochs=2), cache_dir=cache)


def _tf_graph_maps(frozen, layers: list[str]):
    """waveform -> the named raw block maps of a frozen graph (reference for the tuned model)."""
    from pipeline.tfenv import tf
    from pipeline.yamnet.graph import import_yamnet

    tfm = tf()
    return tfm.function(
        lambda w: {k: v for k, v in import_yamnet(frozen, w).items() if k in layers},
        input_signature=[tfm.TensorSpec([None], tfm.float32)],
    )


def _tuned_reference(frozen, values: dict, head, features: tuple[str, ...]):
    """The tuned model as trained: the untouched graph up to block 12, TopBlocks with the tuned values, the head."""
    from pipeline.tfenv import tf
    from pipeline.yamnet.top import TopBlocks, first_tuned_block

    tfm = tf()
    first = first_tuned_block(values)
    top = TopBlocks(frozen.graph_def, frozen.output_names["embeddings"], first)
    top.assign(values)
    maps_of = _tf_graph_maps(frozen, [f"layer{k}" for k in range(9, first)])

    def run(wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        maps = {k: v.numpy() for k, v in maps_of(tfm.constant(wave)).items()}
        tuned_maps = {k: v.numpy() for k, v in top.maps(tfm.constant(maps[f"layer{first - 1}"])).items()}
        pooled = {"embeddings": tuned_maps[14].mean((1, 2), dtype=np.float32)}
        for k in range(9, 14):
            src = tuned_maps[k] if k in tuned_maps else maps[f"layer{k}"]
            pooled[f"layer{k}"] = src.mean((1, 2), dtype=np.float32)
        x = np.concatenate([pooled[f] for f in features], axis=1)
        return head.predict(x, verbose=0), pooled["embeddings"]

    return run


def test_rebuilt_blocks_reproduce_the_frozen_graph(yamnet, slice_set, cache):
    """TopBlocks from block 12's (or 13's) float32 output gives YAMNet's embedding, block 13 and scores."""
    from pipeline.tfenv import tf
    from pipeline.training.finetune import block_inputs
    from pipeline.yamnet.top import TopBlocks, score_layer

    tfm = tf()
    plain = embed_dataset(slice_set, yamnet, cache)
    few = plain.__class__(**{**plain.__dict__, "paths": plain.paths[:3], "outputs": plain.outputs[:3]})
    # the float32 reference from YAMNet's own runner (the cache stores float16 since format v3)
    from pipeline.audio import load_audio
    from tests.support import patch_features

    names = ("embeddings", "layer13", "yamnet_scores")
    waves = [load_audio(path) for path in few.paths]
    cached = {k: np.concatenate([patch_features(yamnet, w, [k]) for w in waves]) for k in names}
    for first in (13, 14):
        inputs = block_inputs(few, yamnet, first)
        top = TopBlocks(inputs.graph_def, inputs.embeddings, first)
        maps = top.maps(tfm.constant(inputs.maps))
        emb = tfm.reduce_mean(maps[14], axis=[1, 2]).numpy()
        assert max_diff(emb, cached["embeddings"]) <= 1e-5
        if first == 13:
            assert max_diff(tfm.reduce_mean(maps[13], axis=[1, 2]).numpy(), cached["layer13"]) <= 1e-5
        w, b = score_layer(inputs.graph_def, inputs.scores)
        assert max_diff(tfm.sigmoid(emb @ w + b).numpy(), cached["yamnet_scores"]) <= 1e-5


def test_fine_tune_writes_blocks_and_reports_both_accuracies(tuned):
    out = tuned.out_dir
    info = json.loads((out / "head.json").read_text())
    report = json.loads((out / "report.json").read_text())
    ft = info["fine_tune"]
    assert ft["blocks"] == [13, 14] and ft["file"] == "tuned_blocks.npz" and len(ft["sha256"]) == 64
    with np.load(out / "tuned_blocks.npz") as z:
        assert sorted(z.files) == sorted(f"{p}{k}_{w}" for p in ("dw", "pw") for k in (13, 14) for w in "kb")
        assert z["pw14_k"].shape == (1024, 1024) and z["dw13_k"].shape == (3, 3, 512)
    assert report["fine_tune"]["blocks"] == [13, 14]
    assert len(report["fine_tune"]["fold_frozen_accuracy"]) == 2
    assert report["cv"]["mean_accuracy"] >= 0.8  # chance is 0.25
    assert report["timing"]["fine_tune_seconds"] > 0
    assert report["config"]["fine_tune"] is True and report["config"]["tune_blocks"] == 2
    assert "Fine-tuned" in (out / "report.html").read_text()


def test_rerun_with_the_seed_reproduces_the_tuned_weights(tuned, yamnet, slice_set, cache, tmp_path):
    import keras

    again = train(slice_set, yamnet, tmp_path / "again", _cfg(fine_tune=True, tune_epochs=2), cache_dir=cache)
    with np.load(tuned.out_dir / "tuned_blocks.npz") as a, np.load(again.out_dir / "tuned_blocks.npz") as b:
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])
    wa = keras.models.load_model(tuned.out_dir / "head.keras").get_weights()
    wb = keras.models.load_model(again.out_dir / "head.keras").get_weights()
    for x, y in zip(wa, wb, strict=True):
        np.testing.assert_array_equal(x, y)
    assert tuned.report["cv"]["fold_accuracy"] == again.report["cv"]["fold_accuracy"]
    info_a, info_b = (json.loads((r.out_dir / "head.json").read_text()) for r in (tuned, again))
    assert info_a["weights_sha256"] == info_b["weights_sha256"]


def test_without_fine_tune_everything_is_as_today(tuned, yamnet, slice_set, cache, tmp_path):
    """Same seed without --fine-tune: no tuned blocks, no new keys, and its accuracy is stage 1's of the tuned run."""
    plain = train(slice_set, yamnet, tmp_path / "plain", _cfg(), cache_dir=cache)
    assert not (plain.out_dir / "tuned_blocks.npz").exists()
    info = json.loads((plain.out_dir / "head.json").read_text())
    assert "fine_tune" not in info and "fine_tune" not in plain.report
    assert not any(k.startswith("tune_") or k == "fine_tune" for k in plain.report["config"])
    assert cfg_dict(TrainConfig()) == cfg_dict(TrainConfig(tune_blocks=1, tune_epochs=3))  # ignored when off
    # stage 1 of --fine-tune is exactly today's head (same tasks, seeds, engine)
    assert tuned.report["fine_tune"]["fold_frozen_accuracy"] == plain.report["cv"]["fold_accuracy"]
    # and retraining a fine-tuned folder without it removes the stale blocks
    again = train(slice_set, yamnet, tuned.out_dir.parent / "retrain", _cfg(fine_tune=True, tune_epochs=1), cache)
    assert (again.out_dir / "tuned_blocks.npz").exists()
    train(slice_set, yamnet, again.out_dir, _cfg(), cache_dir=cache)
    assert not (again.out_dir / "tuned_blocks.npz").exists()


def test_export_equals_the_tuned_model_and_q_comes_from_its_scores(tuned, yamnet, slice_set, cache, tmp_path):
    import keras

    from pipeline.export.savedmodel import load_head, save_saved_model
    from pipeline.openset import yamnet_quantiles
    from pipeline.tfenv import tf
    from pipeline.yamnet.graph import import_yamnet, tfjs_friendly
    from pipeline.yamnet.top import write_back

    tfm = tf()
    out = tuned.out_dir
    head = load_head(out)
    assert head.tuned_blocks is not None
    # only constant values changed: same nodes, ops, inputs and shapes as the untuned export graph
    base = tfjs_friendly(yamnet.model)
    tuned_graph_def = write_back(base.graph_def, base.output_names["embeddings"], head.tuned_blocks)
    changed = 0
    for x, y in zip(base.graph_def.node, tuned_graph_def.node, strict=True):
        assert (x.name, x.op, list(x.input)) == (y.name, y.op, list(y.input))
        if x.op == "Const" and x.attr["value"] != y.attr["value"]:
            a, b = tfm.make_ndarray(x.attr["value"].tensor), tfm.make_ndarray(y.attr["value"].tensor)
            assert a.shape == b.shape and a.dtype == b.dtype
            changed += 1
    assert changed == 8  # kernel + bias of 2 convolutions in each of blocks 13 and 14

    save_saved_model(yamnet, head, tmp_path / "saved_model")
    serve = tfm.saved_model.load(str(tmp_path / "saved_model")).signatures["serving_default"]
    keras_head = keras.models.load_model(out / "head.keras")
    reference = _tuned_reference(base, head.tuned_blocks, keras_head, tuple(head.features))
    spec = [tfm.TensorSpec([None], tfm.float32)]
    untuned_scores = tfm.function(lambda w: import_yamnet(base, w)["scores"], input_signature=spec)
    worst = {"scores": 0.0, "clip_scores": 0.0, "embeddings": 0.0}
    yam, moved = [], 0.0
    for clip in slice_set.clips:
        wave = load_audio(clip.path)
        got = {k: v.numpy() for k, v in serve(waveform=tfm.constant(wave)).items()}
        probs, emb = reference(wave)
        worst["scores"] = max(worst["scores"], max_diff(got["scores"], probs))
        worst["clip_scores"] = max(worst["clip_scores"], max_diff(got["clip_scores"], probs.mean(axis=0)))
        worst["embeddings"] = max(worst["embeddings"], max_diff(got["embeddings"], emb))
        yam.append(got["yamnet_scores"])
        if len(yam) <= 4:
            moved = max(moved, max_diff(untuned_scores(tfm.constant(wave)).numpy(), got["yamnet_scores"]))
    print(f"export vs tuned model, max abs diff: {worst}; yamnet_scores moved up to {moved:.3g}")
    assert worst["scores"] <= 1e-5 and worst["clip_scores"] <= 1e-5, worst
    assert worst["embeddings"] <= 1e-4, worst
    assert moved > 1e-4  # the tuned embedding moves YAMNet's own scores: the model card says so
    # the shipped q: quantiles of the scores the export emits on the final head's training patches (all clips)
    q = np.asarray(json.loads((out / "head.json").read_text())["open_set"]["q"])
    print(f"q vs quantiles of the exported scores: {max_diff(q, yamnet_quantiles(np.concatenate(yam))):.2g}")
    assert max_diff(q, yamnet_quantiles(np.concatenate(yam))) <= 2e-4
    untuned_q = yamnet_quantiles(np.concatenate(embed_dataset(slice_set, yamnet, cache).scores))
    assert max_diff(q, untuned_q) > 1e-3


def test_export_stage_writes_back_and_the_model_card_says_so(tuned, yamnet):
    from pipeline.export import export_model

    meta = export_model(tuned.out_dir, yamnet, quantizations=[])
    assert meta["fine_tune"]["blocks"] == [13, 14]
    card = (tuned.out_dir / "README.md").read_text()
    assert "Fine-tuned YAMNet" in card and "yamnet_scores" in card


def test_cli_fine_tune_one_block(tmp_path, cache):
    out = tmp_path / "one"
    args = ["train", "--data", str(ESC50_DIR), "--classes", "dog,rain", "--folds", "1", "--cache", str(cache)]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--epochs", "8", "--fine-tune", "--tune-blocks", "1"])
    assert result.exit_code == 0, result.output
    assert "fine-tuned YAMNet block 14 with the head" in result.output
    info = json.loads((out / "head.json").read_text())
    assert info["fine_tune"]["blocks"] == [14]
    with np.load(out / "tuned_blocks.npz") as z:
        assert sorted(z.files) == ["dw14_b", "dw14_k", "pw14_b", "pw14_k"]
