"""The embedding stage on Apache Beam (DirectRunner, two worker processes), real YAMNet, real ESC-50 clips.

One Beam job embeds 24 clips (240 patches: not a multiple of the 64-row network batch) listed in a JSON
Lines manifest, two of them through a non-local Beam filesystem, plus an unreadable, an empty and a missing
file and a bad manifest row. Checked: the entries are bit-identical to the local embedder's; the bad inputs
land in failures.jsonl, the job finishes; a rerun (through the CLI, on the data folder) computes nothing and
the local embedder finds everything cached; ``train`` on the Beam-filled cache writes the same report as on
the local cache for the same seed.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pipeline.beam import files
from pipeline.beam.job import embed_with_beam, pipeline_options
from pipeline.cli import app
from pipeline.datasets import load_dataset
from pipeline.embeddings import EmbeddingCache, embed_dataset
from pipeline.errors import BeamError, DatasetError
from pipeline.training import TrainConfig, train
from pipeline.yamnet.model import hash_saved_model
from tests.conftest import ESC50_DIR, REPO, YAMNET_DIR, esc50_rows
from tests.support import run_cli

CLASSES = ("dog", "rain", "crying_baby", "clock_tick")
WORKERS = ["direct_num_workers=2", "direct_running_mode=multi_processing"]


def _index(out: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(out.glob("index-*.jsonl")) for line in f.read_text().splitlines()]


@pytest.fixture(scope="module")
def data_set(tmp_path_factory) -> Path:
    """24 real clips (3 per class and fold, folds 1-2) as a folder-per-class set with a manifest of folds."""
    root = tmp_path_factory.mktemp("beam") / "set"
    rows = []
    for category in CLASSES:
        for fold in (1, 2):
            picked = [r for r in esc50_rows() if r["category"] == category and r["fold"] == str(fold)][:3]
            for row in picked:
                source = ESC50_DIR / "audio" / (Path(row["filename"]).stem + ".flac")
                (root / category).mkdir(parents=True, exist_ok=True)
                shutil.copy(source, root / category / source.name)
                rows.append((f"{category}/{source.name}", category, fold))
    with open(root / "manifest.csv", "w", newline="") as f:
        csv.writer(f).writerows([("path", "label", "fold"), *rows])
    return root


@pytest.fixture(scope="module")
def beam_job(data_set, monkeypatch_module):
    """The one Beam job of this module: a JSON Lines manifest with good clips, two via mirror://, bad files."""
    work = data_set.parent
    bad = work / "bad"
    bad.mkdir()
    (bad / "corrupt.wav").write_bytes(b"RIFF" + bytes(range(256)) * 8)
    (bad / "empty.flac").write_bytes(b"")
    clips = load_dataset(data_set).clips
    lines = [{"path": str(c.path), "label": c.label, "fold": c.fold} for c in clips]
    for line in lines[:2]:
        line["path"] = "mirror://" + line["path"]
    lines += [
        {"path": "bad/corrupt.wav", "label": "dog"},  # relative: from the manifest's folder
        {"path": "bad/empty.flac", "label": "dog"},
        {"path": "bad/missing.wav", "label": "dog"},
        {"path": "bad/x.wav", "label": ""},
    ]
    manifest = work / "clips.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    monkeypatch_module.setenv("PYTHONPATH", str(REPO))  # the workers import tests.beamfs (mirror://)
    messages: list[str] = []
    result = embed_with_beam(
        str(manifest),
        "direct",
        cache_dir=str(work / "beam-cache"),
        out=str(work / "run1"),
        yamnet=str(YAMNET_DIR),
        options=[*WORKERS, "beam_plugins=tests.beamfs"],
        on_message=messages.append,
    )
    return result, messages


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def local_run(data_set, yamnet):
    """The local embedder on the same clips, into its own cache."""
    return embed_dataset(load_dataset(data_set), yamnet, cache_dir=data_set.parent / "local-cache")


def test_beam_entries_are_bit_identical_to_the_local_embedder(beam_job, local_run, yamnet, data_set):
    result, messages = beam_job
    stats = result.stats
    assert stats.computed == 24 and stats.cached == 0 and stats.patches == 240 == local_run.stats.patches
    assert result.yamnet_identity == yamnet.identity
    assert any("clips listed by the workers" in m for m in messages)
    if result.metrics:  # DirectRunner reports the workers' counters
        assert result.metrics["patches"] == 240 and result.metrics["network_calls"] >= 4
    beam_cache = EmbeddingCache(Path(result.cache_dir), yamnet.identity)
    for digest, features in zip(local_run.digests, local_run.outputs, strict=True):
        entry = beam_cache.get(digest)
        assert entry is not None and set(entry) == set(features)
        for name, value in features.items():
            assert np.array_equal(entry[name], value), name  # the same bits, not just close
    assert not [p for p in beam_cache.root.rglob("*") if p.name.startswith(".")]  # no temp files left
    by_digest = {row["digest"]: row for row in _index(Path(result.out))}
    assert set(by_digest) == set(local_run.digests)
    for path, digest in zip(local_run.paths, local_run.digests, strict=True):
        row = by_digest[digest]
        assert row["path"].endswith(str(path)) and row["status"] == "computed" and row["patches"] == 10
        assert row["label"] == path.parent.name and row["fold"] in (1, 2)
    job = json.loads((Path(result.out) / "beam-job.json").read_text())
    assert job["computed"] == 24 and job["failed"] == 4 and job["yamnet_identity"] == yamnet.identity


