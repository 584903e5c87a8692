"""Export, from Python's side: the front-end rewrite, the one-graph SavedModel, metadata, atomicity, predict.

Everything runs on the real shared YAMNet and real ESC-50 clips; the head is a small real one
(tests/support.py). Conversion happens once per session (fixture ``classifier_export`` in conftest.py).
"""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from pipeline.audio import load_audio
from pipeline.constants import NUM_MEL_BINS, PATCH_FRAMES, PATCH_HOP_FRAMES, SAMPLE_RATE, num_patches, padded_length
from pipeline.openset import UNKNOWN, OpenSet, decide
from tests.conftest import esc50_clips_of
from tests.support import CATEGORIES, max_diff, patch_features, write_head


def float64_log_mel(waveform: np.ndarray, window: np.ndarray, mel: np.ndarray) -> np.ndarray:
    """YAMNet's log-mel in float64 numpy (pad, 400/160 frames, periodic Hann, |rfft 512|, mel, log)."""
    wave = np.zeros(padded_length(len(waveform)))
    wave[: len(waveform)] = waveform
    n_frames = 1 + (len(wave) - 400) // 160
    frames = np.stack([wave[i * 160 : i * 160 + 400] for i in range(n_frames)]) * window.astype(np.float64)
    magnitude = np.abs(np.fft.rfft(frames, 512))
    return np.log(magnitude @ mel.astype(np.float64) + 0.001)


def test_rewritten_front_end_matches_original_graph(yamnet, clips):
    from pipeline.tfenv import kernels, tf
    from pipeline.yamnet.graph import freeze_yamnet, graph_ops, import_yamnet, rewrite_front_end

    tfm = tf()
    original = freeze_yamnet(yamnet.model)
    rewritten = rewrite_front_end(original)
    assert {"RFFT", "ComplexAbs"} <= graph_ops(original.graph_def)
    assert not {"RFFT", "ComplexAbs"} & graph_ops(rewritten.graph_def)
    consts = {n.name: tfm.make_ndarray(n.attr["value"].tensor) for n in rewritten.graph_def.node if n.op == "Const"}
    window, mel = consts["yamnet_frontend/hann_window"], consts["yamnet_frontend/mel_matrix"]
    assert window.shape == (400,) and mel.shape == (257, NUM_MEL_BINS)
    assert consts["yamnet_frontend/log_offset"].shape == (NUM_MEL_BINS,)  # full-shape bias for wasm
    basis_shapes = {(400, 514), (400, 257), (514, 400), (257, 400)}
    assert not any(v.shape in basis_shapes for v in consts.values()), "the DFT basis must be built in the graph"

    def runner(frozen):
        return tfm.function(lambda w: import_yamnet(frozen, w), input_signature=[tfm.TensorSpec([None], tfm.float32)])

    run_orig, run_new = runner(original), runner(rewritten)
    worst = {"scores": 0.0, "embeddings": 0.0, "log_mel": 0.0}
    ref_err = {"original": 0.0, "rewritten": 0.0}
    for clip in clips:
        a = {k: v.numpy() for k, v in run_orig(clip).items()}
        b = {k: v.numpy() for k, v in run_new(clip).items()}
        # frozen == hub model: bit for bit with Eigen's kernels; oneDNN picks other kernels for the frozen graph's
        # fused ops, a few ulps apart (seen: 6e-8 on scores of ~1e-7)
        np.testing.assert_allclose(a["scores"], yamnet(clip).scores, rtol=0, atol=0 if kernels() == "eigen" else 1e-6)
        for key in worst:
            worst[key] = max(worst[key], max_diff(a[key], b[key]))
        ref = float64_log_mel(clip, window, mel)
        ref_err["original"] = max(ref_err["original"], max_diff(a["log_mel"], ref))
        ref_err["rewritten"] = max(ref_err["rewritten"], max_diff(b["log_mel"], ref))
    assert worst["scores"] <= 3e-5, worst
    assert worst["embeddings"] <= 1e-4, worst
    assert worst["log_mel"] <= 1e-3, worst
    assert ref_err["rewritten"] <= ref_err["original"], ref_err


