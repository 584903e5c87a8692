"""Head training on a small real slice of ESC-50: beats chance widely, honours the head contract,
is deterministic per seed, writes its report atomically, and the CLI commands work end to end.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

import pipeline.report
from pipeline.cli import app
from pipeline.datasets import load_dataset
from pipeline.embeddings import embed_dataset
from pipeline.errors import DatasetError
from pipeline.training import TrainConfig, train
from pipeline.training.evaluation import predict_clips, rows_of
from tests.conftest import ESC50_DIR, QUICK_TRAIN, SLICE_CLASSES, esc50_clips_of

CLASSES, QUICK = SLICE_CLASSES, QUICK_TRAIN


@pytest.fixture(scope="module")
def trained(yamnet, slice_set, cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("exported") / "four"
    cfg = TrainConfig(features=("embeddings", "yamnet_scores"), ensemble=2, **QUICK)
    return train(slice_set, yamnet, out, cfg, cache_dir=cache)


def test_cross_validation_beats_chance_and_report_is_sane(trained):
    report = json.loads((trained.out_dir / "report.json").read_text())
    cv = report["cv"]
    assert cv["folds"] == [1, 2] and len(cv["fold_accuracy"]) == 2
    assert cv["mean_accuracy"] == pytest.approx(np.mean(cv["fold_accuracy"]), abs=1e-3)
    assert cv["mean_accuracy"] >= 0.8  # chance is 0.25
    assert set(cv["per_class"]) == set(CLASSES)
    for row in cv["per_class"].values():
        assert 0.0 <= row["precision"] <= 1.0 and 0.0 <= row["recall"] <= 1.0 and row["support"] == 16
    assert np.array(cv["confusion_matrix"]).sum() == 64
    assert report["dataset"]["clips"] == 64 and report["dataset"]["format"] == "esc50"
    html = (trained.out_dir / "report.html").read_text()
    assert "Mean clip accuracy" in html and 'src="confusion.png"' in html and 'src="curves.png"' in html
    for png in ("confusion.png", "curves.png"):
        assert (trained.out_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the 'unknown' decision is calibrated out of fold within the budget; 4 classes are too few to study
    decision = report["decision"]["calibration"]
    assert decision["out_of_fold_clips"] == 64
    assert decision["open_accuracy"] >= decision["closed_accuracy"] - report["config"]["reject_budget"] - 1e-9
    assert decision["closed_accuracy"] == pytest.approx(cv["mean_accuracy"], abs=0.02)
    assert "skipped" in report["open_set"] and "10" in report["open_set"]["skipped"]
    assert "Unknown sounds" in html and "none of my classes" in html


def test_head_follows_the_contract(trained, yamnet, slice_set, cache):
    import keras

    meta = json.loads((trained.out_dir / "head.json").read_text())
    assert meta["labels"] == sorted(CLASSES) and meta["features"] == ["embeddings", "yamnet_scores"]
    assert meta["yamnet"]["identity"] == yamnet.identity
    assert meta["sample_rate"] == 16000 and meta["patch_hop_seconds"] == 0.48
    assert meta["patch_window_seconds"] == 0.96 and len(meta["inputs_hash"]) == 64
    head = keras.models.load_model(trained.out_dir / "head.keras")  # no custom objects
    assert head.input_shape == (None, 1024 + 521) and head.output_shape == (None, 4)
    views = embed_dataset(slice_set, yamnet, cache)
    probs = head.predict(views.features(0, meta["features"]), verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    clip, _, _ = predict_clips(head, rows_of([views], tuple(meta["features"])), np.arange(len(views)))
    assert (clip.argmax(axis=1) == views.labels).mean() >= 0.9  # trained on all of these clips


def test_same_seed_same_head_and_failed_run_keeps_previous_output(yamnet, slice_set, cache, tmp_path, monkeypatch):
    import keras

    cfg = TrainConfig(shifted_views=False, folds=[1], seed=7, **QUICK)
    a = train(slice_set, yamnet, tmp_path / "a", cfg, cache_dir=cache)
    b = train(slice_set, yamnet, tmp_path / "b", cfg, cache_dir=cache)
    assert a.report["cv"]["fold_accuracy"] == b.report["cv"]["fold_accuracy"]
    wa = keras.models.load_model(a.out_dir / "head.keras").get_weights()
    wb = keras.models.load_model(b.out_dir / "head.keras").get_weights()
    for x, y in zip(wa, wb, strict=True):
        np.testing.assert_array_equal(x, y)

    before = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pipeline.report, "write_report", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        train(slice_set, yamnet, tmp_path / "a", cfg, cache_dir=cache)
    assert {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no temporary folders left


def test_folder_set_without_folds_uses_stratified_split(yamnet, tmp_path, cache):
    root = tmp_path / "set"
    for label in ("rooster", "church_bells"):
        (root / label).mkdir(parents=True)
        for clip in esc50_clips_of(label, 4):
            shutil.copy(clip, root / label / clip.name)
    ds = load_dataset(root)
    result = train(ds, yamnet, tmp_path / "out", TrainConfig(shifted_views=False, **QUICK), cache_dir=cache)
    assert result.cv.scheme.startswith("stratified 4-fold")
    assert len(result.report["cv"]["fold_accuracy"]) == 4
    assert result.cv.mean_accuracy >= 0.75  # chance 0.5; these two classes are easy

    (root / "rooster" / "x.wav").unlink(missing_ok=True)
    for extra in list((root / "church_bells").iterdir())[1:]:
        extra.unlink()
    with pytest.raises(DatasetError, match="needs at least 2 per class"):
        train(load_dataset(root), yamnet, tmp_path / "out2", TrainConfig(**QUICK), cache_dir=cache)


def test_cli_embed_and_train(tmp_path, cache):
    runner = CliRunner()
    args = ["--data", str(ESC50_DIR), "--classes", "dog,rain", "--cache", str(cache)]
    result = runner.invoke(app, ["embed", *args, "--folds", "1"])
    assert result.exit_code == 0, result.output
    assert "16 clips" in result.output and "dog 8, rain 8" in result.output

    out = tmp_path / "exported" / "dogs"
    result = runner.invoke(app, ["train", *args, "--out", str(out), "--folds", "1", "--epochs", "8", "--no-shifted"])
    assert result.exit_code == 0, result.output
    assert {"head.keras", "head.json", "report.json", "report.html"} <= {p.name for p in out.iterdir()}
    assert json.loads((out / "report.json").read_text())["cv"]["folds"] == [1]

    bad = runner.invoke(app, ["embed", "--data", str(tmp_path / "missing"), "--cache", str(cache)])
    assert bad.exit_code == 1 and "does not exist" in bad.output and "Traceback" not in bad.output


def test_layers_option_names_the_head_features():
    from pipeline.cli import parse_features
    from pipeline.errors import PipelineError

    assert parse_features() == ("embeddings", "layer9", "layer10", "layer11", "layer12", "layer13")
    assert parse_features("none") == ("embeddings",)
    assert parse_features("13, 11", with_scores=True) == ("embeddings", "yamnet_scores", "layer11", "layer13")
    assert parse_features("12-13") == ("embeddings", "layer12", "layer13")
    for bad, message in (("14", r"block\(s\) \[14\] not available"), ("x", "'x' is not a block number")):
        with pytest.raises(PipelineError, match=message):
            parse_features(bad)


def test_engine_folds_each_tasks_normalisation_into_one_matmul(yamnet, slice_set, cache, monkeypatch):
    """The engine's shared-batch first layer is, model by model, Normalization -> Dense of that model's task,
    and a model's rows that are not its own carry no weight (its task's test fold never trains it)."""
    from pipeline.training.engine import Engine, Task
    from pipeline.training.evaluation import assign_folds, make_task

    monkeypatch.setenv("YAMNET_TFJS_TRAIN_PRECISION", "float32")  # the identity holds exactly in float32
    views = [embed_dataset(slice_set, yamnet, cache)]
    rows = rows_of(views, ("embeddings", "yamnet_scores"))
    folds, _ = assign_folds(views[0], 5, 0)
    cfg = TrainConfig(features=("embeddings", "yamnet_scores"), input_dropout=0.0, **QUICK)
    tasks: list[Task] = [make_task(rows, np.flatnonzero(folds != f), cfg, seed=f, name=f"fold {f}") for f in (1, 2, 3)]
    engine = Engine(rows.table, tasks, cfg)
    rng = np.random.default_rng(0)
    for p in engine.params[:2]:  # random weights and biases, so every model's kernel differs
        p.assign(rng.normal(size=p.shape).astype(np.float32))
    batch = rows.table.x[:64]
    reference = rows.table.x[engine.union].mean(axis=0, dtype=np.float64).astype(np.float32)
    x = np.stack([batch - reference] * engine.K)  # [K, B, F]: each group's batch
    h = engine._first_layer(x, engine.params).numpy()  # [M, B, H]
    weights = engine._weights()
    for j, (t, _) in enumerate(engine.models):
        z = (batch - tasks[t].mean) / np.sqrt(tasks[t].var)  # what the saved head's Normalization layer does
        expected = z @ weights[0][j] + weights[1][j]
        np.testing.assert_allclose(h[j], expected, rtol=2e-4, atol=2e-3 * np.abs(expected).max())
    idx, valid, _, _ = engine._epoch_arrays(np.random.default_rng(1), 0)
    for j, (t, m) in enumerate(engine.models):
        used = idx[:, m][valid[:, j] > 0]
        assert set(used.tolist()) == set(tasks[t].train_rows.tolist())  # exactly its rows, each once
        assert len(used) == len(tasks[t].train_rows)
        test_rows = np.flatnonzero(np.isin(rows.table.owner, np.flatnonzero(folds == t + 1)))
        assert not np.isin(used, test_rows).any()
