"""Nothing lost, nothing silently wrong: the bad inputs and faults a hostile new user tried.

Each test here failed before its fix (see docs/reliability.md for the list of cases and what each gets):
``--out`` pointed at users' files, staging folders left by ``kill -9``, folds and manifests that were
silently discarded or leaked, exports published or run without being checked, misleading errors, and
long files classified in one piece.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from pipeline.atomic import STAGING_PREFIX, remove_stale_staging, staged
from pipeline.datasets import load_dataset
from pipeline.embeddings import embed_dataset
from pipeline.errors import DatasetError, PipelineError
from pipeline.layout import MARKER, OutputDirError, check_output_dir
from pipeline.training import TrainConfig, train
from pipeline.training.evaluation import assign_folds, check_duplicates
from tests.conftest import ESC50_DIR, REPO, esc50_clips_of
from tests.support import run_cli

QUICK = {"max_epochs": 6, "patience": 2, "ensemble": 1, "features": ("embeddings",)}


def _user_set(root: Path, per_class: int = 3, classes: tuple[str, ...] = ("dog", "rain")) -> Path:
    """A folder-per-class data set of real ESC-50 clips, with a README the user wrote."""
    for name in classes:
        (root / name).mkdir(parents=True)
        for clip in esc50_clips_of(name, per_class):
            shutil.copy(clip, root / name / clip.name)
    (root / "README.txt").write_text("my recordings, do not lose")
    return root


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- --out never replaces what the product did not write ---------------------------------------


@pytest.mark.parametrize("where", ["data", "data_parent", "inside_data", "notes", "file"])
def test_out_that_would_hit_users_files_is_refused_and_nothing_changes(tmp_path, where):
    data = _user_set(tmp_path / "parent" / "sounds")
    (tmp_path / "parent" / "sibling.txt").write_text("a sibling file")
    notes = tmp_path / "notes"
    (notes / "photos").mkdir(parents=True)
    (notes / "notes.txt").write_text("mine")
    (tmp_path / "existing_file.txt").write_text("a file, not a folder")
    out = {
        "data": data,
        "data_parent": data.parent,
        "inside_data": data / "model",
        "notes": notes,
        "file": tmp_path / "existing_file.txt",
    }[where]
    before = _snapshot(tmp_path)
    with pytest.raises(OutputDirError) as info:
        check_output_dir(out, data)
    message = str(info.value)
    assert message.startswith(str(out)) and "\n" not in message
    assert _snapshot(tmp_path) == before and not (data / "model").exists()


def test_cli_train_refuses_before_any_work_with_one_line(tmp_path):
    data = _user_set(tmp_path / "sounds")
    before = _snapshot(tmp_path)
    for out in (data, tmp_path):
        proc = run_cli("train", "--data", data, "--out", out, "--cache", tmp_path.parent / "cache-unused")
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and str(out) in errors[0], proc.stderr
        assert "embedded" not in proc.stderr  # refused before YAMNet ran
    assert _snapshot(tmp_path) == before
    assert not (tmp_path.parent / "cache-unused").exists()


def test_product_folders_and_new_or_empty_ones_are_accepted(tmp_path):
    (tmp_path / "empty").mkdir()
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / MARKER).write_text("{}")
    (ours / "anything").write_text("x")
    for out in (tmp_path / "new" / "deep", tmp_path / "empty", ours):
        assert check_output_dir(out, tmp_path / "data") == out


def test_retrain_keeps_the_export_of_an_identical_head_and_removes_a_stale_one(yamnet, tmp_path):
    data = load_dataset(ESC50_DIR).subset(classes=["dog", "rain"], folds=[1, 2])
    out, cache = tmp_path / "exported" / "two", tmp_path / "cache"
    train(data, yamnet, out, TrainConfig(**QUICK), cache_dir=cache)
    assert (out / MARKER).is_file()
    # Stand-ins for what export, parity and site write beside the head.
    (out / "saved_model").mkdir()
    (out / "saved_model" / "saved_model.pb").write_bytes(b"graph")
    (out / "tfjs").mkdir()
    (out / "tfjs" / "model.json").write_text("{}")
    (out / "parity.json").write_text("{}")
    (out / "site").mkdir()
    (out / "site" / "index.html").write_text("<html>")
    said: list[str] = []
    train(data, yamnet, out, TrainConfig(**QUICK), cache_dir=cache, on_message=said.append)
    assert (out / "tfjs" / "model.json").is_file() and (out / "parity.json").is_file()
    assert any("identical head" in s and "kept" in s for s in said), said
    said.clear()
    train(data, yamnet, out, TrainConfig(**{**QUICK, "seed": 1}), cache_dir=cache, on_message=said.append)
    for name in ("saved_model", "tfjs", "parity.json", "site"):
        assert not (out / name).exists(), name
    assert any("removed the export" in s and "tfjs" in s and "site" in s for s in said), said
    assert (out / "head.keras").is_file() and json.loads((out / "head.json").read_text())["seed"] == 1
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "no staging folder left"


def test_staging_folders_of_killed_processes_are_cleaned_up(tmp_path):
    target = tmp_path / "export"
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from pathlib import Path
        from pipeline.atomic import staged
        with staged(Path({str(target)!r}), ["saved_model"]) as stage:
            (stage / "saved_model").mkdir()
            (stage / "saved_model" / "big.bin").write_bytes(bytes(1 << 20))
            print("staged", flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "staged"
    os.kill(proc.pid, signal.SIGKILL)  # no finally block runs
    proc.wait()
    left = [p for p in target.iterdir() if p.name.startswith(STAGING_PREFIX)]
    assert len(left) == 1 and (left[0] / "saved_model" / "big.bin").is_file()
    legacy = target / ".export-abcd1234"  # yamnet-tfjs 0.1.0's name, no process id
    legacy.mkdir()
    old = time.time() - 7200
    os.utime(legacy, (old, old))
    mine = target / f"{STAGING_PREFIX}{os.getpid()}-live"  # a running process's: kept
    mine.mkdir()
    with staged(target, ["saved_model"]) as stage:
        (stage / "saved_model").mkdir()
    assert not left[0].exists() and not legacy.exists() and mine.exists()
    assert (target / "saved_model").is_dir()
    mine.rmdir()
    assert remove_stale_staging(target) == []


# --- folds and manifests ------------------------------------------------------------------------


def _manifest_set(tmp_path: Path, rows: list[str], per_class: int = 4) -> Path:
    root = _user_set(tmp_path / "data", per_class=per_class)
    (root / "manifest.csv").write_text("path,label,fold\n" + "\n".join(rows) + "\n")
    return root


def _rows(root: Path, fold_of) -> list[str]:
    files = sorted(p for p in root.rglob("*.flac"))
    return [f"{p.relative_to(root).as_posix()},{p.parent.name},{fold_of(i)}" for i, p in enumerate(files)]


@pytest.mark.parametrize("labels", [(0, 1), (-1, 99)])
def test_any_integer_fold_labels_are_used_not_discarded(yamnet, tmp_path, labels):
    root = _user_set(tmp_path / "data", per_class=4)
    (root / "manifest.csv").write_text("path,label,fold\n" + "\n".join(_rows(root, lambda i: labels[i % 2])) + "\n")
    views = embed_dataset(load_dataset(root), yamnet, tmp_path / "cache")
    folds, scheme = assign_folds(views, 5, 0)
    assert sorted(set(folds.tolist())) == sorted(labels)
    assert "stratified" not in scheme and "2 folds" in scheme


def test_a_single_fold_is_refused_with_the_reason(yamnet, tmp_path):
    root = _user_set(tmp_path / "data", per_class=4)
    (root / "manifest.csv").write_text("path,label,fold\n" + "\n".join(_rows(root, lambda i: 3)) + "\n")
    proc = run_cli("train", "--data", root, "--out", tmp_path / "out", "--cache", tmp_path / "cache")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "KeyError" not in proc.stderr
    assert "at least two folds" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_duplicate_rows_are_counted_once_and_named(tmp_path):
    root = _user_set(tmp_path / "data", per_class=3)
    rows = _rows(root, lambda i: 1 + i % 2)
    (root / "manifest.csv").write_text("path,label,fold\n" + "\n".join([*rows, rows[0], rows[0]]) + "\n")
    data = load_dataset(root)
    assert data.class_counts() == {"dog": 3, "rain": 3}
    assert any("2 repeated row(s)" in w and "line 8 (= line 2)" in w for w in data.warnings), data.warnings


def test_the_same_file_in_two_folds_or_with_two_labels_is_refused(tmp_path):
    root = _user_set(tmp_path / "data", per_class=3)
    rows = _rows(root, lambda i: 1)
    path, label, _ = rows[0].split(",")
    for extra, phrase in ((f"{path},{label},2", "folds 1 and 2"), (f"{path},rain,1", "two labels")):
        (root / "manifest.csv").write_text("path,label,fold\n" + "\n".join([*rows, extra]) + "\n")
        with pytest.raises(DatasetError, match=phrase):
            load_dataset(root)


def test_identical_content_in_two_folds_is_leakage(yamnet, tmp_path):
    root = _user_set(tmp_path / "data", per_class=3)
    copy = root / "dog" / "copy_of_first.flac"
    first = sorted((root / "dog").glob("*.flac"))[0]
    shutil.copy(first, copy)
    rows = [r for r in _rows(root, lambda i: 1 + i % 2) if "copy_of_first" not in r]
    first_fold = next(r for r in rows if first.name in r).split(",")[2]
    other = "2" if first_fold == "1" else "1"
    (root / "manifest.csv").write_text("path,label,fold\n" + "\n".join([*rows, f"dog/{copy.name},dog,{other}"]) + "\n")
    views = embed_dataset(load_dataset(root), yamnet, tmp_path / "cache")
    with pytest.raises(DatasetError, match="identical audio in folds"):
        check_duplicates(views)


def test_a_class_in_one_fold_only_is_warned_about(tmp_path):
    root = _user_set(tmp_path / "data", per_class=3, classes=("dog", "rain", "rooster"))
    (root / "manifest.csv").write_text(
        "path,label,fold\n" + "\n".join(_rows(root, lambda i: 1 if i < 3 else 1 + i % 2)) + "\n"
    )
    warnings = load_dataset(root).warnings
    assert any("class 'dog' is only in fold 1" in w for w in warnings), warnings


@pytest.mark.parametrize("bad", ["../../etc/passwd", "/etc/shadow", "dog/../../outside.flac"])
def test_manifest_paths_outside_the_data_folder_are_refused(tmp_path, bad):
    root = _user_set(tmp_path / "data", per_class=2)
    rows = [r.rsplit(",", 1)[0] for r in _rows(root, lambda i: 0)]  # path,label (4 clips: lines 2-5)
    (root / "manifest.csv").write_text("path,label\n" + "\n".join([*rows, f"{bad},dog"]) + "\n")
    with pytest.raises(DatasetError, match="outside the data folder") as info:
        load_dataset(root)
    assert "manifest.csv:6:" in str(info.value) and bad in str(info.value)


def test_an_old_export_inside_the_data_folder_is_not_read_as_a_class(tmp_path):
    root = _user_set(tmp_path / "data", per_class=2)
    (root / "model").mkdir()
    (root / "model" / "head.json").write_text("{}")
    (root / "model" / "notes.flac").write_bytes(b"")  # would be a class 'model' with an unreadable file
    data = load_dataset(root)
    assert data.labels == ["dog", "rain"]
    assert any("output folder of yamnet-tfjs" in w for w in data.warnings)


# --- errors that used to be tracebacks ----------------------------------------------------------


def test_cache_under_a_file_fails_before_any_yamnet_work(yamnet, tmp_path, monkeypatch):
    from pipeline import embeddings

    blocker = tmp_path / "cache-file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(embeddings, "get_runner", lambda _y: pytest.fail("YAMNet ran before the cache was checked"))
    data = load_dataset(_user_set(tmp_path / "data", per_class=2))
    with pytest.raises(PipelineError, match="not writable") as info:
        embed_dataset(data, yamnet, blocker / "sub")
    assert "--cache" in str(info.value)


def test_report_plots_any_script_without_warnings(tmp_path):
    import warnings

    from pipeline.report import _any_script_fonts, _plot_confusion

    labels = ["狗 dog", "собака", "🐕 emoji", "kölsch", "ٱلْكَلْب"]
    m = np.eye(len(labels), dtype=np.int64) * 3
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with _any_script_fonts():
            _plot_confusion(m, labels, tmp_path / "c.png")
    assert [str(w.message) for w in caught if "Glyph" in str(w.message)] == []
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


# --- long files: chunks equal one shot, memory stays near the waveform -------------------------


def test_chunked_outputs_equal_the_one_shot_call(yamnet, clips):
    from pipeline.chunks import run_chunked

    wave = np.concatenate([*clips, *clips, clips[0][:12345]])  # 65.8 s: 136 patches, 20 chunks of 7
    one = yamnet(wave)
    outputs = run_chunked(
        lambda w: (lambda o: {"scores": o.scores, "embeddings": o.embeddings, "log_mel": o.log_mel})(yamnet(w)),
        wave,
        ("scores", "embeddings", "log_mel"),
        max_patches=7,
    )
    assert outputs["scores"].shape == one.scores.shape and outputs["log_mel"].shape == one.log_mel.shape
    assert np.abs(outputs["scores"] - one.scores).max() <= 1e-6
    assert np.abs(outputs["embeddings"] - one.embeddings).max() <= 1e-5
    assert np.abs(outputs["log_mel"] - one.log_mel).max() <= 1e-5


_PEAK_SCRIPT = """
import resource, sys
sys.path.insert(0, {repo!r})
import numpy as np
from pipeline.audio import load_audio
def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
if {which!r} == "classify":
    from pipeline.classify import classify_files as run_files
    from pipeline.yamnet import load_yamnet
    model = load_yamnet({yamnet!r})
