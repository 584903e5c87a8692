"""`yamnet-tfjs run`: the whole job on a small real slice of ESC-50, then a rerun that skips every stage.

Real YAMNet, real clips (4 classes, CV on 2 folds), real converter, Node and Chromium; the report page
is opened in a real browser and must render with its images loaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.run import RunState
from tests.conftest import ESC50_DIR
from tests.support import run_cli

CLASSES = "dog,rain,rooster,crying_baby"
STAGES = ("train", "export", "parity", "site")


def _run(out: Path, cache: Path, *extra: str):
    return run_cli(
        "run", "--data", ESC50_DIR, "--out", out, "--cache", cache, "--classes", CLASSES, "--folds", "1,2",
        "--quantize", "none", "--parity-clips", "2", "--no-edge-cases", "-r", "node-wasm", "-r", "chromium-wasm",
        *extra,
    )  # fmt: skip


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    out, cache = root / "exported" / "esc4", root / "cache"
    proc = _run(out, cache)
    return out, cache, proc


def test_first_run_does_every_stage_and_prints_the_headline(first_run):
    out, _, proc = first_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    for stage in STAGES:
        assert f"{stage} ran" in proc.stdout
    assert "mean clip accuracy" in proc.stdout and "all within bounds" in proc.stdout
    assert str(out / "report.html") in proc.stdout and "yamnet-tfjs serve" in proc.stdout
    for rel in ("head.keras", "report.json", "metadata.json", "tfjs/model.json", "parity.json", "site/index.html"):
        assert (out / rel).is_file(), rel
    report = json.loads((out / "report.json").read_text())
    assert report["cv"]["mean_accuracy"] >= 0.8  # 4 well-separated classes: chance is 0.25
    parity = json.loads((out / "parity.json").read_text())
    assert parity["ok"] and set(parity["variants"]["float32"]) == {"node-wasm", "chromium-wasm"}
    state = RunState(out).data["stages"]
    assert set(state) == set(STAGES) and all(state[s]["inputs"] for s in STAGES)


def test_rerun_skips_every_stage_and_a_changed_setting_reruns_only_its_stage(first_run):
    out, cache, _ = first_run
    before = (out / "tfjs" / "model.json").stat().st_mtime_ns
    again = _run(out, cache)
    assert again.returncode == 0, again.stderr
    for stage in STAGES:
        assert f"{stage} skipped" in again.stdout
    assert (out / "tfjs" / "model.json").stat().st_mtime_ns == before
    fewer = run_cli(
        "run", "--data", ESC50_DIR, "--out", out, "--cache", cache, "--classes", CLASSES, "--folds", "1,2",
        "--quantize", "none", "--parity-clips", "1", "--no-edge-cases", "-r", "node-wasm", "-r", "chromium-wasm",
    )  # fmt: skip
    assert fewer.returncode == 0, fewer.stderr
    assert "train skipped" in fewer.stdout and "export skipped" in fewer.stdout
    assert "parity ran" in fewer.stdout and "site skipped" in fewer.stdout
    assert len(json.loads((out / "parity.json").read_text())["cases"]) == 1


def test_report_page_renders_with_images_and_links(first_run):
    from pipeline.js.browser import launch_chromium

    out, _, _ = first_run
    with launch_chromium() as browser:
        page = browser.new_page()
        page.goto((out / "report.html").as_uri())
        assert page.locator("h1").inner_text() == "Model report"
        images = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.alt, i.complete && i.naturalWidth])")
        assert len(images) == 2 and all(width > 100 for _, width in images), images
        headings = page.locator("h2").all_inner_texts()
        expected = ("Exported model", "Parity: Python vs JavaScript", "Folds", "Confusion matrix", "Training curves")
        assert set(expected) <= set(headings), headings
        assert any(h.startswith("Per class") for h in headings)
        assert page.locator("a.demo").get_attribute("href") == "site/index.html"
        assert "chromium-wasm" in page.locator("table").nth(1).inner_text()


def test_bad_data_is_one_line_error(tmp_path):
    proc = run_cli("run", "--data", tmp_path / "nope", "--out", tmp_path / "out")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "does not exist" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_what_a_stage_depends_on_is_derived_from_its_imports():
    from pipeline.run import stage_modules

    names = {p.name for p in stage_modules("train")}
    assert {"audio.py", "datasets.py", "embeddings.py", "model.py", "graph.py", "runner.py", "head.py"} <= names, names
    parity = {p.name for p in stage_modules("parity")}
    assert {"site.py", "predict.py", "audio.py", "node.py", "browser.py"} <= parity
    assert "parity.py" not in names and "head.py" not in parity


def test_editing_the_resampler_reruns_train(first_run, yamnet, monkeypatch):
    """audio.py decodes every clip the head is trained on: a change to it must retrain (it did not)."""
    from pipeline import run as run_module
    from pipeline.cli import _train_config
    from pipeline.datasets import load_dataset

    out, cache, _ = first_run
    dataset = load_dataset(ESC50_DIR).subset(classes=CLASSES.split(","))
    cfg = _train_config(0, None, False, "9-13", None, None, False, "1,2")  # what `run` built from the CLI defaults
    options = run_module.RunOptions(quantizations=(), parity_clips=2, parity_runtimes=("node-wasm", "chromium-wasm"),
                                    parity_edge_cases=False, until="train")  # fmt: skip
    same = run_module.run_pipeline(dataset, yamnet, out, cfg, cache, options)
    assert same.stages == {"train": "skipped"}
    real = run_module._source_bytes
    monkeypatch.setattr(
        run_module, "_source_bytes", lambda p: real(p) + (b"\n# edited" if p.name == "audio.py" else b"")
    )
    edited = run_module.run_pipeline(dataset, yamnet, out, cfg, cache, options)
    assert edited.stages == {"train": "ran"}


def test_outputs_get_the_permissions_the_umask_gives(first_run):
    """A static host must be able to serve the report (temp files are created 0600, folders 0700)."""
    import os
    import stat

    out, _, _ = first_run
    umask = os.umask(0)
    os.umask(umask)
    for rel in ("", "site", "tfjs", "saved_model", "report.html", "report.json", "parity.json", "run.json",
                "head.keras", "metadata.json", "site/index.html", "site/site.json", "tfjs/model.json"):  # fmt: skip
        path = out / rel
        expected = (0o777 if path.is_dir() else 0o666) & ~umask
        assert stat.S_IMODE(path.stat().st_mode) == expected, (rel, oct(path.stat().st_mode))


def test_background_folder_is_an_input_of_the_train_stage(first_run, tmp_path):
    """`run --background DIR`: the folder reaches `train` (report and head record it), a rerun with the same
    folder skips training, and a file added to it retrains."""
    import shutil

    from tests.conftest import esc50_clips_of

    _, cache, _ = first_run
    room = tmp_path / "room"
    room.mkdir()
    for clip in esc50_clips_of("keyboard_typing", 4, fold=1) + esc50_clips_of("vacuum_cleaner", 4, fold=2):
        shutil.copy(clip, room / clip.name)
    out = tmp_path / "exported" / "esc4-room"

    def run_train():
        proc = _run(out, cache, "--until", "train", "--background", room)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout + proc.stderr

    first = run_train()
    assert "train ran" in first and "(background): 8 files" in first
    report = json.loads((out / "report.json").read_text())
    # judged: the background files that fell into the tested folds (--folds 1,2 of ESC-50's five)
    assert report["background"]["clips"] == 8 and 0 < report["background"]["files"] < 8
    assert json.loads((out / "head.json").read_text())["background"]["clips"] == 8
    assert "train skipped" in run_train()
    shutil.copy(esc50_clips_of("footsteps", 1, fold=1)[0], room / "steps.flac")
    assert "train ran" in run_train()
    assert json.loads((out / "report.json").read_text())["background"]["clips"] == 9
