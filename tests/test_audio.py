"""Audio loading: formats, resampling quality, memory, and one clear line for every bad input."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from pipeline.audio import load_audio
from pipeline.constants import SAMPLE_RATE
from pipeline.errors import AudioError
from tests.support import dominant_frequency, make_bad_files, rms, tone, write


@pytest.mark.parametrize(
    ("name", "subtype"),
    [
        ("pcm8.wav", "PCM_U8"),
        ("pcm16.wav", "PCM_16"),
        ("pcm24.wav", "PCM_24"),
        ("pcm32.wav", "PCM_32"),
        ("float.wav", "FLOAT"),
        ("double.wav", "DOUBLE"),
        ("clip.flac", None),
        ("clip.ogg", None),
        ("clip.mp3", None),
    ],
)
def test_every_format_gives_16k_mono_float32(tmp_path, name, subtype):
    path = write(tmp_path / name, tone(1000, 22050, 1.0, amplitude=0.5, channels=2), 22050, subtype)
    wave = load_audio(path)
    assert wave.dtype == np.float32 and wave.ndim == 1
    # MP3 encoders add up to ~1 frame of padding; everything else keeps the exact duration.
    assert abs(len(wave) - SAMPLE_RATE) <= (1200 if name.endswith(".mp3") else 1)
    assert dominant_frequency(wave, SAMPLE_RATE) == pytest.approx(1000, abs=2)
    tolerance = 0.05 if subtype == "PCM_U8" or name.endswith((".ogg", ".mp3")) else 0.01
    assert rms(wave[2000:-2000]) == pytest.approx(0.5 / np.sqrt(2), rel=tolerance)
    assert np.abs(wave).max() <= 1.0


def test_44k_stereo_sine_keeps_frequency_and_level(tmp_path):
    path = write(tmp_path / "a.wav", tone(440, 44100, 3.0, amplitude=0.5, channels=2), 44100, "PCM_16")
    wave = load_audio(path)
    assert len(wave) == 3 * SAMPLE_RATE
    assert dominant_frequency(wave, SAMPLE_RATE) == pytest.approx(440, abs=1)
    assert rms(wave[1000:-1000]) == pytest.approx(0.5 / np.sqrt(2), rel=1e-3)


def test_stereo_is_averaged_not_summed(tmp_path):
    left = tone(440, 16000, 1.0, amplitude=0.8)
    path = write(tmp_path / "lr.wav", np.stack([left, np.zeros_like(left)], axis=1), 16000, "FLOAT")
    np.testing.assert_allclose(load_audio(path), 0.5 * left, atol=1e-6)


def test_11k_tone_at_44k_does_not_alias(tmp_path):
    """11 kHz is above the 8 kHz output Nyquist: a naive resampler folds it to 5 kHz; soxr removes it."""
    path = write(tmp_path / "hi.wav", tone(11000, 44100, 2.0, amplitude=0.9), 44100, "FLOAT")
    wave = load_audio(path)
    level_db = 20 * np.log10(rms(wave[1000:-1000]) / (0.9 / np.sqrt(2)) + 1e-12)
    assert level_db < -60, f"11 kHz leaked through at {level_db:.1f} dB"


def test_8k_input_is_upsampled(tmp_path):
    path = write(tmp_path / "lo.flac", tone(1000, 8000, 2.0, amplitude=0.5), 8000)
    wave = load_audio(path)
    assert len(wave) == 2 * SAMPLE_RATE
    assert dominant_frequency(wave, SAMPLE_RATE) == pytest.approx(1000, abs=1)
    assert rms(wave[1000:-1000]) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_16k_input_passes_through_unchanged(tmp_path):
    data = np.random.default_rng(0).uniform(-0.5, 0.5, 20000).astype(np.float32)
    path = write(tmp_path / "same.wav", data, 16000, "FLOAT")
    np.testing.assert_array_equal(load_audio(path), data)


def test_long_file_is_streamed_not_held_twice(tmp_path):
    """5 min of 48 kHz stereo (55 MB of int16): peak Python memory stays near the 19 MB result."""
    rate, seconds = 48000, 300
    path = tmp_path / "long.wav"
    with sf.SoundFile(str(path), "w", rate, 2, "PCM_16") as f:
        block = tone(440, rate, 10.0, amplitude=0.3, channels=2)
        for _ in range(seconds // 10):
            f.write(block)
    tracemalloc.start()
    wave = load_audio(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(wave) == seconds * SAMPLE_RATE
    assert peak < 1.5 * wave.nbytes, f"peak {peak / 1e6:.0f} MB for a {wave.nbytes / 1e6:.0f} MB result"


@pytest.mark.parametrize(
    "kind",
    [
        "missing",
        "folder",
        "empty",
        "not audio",
        "zero samples",
        "truncated wav",
        "truncated flac",
        "nan",
        "inf",
        "unsupported container",
        "unsupported codec",
        "mp3 tag only",
        "fifo",
        "device",
    ],
)
def test_bad_input_raises_one_line_naming_the_file(tmp_path, kind):
    path, phrase = make_bad_files(tmp_path)[kind]
    with pytest.raises(AudioError) as info:
        load_audio(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert phrase in message
    assert "\n" not in message
