"""`yamnet-tfjs classify` end to end, as a user runs it: real CLI process, real YAMNet, real clips."""

from __future__ import annotations

import json

from tests.conftest import ESC50_DIR, YAMNET_DIR
from tests.support import make_bad_files, run_cli

CROW = ESC50_DIR / "audio" / "1-56233-A-9.flac"
SIREN = ESC50_DIR / "audio" / "1-76831-A-42.flac"


def test_json_output_shape_and_classes():
    proc = run_cli("classify", CROW, SIREN, "--json", "--top-k", "3", "--yamnet", YAMNET_DIR)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert [r["file"] for r in results] == [str(CROW), str(SIREN)]
    for result in results:
        assert len(result["top"]) == 3
        assert set(result["top"][0]) == {"index", "label", "score"}
        scores = [row["score"] for row in result["top"]]
        assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1
        assert "timeline" not in result
    assert "Crow" in {row["label"] for row in results[0]["top"]}
    assert "Siren" in {row["label"] for row in results[1]["top"]}


def test_timeline_lists_every_patch_with_start_times():
    proc = run_cli("classify", CROW, "--json", "--timeline")  # model from $YAMNET_MODEL (conftest)
    assert proc.returncode == 0, proc.stderr
    timeline = json.loads(proc.stdout)[0]["timeline"]
    assert [row["start"] for row in timeline] == [round(0.48 * n, 2) for n in range(10)]
    assert {row["label"] for row in timeline} <= {"Crow", "Caw", "Animal", "Bird", "Wild animals"}
    assert any(row["label"] == "Crow" for row in timeline)
    assert all(0.5 < row["score"] <= 1 for row in timeline)


def test_human_output_is_readable():
    proc = run_cli("classify", CROW, "-k", "2")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(str(CROW)) and "(5.00 s)" in lines[0]
    assert lines[1].strip().startswith("1. ") and len(lines) == 3


def test_bad_files_are_reported_by_name_and_the_rest_still_run(tmp_path):
    bad = make_bad_files(tmp_path)
    proc = run_cli("classify", CROW, *[path for path, _ in bad.values()], "--json")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    results = json.loads(proc.stdout)
    # One JSON entry per file, in order: the good one with its classes, each bad one with its error.
    assert [r["file"] for r in results] == [str(CROW), *(str(path) for path, _ in bad.values())]
    assert "top" in results[0] and "error" not in results[0]
    for entry, (_, phrase) in zip(results[1:], bad.values(), strict=True):
        assert set(entry) == {"file", "error"} and phrase in entry["error"], entry
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == len(bad)
    for path, phrase in bad.values():
        assert any(str(path) in line and phrase in line for line in error_lines), (path, phrase)


def test_unreachable_model_is_one_line_with_the_fix():
    proc = run_cli("classify", CROW, "--yamnet", "https://127.0.0.1:9/google/yamnet/1")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "could not download YAMNet" in proc.stderr and "--yamnet" in proc.stderr


def test_help_explains_itself():
    proc = run_cli("classify", "--help")
    assert proc.returncode == 0
    for option in ("--top-k", "--json", "--timeline", "--yamnet"):
        assert option in proc.stdout


def test_paths_with_brackets_are_printed_literally(tmp_path):
    """File names are not Rich markup: '[take 1]' and '[/x]' must come out as typed, without a crash."""
    clip = tmp_path / "crow [take 1].flac"
    clip.write_bytes(CROW.read_bytes())
    missing = tmp_path / "[/x].wav"
    proc = run_cli("classify", clip, missing, "-k", "1")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stdout.startswith(f"{clip} (5.00 s)")
    assert f"error: {missing}: file not found" in proc.stderr
