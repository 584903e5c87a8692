"""``--background DIR``: a set of sounds that are none of the classes trains the rejection, the report counts
false alarms per hour on background audio no head saw, and the export still has exactly the user's classes.

Real clips throughout: the training slice (4 ESC-50 classes, folds 1-2) and, as background, ESC-50 clips
of three other classes (typing, vacuum cleaner, footsteps: room sounds none of the four classes is).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from pipeline.audio import load_audio
from pipeline.background import BACKGROUND_LABEL, false_alarms, load_background, sink_index, with_background
from pipeline.embeddings import embed_dataset
from pipeline.errors import DatasetError, PipelineError
from pipeline.openset import OpenSet
from pipeline.training import TrainConfig, train
from pipeline.training.evaluation import check_duplicates, unseen_background
from tests.conftest import ESC50_DIR, QUICK_TRAIN, SLICE_CLASSES, esc50_clips_of
from tests.support import max_diff, run_cli

BACKGROUND_CLASSES = ("keyboard_typing", "vacuum_cleaner", "footsteps")
FEATURES = ("embeddings", "yamnet_scores")


@pytest.fixture(scope="module")
def background_dir(tmp_path_factory):
    """48 real clips (folds 1-2 of three room-sound classes) in a user's background folder, nested."""
    root = tmp_path_factory.mktemp("room")
    for name in BACKGROUND_CLASSES:
        (root / name).mkdir()
        for fold in (1, 2):
            for clip in esc50_clips_of(name, 8, fold):
                shutil.copy(clip, root / name / clip.name)
    return root


@pytest.fixture(scope="module")
def heads(yamnet, slice_set, cache, background_dir, tmp_path_factory):
    """The slice trained with the background set and without it (the same settings)."""
    base = tmp_path_factory.mktemp("bg-exported")
    cfg = TrainConfig(features=FEATURES, **QUICK_TRAIN)
    messages: list[str] = []
    room = load_background(background_dir, slice_set.root, slice_set.labels)
    with_bg = train(slice_set, yamnet, base / "with", cfg, cache_dir=cache, background=room, on_message=messages.append)
    assert any("false alarms per hour" in m for m in messages)
    without = train(slice_set, yamnet, base / "without", cfg, cache_dir=cache)
    return with_bg.out_dir, without.out_dir


def _merged(yamnet, slice_set, cache, folder):
    """The slice's embeddings with ``folder``'s as the background class."""
    return with_background(
        embed_dataset(slice_set, yamnet, cache), embed_dataset(load_background(folder), yamnet, cache)
    )


def test_background_is_learned_then_left_out_of_the_head(heads, yamnet, slice_set, cache, background_dir):
    import keras

    with_bg, _ = heads
    info = json.loads((with_bg / "head.json").read_text())
    assert info["labels"] == sorted(SLICE_CLASSES)  # the sink is not a label
    assert info["background"]["clips"] == 48 and info["background"]["trained_as"] == BACKGROUND_LABEL
    head = keras.models.load_model(with_bg / "head.keras")
    assert head.output_shape == (None, 4)
    known = embed_dataset(slice_set, yamnet, cache)
    room = embed_dataset(load_background(background_dir), yamnet, cache)
    known_mass = np.concatenate([head.predict(known.features(i, FEATURES), verbose=0) for i in range(8)]).sum(1)
    room_mass = np.concatenate([head.predict(room.features(i, FEATURES), verbose=0) for i in range(8)]).sum(1)
    print(f"probability left to the classes: known {known_mass.mean():.3f}, background {room_mass.mean():.3f}")
    assert known_mass.max() <= 1 + 1e-5 and room_mass.mean() < known_mass.mean() - 0.3

    report = json.loads((with_bg / "report.json").read_text())
    assert set(report["cv"]["per_class"]) == set(SLICE_CLASSES)
    assert report["dataset"]["clips"] == 64 and np.array(report["cv"]["confusion_matrix"]).sum() == 64
    assert report["cv"]["mean_accuracy"] >= 0.85
    bg = report["background"]
    assert bg["files"] == 48 and bg["clips"] == 48  # every background file was judged by a head that never saw it
    assert bg["hours"] == pytest.approx(48 * 5 / 3600, abs=1e-3)
    assert bg["false_alarms_per_hour"] == pytest.approx(bg["events"] / bg["hours"], rel=1e-3)
    assert "Background set: false alarms" in (with_bg / "report.html").read_text()