@pytest.mark.parametrize(
    "features", [("embeddings",), ("embeddings", "yamnet_scores"), ("embeddings", "layer9", "layer12", "layer13")]
)
def test_saved_model_equals_yamnet_plus_head(yamnet, clips, tmp_path, features):
    import keras

    from pipeline.export.savedmodel import load_head, save_saved_model
    from pipeline.tfenv import tf

    write_head(tmp_path, yamnet, features)
    head = load_head(tmp_path)
    save_saved_model(yamnet, head, tmp_path / "saved_model")
    serve = tf().saved_model.load(str(tmp_path / "saved_model")).signatures["serving_default"]
    reference_head = keras.models.load_model(tmp_path / "head.keras")
    for clip in clips[:3]:
        out = {k: v.numpy() for k, v in serve(waveform=tf().constant(clip)).items()}
        assert set(out) == {"scores", "clip_scores", "yamnet_scores", "embeddings", "log_mel"}
        yam = yamnet(clip)
        probs = reference_head.predict(patch_features(yamnet, clip, features), verbose=0)
        assert max_diff(out["scores"], probs) <= 1e-5
        assert max_diff(out["clip_scores"], probs.mean(axis=0)) <= 1e-5
        assert max_diff(out["yamnet_scores"], yam.scores) <= 3e-5
        assert max_diff(out["embeddings"], yam.embeddings) <= 1e-4
        assert max_diff(out["log_mel"], yam.log_mel) <= 1e-3
        assert out["scores"].shape == (num_patches(len(clip)), len(CATEGORIES))


@pytest.mark.parametrize("seconds", [0.3, 0.975, 5.0, 60.0])
def test_any_length_waveform(exported, seconds):
    n = round(seconds * SAMPLE_RATE)
    wave = (0.1 * np.random.default_rng(n).standard_normal(n)).astype(np.float32)
    out = exported(wave)
    patches = num_patches(n)
    assert out["scores"].shape == (patches, len(CATEGORIES))
    assert out["yamnet_scores"].shape == (patches, 521)
    assert out["embeddings"].shape == (patches, 1024)
    assert out["log_mel"].shape == (PATCH_FRAMES + PATCH_HOP_FRAMES * (patches - 1), NUM_MEL_BINS)
    np.testing.assert_allclose(out["scores"].sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out["clip_scores"], out["scores"].mean(axis=0), atol=1e-6)
    assert np.isfinite(out["log_mel"]).all()


def test_export_writes_layout_metadata_and_checksums(classifier_export):
    from pipeline.checksums import sha256_file

    meta = json.loads((classifier_export / "metadata.json").read_text())
    assert meta["labels"] == list(CATEGORIES)
    assert len(meta["yamnet_class_names"]) == 521 and meta["yamnet_class_names"][0] == "Speech"
    assert (meta["sample_rate"], meta["patch_window_seconds"], meta["patch_hop_seconds"]) == (16000, 0.96, 0.48)
    assert meta["min_samples"] == 15600
    assert meta["input"]["name"] == "waveform" and meta["input"]["shape"] == [-1]
    assert [o["name"] for o in meta["outputs"]] == ["scores", "clip_scores", "yamnet_scores", "embeddings", "log_mel"]
    assert meta["outputs"][1]["shape"] == [len(CATEGORIES)]
    assert meta["report"]["accuracy"] == 1.0
    assert {"tensorflow", "tensorflowjs", "@tensorflow/tfjs"} <= set(meta["versions"])
    assert len(meta["inputs_hash"]) == 64
    assert set(meta["variants"]) == {"float32", "float16", "uint8"}
    for rel, digest in meta["files"].items():
        assert sha256_file(classifier_export / rel) == digest, rel
    assert "README.md" in meta["files"] and "saved_model/saved_model.pb" in meta["files"]
    assert "head.keras" not in meta["files"]  # the head is train's artifact, not export's
    for kind, variant in meta["variants"].items():
        folder = classifier_export / variant["dir"]
        copy = json.loads((folder / "metadata.json").read_text())
        assert copy["quantization"] == kind and copy["outputs"] == meta["outputs"]
        assert set(copy["files"]) == {p.name for p in folder.iterdir() if p.name != "metadata.json"}
    card = (classifier_export / "README.md").read_text()
    assert "loadClassifier" in card and "dog" in card and "tfjs-uint8" in card
    assert not list(classifier_export.glob(".staging-*"))


def test_quantization_touches_network_weights_only_and_meets_size_goal(classifier_export):
    from pipeline.export.convert import read_model_json, weights, weights_bytes
    from pipeline.layout import BIG_TENSOR_ELEMENTS

    float32 = weights_bytes(classifier_export / "tfjs")
    assert weights_bytes(classifier_export / "tfjs-float16") < 0.55 * float32
    assert weights_bytes(classifier_export / "tfjs-uint8") <= 4.2e6  # MediaPipe's 8-bit YAMNet is 4.13 MB
    for kind in ("float16", "uint8"):
        specs = weights(read_model_json(classifier_export / f"tfjs-{kind}"))
        front = [w for w in specs if "yamnet_frontend" in w["name"].split("/") and w["dtype"] == "float32"]
        assert {w["name"].rsplit("/", 1)[-1] for w in front} >= {"hann_window", "mel_matrix", "log_offset"}
        assert all("quantization" not in w for w in front)
        network = [w for w in specs if "yamnet_frontend" not in w["name"].split("/")]
        kernels = [w for w in network if len(w["shape"]) >= 2 and w["dtype"] == "float32"]
        assert kernels and all("quantization" in w for w in kernels)
        dtypes = {(w["quantization"]["dtype"], math.prod(w["shape"]) >= BIG_TENSOR_ELEMENTS) for w in kernels}
        # uint8: the big tensors (nearly all bytes) uint8, the small ones float16; float16: all float16.
        assert dtypes == (
            {("uint8", True), ("float16", False)} if kind == "uint8" else {("float16", True), ("float16", False)}
        )