def test_bad_inputs_land_in_failures_and_the_job_finishes(beam_job):
    result, _ = beam_job
    lines = [json.loads(x) for x in (Path(result.out) / "failures.jsonl").read_text().splitlines()]
    assert result.stats.failed == 4 and sorted(result.failures, key=str) == sorted(lines, key=str)
    by_name = {Path(f["path"]).name: f for f in lines}
    assert set(by_name) == {"corrupt.wav", "empty.flac", "missing.wav", "clips.jsonl"}
    assert "not a readable audio file" in by_name["corrupt.wav"]["error"]
    assert by_name["empty.flac"]["error"] == "file is empty (0 bytes)"
    assert by_name["missing.wav"]["error"] == "file not found"
    assert by_name["clips.jsonl"]["stage"] == "manifest" and "empty path or label" in by_name["clips.jsonl"]["error"]


def test_rerun_computes_nothing(beam_job, data_set, yamnet):
    result, _ = beam_job
    proc = run_cli(
        "embed", "--data", data_set, "--runner", "direct", "--cache", result.cache_dir,
        "--out", data_set.parent / "run2", "--yamnet", YAMNET_DIR,
        *[arg for option in WORKERS for arg in ("--beam-option", option)],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "24 clips (24 cached, 0 computed, 0 failed)" in proc.stderr
    assert "Traceback" not in proc.stderr
    index = _index(data_set.parent / "run2")
    assert len(index) == 24 and {row["status"] for row in index} == {"cached"}
    local = embed_dataset(load_dataset(data_set), yamnet, cache_dir=Path(result.cache_dir))
    assert local.stats.cached == 24 and local.stats.computed == 0 and local.stats.network_calls == 0


def test_train_on_the_beam_cache_gives_the_local_report(beam_job, local_run, data_set, yamnet, tmp_path):
    result, _ = beam_job
    dataset = load_dataset(data_set)
    cfg = TrainConfig(features=("embeddings", "layer13"), ensemble=1, max_epochs=10, patience=3, seed=5, folds=[1])
    from_beam = train(dataset, yamnet, tmp_path / "beam", cfg, cache_dir=Path(result.cache_dir))
    from_local = train(dataset, yamnet, tmp_path / "local", cfg, cache_dir=data_set.parent / "local-cache")
    assert from_beam.report["cv"] == from_local.report["cv"]
    assert from_beam.report["cv"]["folds"] == [1] and from_beam.report["dataset"]["clips"] == 24
    heads = [json.loads((out / "head.json").read_text()) for out in (tmp_path / "beam", tmp_path / "local")]
    assert heads[0]["inputs_hash"] == heads[1]["inputs_hash"]
    assert heads[0]["weights_sha256"] == heads[1]["weights_sha256"]


def test_model_identity_and_options(yamnet, tmp_path):
    assert hash_saved_model(str(YAMNET_DIR), files.BeamFolder(str(YAMNET_DIR))) == yamnet.identity
    (tmp_path / "index-00000-of-00001.jsonl").write_text("{}\n")
    with pytest.raises(BeamError, match="already holds the index of a Beam job"):
        embed_with_beam(str(tmp_path), "direct", out=str(tmp_path), yamnet=str(YAMNET_DIR))
    with pytest.raises(DatasetError, match="does not exist or is not a data set"):
        embed_with_beam(str(tmp_path / "nothing.csv"), "direct", out=str(tmp_path / "o"), yamnet=str(YAMNET_DIR))
    options = pipeline_options("direct").get_all_options()
    assert options["direct_running_mode"] == "multi_processing" and options["direct_num_workers"] >= 1
    with pytest.raises(BeamError, match="did you mean 'direct_num_workers'"):
        pipeline_options("direct", ["direct_num_wrkers=2"])
    with pytest.raises(BeamError, match="unknown runner 'sparkle'"):
        pipeline_options("sparkle")


def test_cli_errors_are_one_line(monkeypatch, tmp_path):
    import importlib.util

    runner = CliRunner()
    out = runner.invoke(app, ["embed", "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    assert out.exit_code == 1 and "add --runner direct" in out.output
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "apache_beam" else real(name, *a))
    out = runner.invoke(app, ["embed", "--data", str(tmp_path), "--runner", "direct"])
    assert out.exit_code == 1 and "pip install 'yamnet-tfjs[beam]'" in out.output
    assert len(out.output.strip().splitlines()) == 1