def test_background_cuts_false_alarms(heads, yamnet, slice_set, cache, background_dir):
    """The same background files through the head trained without them: far more events and windows named as a
    class. (Whole files are not compared: on 64 known clips the clip threshold rests on one or two clips.)"""
    import keras

    with_bg, without = heads
    merged = _merged(yamnet, slice_set, cache, background_dir)
    info = json.loads((without / "head.json").read_text())
    part = unseen_background(keras.models.load_model(without / "head.keras"), merged, FEATURES)
    decision = OpenSet.from_json(info["open_set"])
    before = false_alarms([part], decision, lambda i: load_audio(merged.paths[i]), info["labels"])
    after = json.loads((with_bg / "report.json").read_text())["background"]
    print(f"false alarms per hour: {before['false_alarms_per_hour']} without the background set, "
          f"{after['false_alarms_per_hour']} with it; windows named {before['windows_named']} -> "
          f"{after['windows_named']}")  # fmt: skip
    assert before["files"] == after["files"] == 48
    assert after["events"] < before["events"] / 2 and after["windows_named"] < before["windows_named"] / 2


def test_export_keeps_the_users_classes_only(heads, yamnet):
    """The selection layer survives the export: the graph's clip_scores are the Keras head's, 4 wide, sum < 1."""
    import keras

    from pipeline.export.savedmodel import load_head, save_saved_model
    from pipeline.tfenv import tf

    with_bg, _ = heads
    tfm = tf()
    target = with_bg.parent / "with-saved"
    save_saved_model(yamnet, load_head(with_bg), target)
    serve = tfm.saved_model.load(str(target)).signatures["serving_default"]
    head = keras.models.load_model(with_bg / "head.keras")
    wave = load_audio(esc50_clips_of("vacuum_cleaner", 1, 3)[0])  # background-like, from a fold never used here
    got = {k: v.numpy() for k, v in serve(waveform=tfm.constant(wave)).items()}
    assert got["clip_scores"].shape == (4,)
    expected = head.predict(np.concatenate([got["embeddings"], got["yamnet_scores"]], axis=1), verbose=0)
    assert max_diff(got["scores"], expected) <= 1e-5
    assert got["clip_scores"].sum() < 0.9


def test_background_clips_keep_their_folds_by_content(yamnet, slice_set, cache, tmp_path):
    """Copies of one file share a fold (only a warning); a background file that is also a class clip is refused."""
    room = tmp_path / "room"
    room.mkdir()
    typing = esc50_clips_of("keyboard_typing", 3, 1)
    for clip in typing:
        shutil.copy(clip, room / clip.name)
    shutil.copy(typing[0], room / "copy.flac")
    merged = _merged(yamnet, slice_set, cache, room)
    sink = sink_index(merged)
    assert sink == 4 and merged.label_names[sink] == BACKGROUND_LABEL
    folds = merged.folds[merged.labels == sink]
    assert set(folds.tolist()) <= {1, 2} and folds[0] == folds[-1]  # the copy ("copy.flac" sorts first)
    assert any("identical audio counted 2 times" in w for w in check_duplicates(merged))

    dog = esc50_clips_of("dog", 1, 1)[0]
    shutil.copy(dog, room / dog.name)
    clash = _merged(yamnet, slice_set, cache, room)
    with pytest.raises(DatasetError, match="identical audio under different labels"):
        check_duplicates(clash)


def test_bad_background_folders_are_refused_by_name(tmp_path, slice_set, yamnet, background_dir):
    with pytest.raises(DatasetError, match="does not exist"):
        load_background(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no audio here")
    with pytest.raises(DatasetError, match="no readable audio"):
        load_background(tmp_path / "empty")
    with pytest.raises(DatasetError, match="inside the data set"):
        load_background(ESC50_DIR / "audio", ESC50_DIR)
    with pytest.raises(DatasetError, match="rename it"):
        load_background(background_dir, None, ["dog", BACKGROUND_LABEL])
    broken = tmp_path / "mixed"
    broken.mkdir()
    shutil.copy(esc50_clips_of("footsteps", 1, 1)[0], broken / "ok.flac")
    (broken / "broken.wav").write_bytes(b"RIFF not really a wave file")
    loaded = load_background(broken)
    assert [c.path.name for c in loaded.clips] == ["ok.flac"]
    assert [p.name for p, _ in loaded.skipped] == ["broken.wav"]
    with pytest.raises(PipelineError, match="--background and --fine-tune"):
        train(slice_set, yamnet, tmp_path / "out", TrainConfig(fine_tune=True), background=loaded)
    # the CLI names the folder and stops before any work
    result = run_cli("train", "--data", ESC50_DIR, "--out", tmp_path / "cli", "--background", tmp_path / "empty")
    assert result.returncode != 0 and "no readable audio" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "cli").exists()
