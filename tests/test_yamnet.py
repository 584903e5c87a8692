"""YAMNet loads from a local folder, gives Google's installation-check results and sane classes.

The shared copy is close to, not bit-exact with, Google's weights: assert classes and loose
tolerances, never exact scores.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.audio import load_audio
from pipeline.classify import classify_waveform
from pipeline.constants import EMBEDDING_DIM, NUM_MEL_BINS, NUM_YAMNET_CLASSES, SAMPLE_RATE, num_patches
from pipeline.errors import ModelLoadError
from pipeline.yamnet import load_yamnet, resolve_handle
from tests.conftest import ESC50_DIR, YAMNET_DIR


def _top(yamnet, wave: np.ndarray, k: int) -> list[str]:
    return [row["label"] for row in classify_waveform(yamnet, wave, k)["top"]]


def test_class_map_has_521_names_in_score_order(yamnet):
    assert len(yamnet.class_names) == NUM_YAMNET_CLASSES
    assert yamnet.class_names[0] == "Speech"
    assert yamnet.class_names[494] == "Silence"
    assert yamnet.class_names[514] == "White noise"


def test_silence_is_silence(yamnet):
    result = classify_waveform(yamnet, np.zeros(3 * SAMPLE_RATE, np.float32), k=1)
    assert result["top"][0]["index"] == 494
    assert result["top"][0]["score"] > 0.9


def test_white_noise_in_top10(yamnet):
    # YAMNet's own yamnet_test.py: uniform noise in [-1, 1] -> 'White noise' among the top 10.
    wave = np.random.default_rng(51773).uniform(-1.0, 1.0, 3 * SAMPLE_RATE).astype(np.float32)
    assert "White noise" in _top(yamnet, wave, 10)


def test_sine_wave_in_top10(yamnet):
    t = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
    wave = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    assert "Sine wave" in _top(yamnet, wave, 10)


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("1-32318-A-0", {"Dog", "Bark", "Bow-wow"}),
        ("1-56233-A-9", {"Crow", "Caw"}),
        ("1-115920-A-22", {"Clapping", "Applause", "Hands"}),
        ("1-24796-A-47", {"Aircraft", "Fixed-wing aircraft, airplane", "Aircraft engine"}),
        ("1-21421-A-46", {"Church bell", "Bell"}),
        ("1-76831-A-42", {"Siren", "Police car (siren)", "Emergency vehicle"}),
    ],
)
def test_esc50_clip_has_matching_class_in_top3(yamnet, stem, expected):
    top3 = _top(yamnet, load_audio(ESC50_DIR / "audio" / f"{stem}.flac"), 3)
    assert expected & set(top3), f"{stem}: top-3 {top3} has none of {sorted(expected)}"


@pytest.mark.parametrize("seconds", [0.1, 0.3, 0.975, 1.0, 2.0, 5.0, 10.0])
def test_patch_count_and_shapes_follow_hub(yamnet, seconds):
    n = round(seconds * SAMPLE_RATE)
    out = yamnet(np.zeros(n, np.float32))
    patches = num_patches(n)
    assert out.scores.shape == (patches, NUM_YAMNET_CLASSES)
    assert out.embeddings.shape == (patches, EMBEDDING_DIM)
    assert out.log_mel.shape == (96 + 48 * (patches - 1), NUM_MEL_BINS)


def test_short_clip_is_zero_padded_like_hub(yamnet):
    """A 0.3 s clip gives the same single patch as the clip zero-padded to 0.975 s by hand."""
    wave = load_audio(ESC50_DIR / "audio" / "1-56233-A-9.flac")[16000:20800]
    padded = np.pad(wave, (0, 15600 - len(wave)))
    short, manual = yamnet(wave), yamnet(padded)
    assert short.scores.shape == (1, NUM_YAMNET_CLASSES)
    np.testing.assert_allclose(short.embeddings, manual.embeddings, atol=1e-5)


def test_identity_is_stable_and_content_based(yamnet):
    assert len(yamnet.identity) == 64
    assert yamnet.identity == load_yamnet(str(YAMNET_DIR)).identity


def test_handle_resolution_order(monkeypatch):
    monkeypatch.setenv("YAMNET_MODEL", "/from/env")
    assert resolve_handle("/explicit") == "/explicit"
    assert resolve_handle(None) == "/from/env"
    monkeypatch.delenv("YAMNET_MODEL")
    assert resolve_handle(None) == "https://tfhub.dev/google/yamnet/1"


def test_missing_local_folder_says_how_to_fix(tmp_path):
    with pytest.raises(ModelLoadError, match=r"does not exist.*--yamnet"):
        load_yamnet(str(tmp_path / "nope"))
    with pytest.raises(ModelLoadError, match="not a SavedModel folder"):
        load_yamnet(str(tmp_path))


def test_unreachable_handle_says_offline_hint():
    # A closed port on loopback: fails at once, on- or offline, and never leaves the machine.
    with pytest.raises(ModelLoadError, match=r"could not download YAMNet from .*YAMNET_MODEL"):
        load_yamnet("https://127.0.0.1:9/google/yamnet/1")
