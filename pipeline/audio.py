"""Audio I/O: any file libsndfile reads -> float32 mono 16 kHz waveform in [-1, 1].

Decoding is streamed in blocks (mix to mono, then resample with soxr's anti-aliased streaming
resampler), so a one-hour 48 kHz stereo file never holds more than its 16 kHz mono result plus a
block in memory. Every failure a user can cause becomes an :class:`~pipeline.errors.AudioError`
with one line naming the file and the problem.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .constants import AUDIO_EXTENSIONS, SAMPLE_RATE
from .errors import AudioError

BLOCK_FRAMES = 1 << 16
"""Frames decoded per block: large enough to amortise Python overhead, small enough for memory."""

RESAMPLE_QUALITY = "HQ"
"""soxr 'HQ': 20-bit precision, steep low-pass at ~0.91 of the output Nyquist (no aliasing)."""


_NOT_A_FILE = {
    stat.S_IFIFO: "is a named pipe (FIFO), not an audio file; save the stream to a file first",
    stat.S_IFCHR: "is a device, not an audio file",
    stat.S_IFBLK: "is a device, not an audio file",
    stat.S_IFSOCK: "is a socket, not an audio file",
}


def _open(path: Path) -> sf.SoundFile:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise AudioError(path, "file not found") from None
    except OSError as err:
        raise AudioError(path, f"cannot be read ({err.strerror or err})") from None
    if stat.S_ISDIR(mode):
        raise AudioError(path, "is a folder, not an audio file")
    if not stat.S_ISREG(mode):  # reading a FIFO or /dev/zero would block or never end
        raise AudioError(path, _NOT_A_FILE.get(stat.S_IFMT(mode), "is not a regular file"))
    if path.stat().st_size == 0:
        raise AudioError(path, "file is empty (0 bytes)")
    try:
        return sf.SoundFile(str(path))
    except sf.LibsndfileError as err:
        suffix = path.suffix.lower()
        if suffix and suffix not in AUDIO_EXTENSIONS:
            raise AudioError(
                path,
                f"unsupported audio format '{suffix}' (readable: WAV, FLAC, OGG/Opus, MP3, AIFF); "
                f"convert it first, e.g. ffmpeg -i '{path.name}' '{path.stem}.wav'",
            ) from None
        raise AudioError(path, f"not a readable audio file ({_describe(err)})") from None
    except (OSError, RuntimeError, TypeError, ValueError) as err:
        raise AudioError(path, f"not a readable audio file ({err})") from None


_TRUNCATED_DATA = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
"""libsndfile's log line for a WAV/AIFF whose data chunk is shorter than its header says."""


def _describe(err: Exception) -> str:
    text = str(getattr(err, "error_string", "") or err).strip()
    if "Format not recognised" in text or "unknown format" in text.lower():
        return "format not recognised or unsupported"
    if "possibly a pipe" in text:  # libsndfile's words when an MP3 has no decodable frame (e.g. only an ID3 tag)
        return "no decodable audio in it: an MP3 holding only a tag or no valid frame, or a damaged file"
    return text.rstrip(".") or "unknown decoding error"


def load_audio(path: str | os.PathLike[str], target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode ``path`` to a float32 mono waveform at ``target_rate`` Hz, values in [-1, 1].

    Channels are averaged (not summed) so that mono stays at its level. Integer formats come out of
    libsndfile already scaled to [-1, 1); float files may exceed it and are clipped, because
    YAMNet's front end assumes that range. Clips shorter than one YAMNet patch are returned as they
    are: the model zero-pads them exactly as TF Hub YAMNet does.

    Raises:
        AudioError: missing, empty, unreadable, truncated or corrupt file; no samples; NaN/inf.
    """
    path = Path(path)
    with _open(path) as f:
        in_rate = int(f.samplerate)
        declared = int(f.frames)
        if declared <= 0:
            raise AudioError(path, "contains no audio samples")
        short = _TRUNCATED_DATA.search(f.extra_info or "")
        if short:
            raise AudioError(path, f"truncated: header declares {short[1]} bytes of audio, only {short[2]} present")
        if in_rate <= 0:
            raise AudioError(path, f"invalid sample rate {in_rate}")
        resampler = (
            None
            if in_rate == target_rate
            else soxr.ResampleStream(in_rate, target_rate, 1, dtype="float32", quality=RESAMPLE_QUALITY)
        )
        expected_out = int(np.ceil(declared * target_rate / in_rate)) + 64
        out = np.empty(expected_out, dtype=np.float32)
        filled = 0
        read = 0
        try:
            while True:
                block = f.read(BLOCK_FRAMES, dtype="float32", always_2d=True)
                n = block.shape[0]
                last = n < BLOCK_FRAMES or read + n >= declared
                if n:
                    if not np.isfinite(block).all():
                        raise AudioError(path, "contains NaN or infinite sample values")
                    read += n
                    mono = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
                else:
                    mono = np.empty(0, dtype=np.float32)
                chunk = mono if resampler is None else resampler.resample_chunk(mono, last=last)
                if filled + len(chunk) > len(out):
                    out = np.concatenate([out[:filled], np.empty(len(chunk) + BLOCK_FRAMES, np.float32)])
                out[filled : filled + len(chunk)] = chunk
                filled += len(chunk)
                if last:
                    break
        except sf.LibsndfileError as err:
            raise AudioError(path, f"corrupt or truncated audio ({_describe(err)})") from None
        except RuntimeError as err:  # libsndfile decode errors surface as RuntimeError in some versions
            raise AudioError(path, f"corrupt or truncated audio ({err})") from None
    if read == 0:
        raise AudioError(path, "contains no audio samples")
    if read < declared:
        raise AudioError(path, f"truncated: header declares {declared} frames but only {read} could be read")
    wave = out[:filled]
    np.clip(wave, -1.0, 1.0, out=wave)
    return wave


def audio_info(path: str | os.PathLike[str]) -> tuple[int, int, float]:
    """(sample rate, channels, duration in seconds) of a file, without decoding it."""
    path = Path(path)
    with _open(path) as f:
        return int(f.samplerate), int(f.channels), f.frames / max(f.samplerate, 1)
