"""What several test modules share: real test heads, signals, bad files, the CLI as a user runs it.

Heads are trained on real YAMNet features of real ESC-50 clips through the training package's public
functions (``engine.fit_on_arrays``, ``save_head``), so the export tests see what ``train`` writes.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from pipeline.audio import load_audio
from pipeline.constants import SAMPLE_RATE
from pipeline.training.stage import save_head
from tests.conftest import REPO, esc50_clips_of

# --- signals and audio files -------------------------------------------------------------------


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


def _wav_with_codec(path: Path, codec: int) -> Path:
    data = b"\x00" * 4000
    fmt = struct.pack("<HHIIHH", codec, 1, 16000, 32000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def make_bad_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """One file per kind of bad input, with the phrase its error message must contain."""
    good = write(folder / "good.wav", tone(440, 16000, 2.0), 16000, "PCM_16").read_bytes()
    flac = write(folder / "good.flac", tone(440, 16000, 2.0), 16000).read_bytes()
    (folder / "empty.wav").write_bytes(b"")
    (folder / "text.wav").write_text("this is not audio at all\n" * 20)
    (folder / "header_only.wav").write_bytes(good[:44])
    (folder / "truncated.wav").write_bytes(good[: len(good) // 2])
    (folder / "truncated.flac").write_bytes(flac[: len(flac) // 2])
    write(folder / "nan.wav", np.array([0.0, np.nan, 0.1] * 2000, np.float32), 16000, "FLOAT")
    write(folder / "inf.wav", np.array([0.0, np.inf, 0.1] * 2000, np.float32), 16000, "FLOAT")
    (folder / "song.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00M4A isommp42" + bytes(500))
    _wav_with_codec(folder / "wma.wav", 0x0161)
    tag = b"TIT2" + (6).to_bytes(4, "big") + b"\x00\x00\x03hello"  # an ID3v2 tag and no audio frame
    (folder / "tag_only.mp3").write_bytes(b"ID3\x04\x00\x00" + bytes([0, 0, 0, len(tag)]) + tag)
    fifo = folder / "stream.wav"
    if not fifo.exists():
        os.mkfifo(fifo)
    return {
        "missing": (folder / "missing.wav", "file not found"),
        "folder": (folder, "is a folder"),
        "empty": (folder / "empty.wav", "empty"),
        "not audio": (folder / "text.wav", "not a readable audio file"),
        "zero samples": (folder / "header_only.wav", "no audio samples"),
        "truncated wav": (folder / "truncated.wav", "truncated"),
        "truncated flac": (folder / "truncated.flac", "truncated"),
        "nan": (folder / "nan.wav", "NaN or infinite"),
        "inf": (folder / "inf.wav", "NaN or infinite"),
        "unsupported container": (folder / "song.m4a", "unsupported audio format '.m4a'"),
        "unsupported codec": (folder / "wma.wav", "not a readable audio file"),
        "mp3 tag only": (folder / "tag_only.mp3", "no decodable audio"),
        "fifo": (fifo, "named pipe (FIFO)"),
        "device": (Path("/dev/zero"), "is a device"),
    }


# --- running things ----------------------------------------------------------------------------


def run_cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed console script (falls back to ``python -m`` style import when not on PATH)."""
    exe = Path(sys.executable).with_name("yamnet-tfjs")
    command = [str(exe)] if exe.exists() else [sys.executable, "-c", "from pipeline.cli import main; main()"]
    return subprocess.run(
        [*command, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=1500,  # generous: `run` does the whole job, and shared CI machines are slow
    )


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


# --- a real trained head -----------------------------------------------------------------------

CATEGORIES = ("dog", "rooster", "rain", "crying_baby")


def head_clips(per_class: int = 3) -> list[tuple[Path, int]]:
    """(clip, label index) pairs: the first ``per_class`` clips of each category."""
    return [(clip, i) for i, cat in enumerate(CATEGORIES) for clip in esc50_clips_of(cat, per_class)]


def patch_features(yamnet, waveform: np.ndarray, features: tuple[str, ...] | list[str]) -> np.ndarray:
    """The head input ``[N, F]`` for one clip, from the embedder's batched runner (all features)."""
    from pipeline.embeddings import get_runner

    runner = get_runner(yamnet)
    out = runner.run(runner.patches(waveform))
    return np.concatenate([out[f] for f in features], axis=1)


def write_head(
    model_dir: Path, yamnet, features: tuple[str, ...] = ("embeddings",), seed: int = 0, product: bool = False
) -> Path:
    """Train a head on real clips and save it per the contract.

    ``product=True`` builds it with ``train``'s own code and default architecture (normalisation, the
    ensemble of small members), so size and parity tests see the model users get; otherwise a plain
    Dense-softmax head (a hidden layer too when it reads more than the embedding), whose tiny error
    amplification lets the export tests hold it to 1e-5 of YAMNet + head run separately.
    """
    from pipeline.tfenv import tf

    tf()
    import keras

    xs, ys = [], []
    for clip, label in head_clips():
        xs.append(patch_features(yamnet, load_audio(clip), features))
        ys.append(np.full(len(xs[-1]), label))
    x, y = np.concatenate(xs).astype(np.float32), np.concatenate(ys)
    decision = None
    if product:
        from pipeline.openset import OutOfFold, calibrate, yamnet_quantiles
        from pipeline.training.engine import fit_on_arrays
        from pipeline.training.head import TrainConfig

        model = fit_on_arrays(x, y, len(CATEGORIES), TrainConfig(features=tuple(features)), seed).head
        # A fixture's decision, calibrated on its own training patches (a real `train` uses out-of-fold ones).
        yam = np.concatenate([patch_features(yamnet, load_audio(clip), ["yamnet_scores"]) for clip, _ in head_clips()])
        probs = model.predict(x, verbose=0)
        part = OutOfFold(probs, yam, probs.argmax(1) == y, probs, yam, probs.argmax(1) == y, yamnet_quantiles(yam))
        decision = calibrate([part], yam)
    else:
        keras.utils.set_random_seed(seed)
        layers = [keras.Input((x.shape[1],))]
        if len(features) > 1:
            layers.append(keras.layers.Dense(32, activation="relu"))
        layers.append(keras.layers.Dense(len(CATEGORIES), activation="softmax"))
        model = keras.Sequential(layers)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    model_dir.mkdir(parents=True, exist_ok=True)
    save_head(model_dir, model, list(CATEGORIES), features, yamnet, seed, "tests/support.py head_clips()", decision)
    (model_dir / "report.json").write_text(json.dumps({"accuracy": 1.0, "note": "test fixture"}), encoding="utf-8")
    return model_dir


# --- a long recording with known events --------------------------------------------------------

UNKNOWN_CATEGORIES = ("church_bells", "keyboard_typing", "siren", "vacuum_cleaner", "door_wood_knock", "laughing")
"""Sounds none of :data:`CATEGORIES`: what a room adds between the sounds a head knows."""


def long_recording(
    categories: tuple[str, ...] = CATEGORIES,
    unknown: tuple[str, ...] = UNKNOWN_CATEGORIES,
    per_class: int = 3,
    fold: int = 5,
    seed: int = 0,
) -> tuple[np.ndarray, list]:
    """Real ESC-50 clips of ``categories`` (``per_class`` each, from ``fold``) and one clip of each
    ``unknown`` category, shuffled, with 1.5-3.5 s of silence between them: the waveform (16 kHz) and the
    true events (label index into ``categories``, onset and offset of the clip's sound, not its padding).
    With the defaults: 18 clips, about 2 min 10 s."""
    from pipeline.sound_events import Event

    rng = np.random.default_rng(seed)
    pieces = [(i, clip) for i, cat in enumerate(categories) for clip in esc50_clips_of(cat, per_class, fold=fold)]
    pieces += [(-1, esc50_clips_of(cat, 1, fold=fold)[0]) for cat in unknown]
    order = rng.permutation(len(pieces))
    parts, truth, t = [np.zeros(SAMPLE_RATE, np.float32)], [], SAMPLE_RATE
    for k in order:
        label, clip = pieces[k]
        wave = load_audio(clip)
        frames = np.sqrt(np.mean(wave[: len(wave) // 400 * 400].reshape(-1, 400) ** 2, axis=1))
        loud = np.flatnonzero(frames >= 1e-3)
        if label >= 0 and len(loud):
            truth.append(Event(label, (t + loud[0] * 400) / SAMPLE_RATE, (t + (loud[-1] + 1) * 400) / SAMPLE_RATE))
        gap = np.zeros(int(rng.uniform(1.5, 3.5) * SAMPLE_RATE), np.float32)
        parts += [wave, gap]
        t += len(wave) + len(gap)
    return np.concatenate(parts), truth


def run_web_module(tmp_path: Path, module: str, names: str, data: object, expression: str) -> object:
    """Evaluate ``expression`` in real Node with ``names`` imported from the page's ``src/<module>`` and
    ``data`` (JSON) bound to ``data``; its JSON result. For tests that check a JS twin against Python."""
    from pipeline.js.assets import web_root
    from pipeline.js.node import node_binary

    (tmp_path / "data.json").write_text(json.dumps(data))
    script = tmp_path / "eval.mjs"
    script.write_text(
        f"import fs from 'node:fs'; import {{{names}}} from {json.dumps((web_root() / 'src' / module).as_uri())};\n"
        f"const data = JSON.parse(fs.readFileSync({json.dumps(str(tmp_path / 'data.json'))}, 'utf8'));\n"
        f"console.log(JSON.stringify({expression}));\n"
    )
    proc = subprocess.run([node_binary(), str(script)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
