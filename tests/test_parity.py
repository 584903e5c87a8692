"""Parity: Python SavedModel vs TF.js in Node (cpu, wasm) and headless Chromium (cpu, wasm, webgl).

Firefox and WebKit, which parity runs only when asked, are tested in tests/test_engines.py.

Real export (YAMNet + a small head trained on real embeddings), real ESC-50 clips, real Node and a
real Chromium; the JS side runs web_demo/src/model.js, the module the demo page uses.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.js.runtimes import DEFAULT_RUNTIMES, RUNTIMES
from pipeline.layout import OUTPUTS, VARIANTS
from pipeline.parity import QUICK_CLIPS, Case, ParityError, case_plan, run_parity
from tests.conftest import ESC50_DIR
from tests.support import run_cli

BOUNDS = {name: v.bounds for name, v in VARIANTS.items()}


@pytest.fixture(scope="module")
def report(classifier_export) -> dict:
    """Float32 parity on every default runtime (no selection), 3 real clips, every runtime on every clip
    (``--full``); Firefox and WebKit are in tests/test_engines.py."""
    return run_parity(classifier_export, n_clips=3, data=ESC50_DIR, edge=False, full=True)


@pytest.fixture(scope="module")
def edge_report(classifier_export) -> dict:
    """The edge cases too (incl. 30 s), by default: wasm runs them all, the slow webgl only the short ones."""
    return run_parity(classifier_export, n_clips=1, runtimes=("node-wasm", "chromium-webgl"), data=ESC50_DIR)


def test_every_runtime_runs_on_the_backend_it_asked_for(report):
    results = report["variants"]["float32"]
    assert list(results) == list(DEFAULT_RUNTIMES)
    for runtime, result in results.items():
        assert result.get("backend") == runtime.split("-")[1], (runtime, result.get("failures"))
    assert (
        "SwiftShader" in (results["chromium-webgl"]["info"]["webgl_renderer"] or "")
        or results["chromium-webgl"]["info"]["webgl_renderer"]
    )


@pytest.mark.parametrize("which", ["report", "edge_report"])
def test_float32_outputs_within_the_bounds(which, request):
    report = request.getfixturevalue(which)
    assert report["ok"], [r["failures"] for r in report["variants"]["float32"].values()]
    real = sum(case["kind"] == "clip" for case in report["cases"])
    for runtime, result in report["variants"]["float32"].items():
        for name in OUTPUTS:
            for kind, measured in result["outputs"][name].items():
                assert measured["max"] <= BOUNDS["float32"][kind][name], (runtime, name, kind, measured)
                assert 0 <= measured["mean"] <= measured["max"]
        ran = sum(name in result.get("cases", [c["name"] for c in report["cases"]]) for name in real_names(report))
        assert result["top1"]["clip_scores"] == {"agree": ran, "total": ran, "rate": 1.0}
        assert ran == real or (not report["full"] and ran == min(real, QUICK_CLIPS))
        assert result["top1"]["yamnet"]["rate"] == 1.0
        assert result["ms_per_audio_second"] > 0


def real_names(report: dict) -> list[str]:
    return [case["name"] for case in report["cases"] if case["kind"] == "clip"]


def test_slow_backends_check_fewer_shorter_cases_unless_full(edge_report):
    """Default parity: wasm on every waveform, webgl (software-rendered here) on two clips at most and the
    short edge cases; a quick run is never recorded over a full one."""
    results = edge_report["variants"]["float32"]
    assert edge_report["full"] is False and "cases" not in results["node-wasm"]
    assert results["chromium-webgl"]["cases"] == [real_names(edge_report)[0], "silence-3s", "short-0.5s",
                                                  "clipped-square-3s"]  # fmt: skip
    assert set(results["chromium-webgl"]["ms_per_case"]) == set(results["chromium-webgl"]["cases"])
    specs = [("a", "clip", 5), ("b", "clip", 5), ("c", "clip", 5), ("silence-3s", "synthetic", 3),
             ("long-30s", "clip", 30), ("white-noise-3s", "synthetic", 3), ("short-0.5s", "synthetic", 1)]  # fmt: skip
    cases = [Case(name, kind, np.zeros(16000 * seconds), "") for name, kind, seconds in specs]
    cpu, wasm = RUNTIMES["node-cpu"], RUNTIMES["node-wasm"]
    assert case_plan(cpu, 0, cases, full=False) == [0, 1, 3, 6]
    assert case_plan(cpu, 1, cases, full=False) == [3, 6]
    assert case_plan(cpu, 1, cases, full=True) == case_plan(wasm, 1, cases, full=False) == list(range(7))


def test_cases_are_real_clips_and_the_edge_cases(report, edge_report):
    assert [case["kind"] for case in report["cases"]] == ["clip"] * 3
    assert all(case["source"].split(": ")[1].endswith(".flac") for case in report["cases"])
    names = [case["name"] for case in edge_report["cases"]]
    assert names[1:] == ["silence-3s", "short-0.5s", "long-30s", "white-noise-3s", "clipped-square-3s"]
    seconds = {case["name"]: case["seconds"] for case in edge_report["cases"]}
    assert seconds["short-0.5s"] == 0.5 and seconds["long-30s"] == 30.0
    synthetic = edge_report["variants"]["float32"]["node-wasm"]["outputs"]["log_mel"]["synthetic"]
    assert synthetic["max"] <= BOUNDS["float32"]["synthetic"]["log_mel"]


def test_parity_json_is_written(classifier_export):
    report = run_parity(classifier_export, n_clips=1, runtimes=["node-wasm"], data=ESC50_DIR, edge=False)
    on_disk = json.loads((classifier_export / "parity.json").read_text())
    assert on_disk["ok"] is True
    assert on_disk["variants"]["float32"]["node-wasm"]["outputs"]["log_mel"]["clip"]["max"] == pytest.approx(
        report["variants"]["float32"]["node-wasm"]["outputs"]["log_mel"]["clip"]["max"]
    )


def test_quantized_variants_have_their_own_bounds_via_cli(classifier_export):
    proc = run_cli(
        "parity", classifier_export, "--clips", "2", "--no-edge-cases", "-r", "node-wasm",
        "-q", "float16", "-q", "uint8", "--data", ESC50_DIR,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "node-wasm" in proc.stdout and "float16" in proc.stdout and "uint8" in proc.stdout
    # A fuller parity.json may already be there (other tests): a narrower run then goes beside it.
    written = next(line.split("wrote ", 1)[1].split()[0] for line in proc.stderr.splitlines() if "wrote " in line)
    saved = json.loads(Path(written).read_text())
    uint8 = saved["variants"]["uint8"]["node-wasm"]["outputs"]
    float16 = saved["variants"]["float16"]["node-wasm"]["outputs"]
    # Quantization moves the network's outputs, never the front end (log_mel stays float32-exact).
    assert uint8["embeddings"]["clip"]["max"] > float16["embeddings"]["clip"]["max"] > 1e-4
    assert uint8["log_mel"]["clip"]["max"] <= 1e-3 and float16["log_mel"]["clip"]["max"] <= 1e-3


def test_a_wrong_model_breaks_the_bounds_and_exits_nonzero(classifier_export, tmp_path):
    """Serve uint8 weights as if they were the float32 model: parity must notice and fail."""
    impostor = tmp_path / "impostor"
    shutil.copytree(classifier_export, impostor)
    shutil.rmtree(impostor / "tfjs")
    shutil.copytree(classifier_export / "tfjs-uint8", impostor / "tfjs")
    proc = run_cli("parity", impostor, "--clips", "2", "--no-edge-cases", "-r", "node-wasm", "--data", ESC50_DIR)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "bound" in proc.stderr and "embeddings" in proc.stderr
    assert json.loads((impostor / "parity.json").read_text())["ok"] is False


def test_bad_requests_are_one_line_errors(classifier_export, tmp_path):
    with pytest.raises(ParityError, match="unknown runtime"):
        run_parity(classifier_export, runtimes=["node-gpu"], data=ESC50_DIR)
    with pytest.raises(ParityError, match="pass --data"):
        run_parity(classifier_export, n_clips=1)  # the fixture's report.json names no data set
    proc = run_cli("parity", tmp_path / "nothing-here", "--data", ESC50_DIR)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr


def _copy(classifier_export, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(classifier_export, copy, ignore=shutil.ignore_patterns("parity*.json", "site"))
    return copy


def test_another_models_json_or_wrong_labels_are_named_before_running(classifier_export, tmp_path):
    copy = _copy(classifier_export, tmp_path)
    shutil.copy(copy / "tfjs-float16" / "model.json", copy / "tfjs" / "model.json")
    with pytest.raises(ParityError, match=r"tfjs/model.json: differs .* from another model"):
        run_parity(copy, n_clips=1, runtimes=["node-wasm"], data=ESC50_DIR)
    shutil.copy(classifier_export / "tfjs" / "model.json", copy / "tfjs" / "model.json")
    metadata = json.loads((copy / "tfjs" / "metadata.json").read_text())
    metadata["labels"].append("extra")
    (copy / "tfjs" / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ParityError, match="5 labels but the model's clip_scores has 4 values"):
        run_parity(copy, n_clips=1, runtimes=["node-wasm"], data=ESC50_DIR)


def test_missing_variant_hint_is_a_command_that_works(classifier_export, tmp_path):
    copy = _copy(classifier_export, tmp_path)
    shutil.rmtree(copy / "tfjs-uint8")
    with pytest.raises(ParityError, match=rf"run `yamnet-tfjs export {copy} --quantize uint8`"):
        run_parity(copy, quantizations=["uint8"], data=ESC50_DIR)
    shutil.rmtree(copy / "tfjs")
    with pytest.raises(ParityError) as info:
        run_parity(copy, data=ESC50_DIR)
    assert f"run `yamnet-tfjs export {copy}`" in str(info.value) and "float32" not in str(info.value)


def test_a_quick_run_never_overwrites_the_fuller_record(classifier_export, tmp_path):
    copy = _copy(classifier_export, tmp_path)
    full = run_parity(copy, n_clips=2, runtimes=["node-wasm"], data=ESC50_DIR, edge=False, keep_complete=True)
    assert full["written_to"] == str(copy / "parity.json")
    recorded = (copy / "parity.json").read_text()
    proc = run_cli("parity", copy, "-r", "node-wasm", "-n", "1", "--no-edge-cases", "--data", ESC50_DIR)
    assert proc.returncode == 0, proc.stderr
    assert "parity-partial.json" in proc.stderr and "kept" in proc.stderr
    assert (copy / "parity.json").read_text() == recorded
    assert len(json.loads((copy / "parity-partial.json").read_text())["cases"]) == 1


def test_parity_runs_from_another_folder_on_the_data_report_json_names(classifier_export, tmp_path, monkeypatch):
    copy = _copy(classifier_export, tmp_path)
    report = json.loads((copy / "report.json").read_text())
    report["dataset"] = {"root": str(ESC50_DIR.resolve())}  # as `train` now records it: absolute
    (copy / "report.json").write_text(json.dumps(report))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    exe = Path(sys.executable).with_name("yamnet-tfjs")
    proc = subprocess.run(
        [str(exe), "parity", str(copy), "-r", "node-wasm", "-n", "1", "--no-edge-cases"],
        cwd=elsewhere, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report["dataset"] = {"root": "../shared/datasets/esc50"}  # a 0.1.0 report: relative to where train ran
    (copy / "report.json").write_text(json.dumps(report))
    monkeypatch.chdir(elsewhere)
    with pytest.raises(ParityError, match="pass --data"):
        run_parity(copy, n_clips=1, runtimes=["node-wasm"])
