"""Shared fixtures: the real YAMNet and real ESC-50 clips from ``../shared`` (never mocks).

``YAMNET_TFJS_SHARED`` overrides where ``shared/`` is; by default it sits beside the repository.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YAMNET_TFJS_SHARED", REPO.parent / "shared")).resolve()
YAMNET_DIR = SHARED / "models" / "yamnet"
ESC50_DIR = SHARED / "datasets" / "esc50"


def esc50_rows() -> list[dict[str, str]]:
    """ESC-50's metadata rows (filename, fold, target, category, ...)."""
    with open(ESC50_DIR / "meta" / "esc50.csv", newline="") as f:
        return list(csv.DictReader(f))


def esc50_clip(filename: str) -> Path:
    """Path of an ESC-50 clip in the shared 16 kHz FLAC copy, from its ``esc50.csv`` filename."""
    return ESC50_DIR / "audio" / (Path(filename).stem + ".flac")


def esc50_clips_of(category: str, n: int = 1, fold: int | None = None) -> list[Path]:
    """The first ``n`` clips of an ESC-50 category (optionally from one fold), in metadata order."""
    rows = [r for r in esc50_rows() if r["category"] == category and (fold is None or int(r["fold"]) == fold)]
    return [esc50_clip(r["filename"]) for r in rows[:n]]


CLIP_CATEGORIES = ("dog", "rain", "church_bells", "keyboard_typing", "siren", "crying_baby")
"""Varied real sounds: barks, broadband noise, tonal bells, clicks, a sweep, a voice."""


@pytest.fixture(scope="session")
def clips() -> list:
    """The first ESC-50 clip of each of :data:`CLIP_CATEGORIES`, decoded to 16 kHz float32."""
    from pipeline.audio import load_audio

    return [load_audio(esc50_clips_of(cat, 1)[0]) for cat in CLIP_CATEGORIES]


@pytest.fixture(scope="session", autouse=True)
def _shared_present() -> None:
    if not (YAMNET_DIR / "saved_model.pb").is_file() or not (ESC50_DIR / "meta" / "esc50.csv").is_file():
        pytest.exit(f"tests need the shared YAMNet and ESC-50 at {SHARED} (set YAMNET_TFJS_SHARED)", returncode=2)


@pytest.fixture(scope="session", autouse=True)
def _offline_yamnet_env() -> None:
    """Point YAMNET_MODEL at the shared copy so CLI subprocesses never try the network."""
    os.environ["YAMNET_MODEL"] = str(YAMNET_DIR)


@pytest.fixture(scope="session")
def yamnet():
    """The real YAMNet from ../shared, loaded once per session."""
    from pipeline.yamnet import load_yamnet

    return load_yamnet(str(YAMNET_DIR))


@pytest.fixture(scope="session")
def classifier_export(yamnet, tmp_path_factory) -> Path:
    """One real export per test session, shared by every module that needs an exported model.

    A real head of the default architecture and features (the embedding and pooled blocks 9-13;
    tests/helpers_head.py) trained on real ESC-50 clips, exported by the real pipeline:
    saved_model/, tfjs/, tfjs-float16/, tfjs-uint8/, metadata.json. Converting costs ~25 s of CPU per
    variant, so it is built once.
    """
    from pipeline.constants import DEFAULT_FEATURES
    from pipeline.export import export_model
    from tests.support import write_head

    model_dir = tmp_path_factory.getbasetemp() / "exports" / "classifier"
    write_head(model_dir, yamnet, DEFAULT_FEATURES, product=True)
    export_model(model_dir, yamnet)
    return model_dir


@pytest.fixture(scope="session")
def exported(classifier_export):
    """The shared export's SavedModel, loaded for Python-side predictions."""
    from pipeline.predict import load_exported

    return load_exported(classifier_export)


SLICE_CLASSES = ["dog", "rain", "crying_baby", "clock_tick"]
"""The training tests' slice: 4 well-separated ESC-50 classes, folds 1-2 (64 clips)."""

QUICK_TRAIN = {"max_epochs": 15, "patience": 4}
"""TrainConfig overrides that keep the training tests quick."""


@pytest.fixture(scope="session")
def slice_set():
    """The training tests' data set (test_train, test_finetune)."""
    from pipeline.datasets import load_dataset

    return load_dataset(ESC50_DIR).subset(classes=SLICE_CLASSES, folds=[1, 2])


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    """One embedding cache for the training tests: the slice is embedded once per session."""
    return tmp_path_factory.mktemp("cache")