def test_failed_export_leaves_previous_export_intact(yamnet, classifier_export, monkeypatch):
    from pipeline.export import convert, export_model
    from pipeline.export.metadata import file_hashes

    before = file_hashes(classifier_export, skip_names=())

    def broken(*_args, **_kwargs):
        raise convert.ConversionError("simulated converter crash half way")

    monkeypatch.setattr(convert, "run_converter", broken)
    with pytest.raises(convert.ConversionError):
        export_model(classifier_export, yamnet)  # fails after the new SavedModel was written to staging
    assert file_hashes(classifier_export, skip_names=()) == before
    assert not list(classifier_export.glob(".staging-*"))


def test_unwritable_target_is_a_one_line_error(yamnet, tmp_path, classifier_export):
    from pipeline.export import ExportError, export_model

    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the export folder's parent should be")
    target = blocker / "NAME"
    with pytest.raises(ExportError, match=r"not found|cannot write"):
        export_model(target, yamnet)
    shutil.copy(classifier_export / "head.keras", tmp_path / "head.keras")
    shutil.copy(classifier_export / "head.json", tmp_path / "head.json")
    from pipeline.export import stage as export_module

    with pytest.raises(ExportError, match="cannot write"), export_module._staged_export(target, "classifier"):
        pass


def test_predict_cli_json_matches_saved_model(classifier_export, exported):
    from typer.testing import CliRunner

    from pipeline.cli import app

    clip = esc50_clips_of("rooster", 1, fold=5)[0]
    result = CliRunner().invoke(app, ["predict", str(classifier_export), str(clip), "--json", "--timeline"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["file"] for r in rows] == [str(clip)]
    row = rows[0]
    assert set(row) == {"file", "duration", "top", "timeline", "decision"} and row["duration"] == 5.0
    outputs = exported(load_audio(clip))
    clip_scores = outputs["clip_scores"]
    # the 'unknown' decision: the export's calibrated rule on this file's own outputs
    open_set = OpenSet.from_json(json.loads((classifier_export / "metadata.json").read_text())["open_set"])
    label, score = decide(clip_scores, outputs["yamnet_scores"], open_set)
    assert row["decision"]["score"] == pytest.approx(score, abs=1e-6)
    assert row["decision"]["threshold"] == pytest.approx(open_set.threshold_clip, abs=1e-6)
    assert row["decision"]["label"] == ("unknown" if label == UNKNOWN else CATEGORIES[label])
    assert row["top"][0]["label"] == CATEGORIES[int(np.argmax(clip_scores))]
    assert row["top"][0]["score"] == pytest.approx(float(clip_scores.max()), abs=1e-6)
    assert len(row["timeline"]) == 10


def test_export_without_head_is_a_one_line_error(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    result = CliRunner().invoke(app, ["export", str(tmp_path)])
    assert result.exit_code == 1
    assert "head.keras not found" in result.output and "Traceback" not in result.output


def _copy_export(src, dst, with_tfjs: bool = False):
    """A copy of an export folder (without the TF.js variants unless asked: they are not needed here)."""
    ignore = None if with_tfjs else shutil.ignore_patterns("tfjs*")
    shutil.copytree(src, dst, ignore=ignore)
    return dst


@pytest.mark.parametrize("drop", [1, 3])
def test_predict_refuses_labels_that_do_not_match_the_model(classifier_export, tmp_path, drop):
    from typer.testing import CliRunner

    from pipeline.cli import app

    copy = _copy_export(classifier_export, tmp_path / "copy")
    metadata = json.loads((copy / "metadata.json").read_text())
    metadata["labels"] = metadata["labels"][drop:]  # siren would be printed as the next class's name
    (copy / "metadata.json").write_text(json.dumps(metadata))
    clip = esc50_clips_of("rooster", 1, fold=5)[0]
    result = CliRunner().invoke(app, ["predict", str(copy), str(clip)])
    assert (result.exit_code == 1 and result.exception is None) or isinstance(result.exception, SystemExit)
    assert f"{4 - drop} labels but the model's clip_scores has 4 values" in result.output
    assert "Traceback" not in result.output


def test_predict_refuses_a_saved_model_that_is_not_the_exported_one(classifier_export, tmp_path):
    from pipeline.layout import ArtifactError
    from pipeline.predict import load_exported

    copy = _copy_export(classifier_export, tmp_path / "copy")
    with open(copy / "saved_model" / "saved_model.pb", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ArtifactError, match=r"saved_model\.pb: differs"):
        load_exported(copy)
