"""Write small test signals to audio files (the formats libsndfile writes), for audio I/O tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def tone(freq: float, rate: int, seconds: float, amplitude: float = 0.5, channels: int = 1) -> np.ndarray:
    """A sine of ``freq`` Hz sampled at ``rate``; ``channels`` identical columns when > 1."""
    t = np.arange(round(rate * seconds)) / rate
    x = amplitude * np.sin(2 * np.pi * freq * t)
    return x if channels == 1 else np.repeat(x[:, None], channels, axis=1)


def write(path: Path, data: np.ndarray, rate: int, subtype: str | None = None) -> Path:
    """Write ``data`` to ``path`` (format from the extension) and return the path."""
    sf.write(str(path), data, rate, subtype=subtype)
    return path


def dominant_frequency(wave: np.ndarray, rate: int) -> float:
    """Frequency of the largest FFT bin (Hann-windowed), in Hz."""
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return float(np.argmax(spectrum) * rate / len(wave))


def rms(wave: np.ndarray) -> float:
    """Root-mean-square level."""
    return float(np.sqrt(np.mean(np.square(wave, dtype=np.float64))))