else:
    from pipeline.predict import load_exported, predict_files as run_files
    model = load_exported(__import__("pathlib").Path({export!r}))
run_files(model, [{warm!r}])  # a one-chunk file: the model and one chunk's working memory
before = peak()
entries, errors = run_files(model, [{long!r}])
print(before, peak(), len(load_audio({long!r})) * 4, entries[0]["top"][0]["label"], len(errors))
"""


@pytest.fixture(scope="module")
def long_files(tmp_path_factory):
    """A 40-minute 16 kHz file (150 MB as float32) and a 15 s one, written in blocks."""
    import soundfile as sf

    folder = tmp_path_factory.mktemp("long")
    base = np.concatenate(_clip_waves())
    with sf.SoundFile(str(folder / "long.wav"), "w", 16000, 1, "PCM_16") as f:
        for _ in range(40 * 60 * 16000 // len(base) + 1):
            f.write(base)
    sf.write(str(folder / "warm.wav"), base[: 15 * 16000], 16000, "PCM_16")
    return folder / "warm.wav", folder / "long.wav"


def _clip_waves() -> list[np.ndarray]:
    from pipeline.audio import load_audio

    return [load_audio(p) for cat in ("dog", "rain", "siren") for p in esc50_clips_of(cat, 2)]


@pytest.mark.parametrize("which", ["classify", "predict"])
def test_long_file_peak_memory_stays_within_twice_its_waveform(long_files, classifier_export, which):
    from tests.conftest import YAMNET_DIR

    warm, long = long_files
    script = _PEAK_SCRIPT.format(
        repo=str(REPO), which=which, yamnet=str(YAMNET_DIR), export=str(classifier_export), warm=str(warm),
        long=str(long),
    )  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    before, after, wave_bytes, label, failed = proc.stdout.split()
    grown = int(after) - int(before)
    assert int(failed) == 0 and label
    # One shot, the activations of all 5,000 patches alone were several GB (6 GB for one hour).
    assert grown <= 2 * int(wave_bytes), (
        f"peak grew {grown / 2**20:.0f} MB for a {int(wave_bytes) / 2**20:.0f} MB waveform"
    )


def test_a_new_export_replaces_the_parity_record_and_site_of_the_old_one(tmp_path):
    from pipeline.export.stage import _staged_export

    folder = tmp_path / "exported"
    folder.mkdir()
    for name in ("parity.json", "head.json", "notes.txt"):
        (folder / name).write_text("old")
    (folder / "site").mkdir()
    (folder / "tfjs").mkdir()
    with _staged_export(folder, "classifier") as stage:
        (stage / "tfjs").mkdir()
        (stage / "tfjs" / "model.json").write_text("new")
    assert (folder / "tfjs" / "model.json").read_text() == "new"
    assert not (folder / "parity.json").exists() and not (folder / "site").exists()
    assert (folder / "head.json").read_text() == "old" and (folder / "notes.txt").read_text() == "old"
    assert (folder / MARKER).is_file()
