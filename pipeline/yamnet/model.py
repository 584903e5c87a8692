"""Load YAMNet (TF Hub handle or local SavedModel) and run it on waveforms.

The handle comes from ``--yamnet``, else the ``YAMNET_MODEL`` environment variable, else Google's
official TF Hub handle. A local folder must be a SavedModel with YAMNet's signature (e.g. the
offline copy in ``../shared/models/yamnet``). The model is used through its ``__call__`` /
``serving_default`` signature only, never through ``hub.KerasLayer`` (broken inside Keras 3 models).
"""

from __future__ import annotations

import csv
import hashlib
import os
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np

from ..checksums import hash_stream
from ..constants import DEFAULT_YAMNET_HANDLE, EMBEDDING_DIM, NUM_MEL_BINS, NUM_YAMNET_CLASSES, YAMNET_ENV_VAR
from ..errors import ModelLoadError
from ..tfenv import tf

OFFLINE_HINT = (
    f"If this machine is offline, point --yamnet or the {YAMNET_ENV_VAR} environment variable at a local "
    "copy of the YAMNet SavedModel folder (e.g. ../shared/models/yamnet)."
)


@dataclass(frozen=True)
class YamnetOutput:
    """YAMNet's three outputs for one waveform, as numpy arrays."""

    scores: np.ndarray  # [N, 521] per-patch sigmoid scores
    embeddings: np.ndarray  # [N, 1024] per-patch embeddings
    log_mel: np.ndarray  # [M, 64] log-mel spectrogram, M = 96 + 48 (N - 1)


@dataclass
class Yamnet:
    """A loaded YAMNet with its class names and where it came from."""

    handle: str
    model_dir: Path
    model: Any = field(repr=False)
    class_names: list[str] = field(repr=False)
    _identity: str | None = field(default=None, repr=False)

    def __call__(self, waveform: np.ndarray) -> YamnetOutput:
        """Run YAMNet on one 1-D float32 16 kHz waveform (any length; short ones are zero-padded)."""
        wave = np.asarray(waveform, dtype=np.float32)
        if wave.ndim != 1:
            raise ValueError(f"YAMNet takes a 1-D waveform, got shape {wave.shape}")
        scores, embeddings, log_mel = self.model(tf().constant(wave))
        return YamnetOutput(scores.numpy(), embeddings.numpy(), log_mel.numpy())

    @property
    def identity(self) -> str:
        """sha256 of the SavedModel's graph and variables: two folders with the same weights match.

        Used to key caches, so embeddings made by one YAMNet are never served for another.
        """
        if self._identity is None:
            self._identity = hash_saved_model(self.model_dir)
        return self._identity


def resolve_handle(handle: str | None = None) -> str:
    """The handle to use: the explicit one, else ``$YAMNET_MODEL``, else Google's TF Hub handle."""
    return handle or os.environ.get(YAMNET_ENV_VAR) or DEFAULT_YAMNET_HANDLE


def _is_remote(handle: str) -> bool:
    return "://" in handle and not handle.startswith("file://")


def locate_model_dir(handle: str) -> Path:
    """A local SavedModel folder for ``handle``, downloading it through tensorflow_hub if remote."""
    if _is_remote(handle):
        tf()  # before tensorflow_hub, so its TensorFlow import is the quiet one
        import tensorflow_hub as hub

        try:
            return Path(hub.resolve(handle))
        except Exception as err:  # network, HTTP and archive errors all mean the same to a user
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ModelLoadError(f"could not download YAMNet from {handle} ({reason}). {OFFLINE_HINT}") from None
    path = Path(handle.removeprefix("file://")).expanduser()
    if not path.exists():
        raise ModelLoadError(f"YAMNet model folder {path} does not exist. {OFFLINE_HINT}")
    if not (path / "saved_model.pb").is_file():
        raise ModelLoadError(f"{path} is not a SavedModel folder (no saved_model.pb inside). {OFFLINE_HINT}")
    return path


def load_yamnet(handle: str | None = None) -> Yamnet:
    """Load YAMNet from a TF Hub/Kaggle handle or a local SavedModel folder and check its outputs."""
    handle = resolve_handle(handle)
    model_dir = locate_model_dir(handle)
    try:
        model = tf().saved_model.load(str(model_dir))
    except Exception as err:
        raise ModelLoadError(f"could not load the SavedModel in {model_dir}: {err}") from None
    class_names = read_class_names(model, model_dir)
    yamnet = Yamnet(handle=handle, model_dir=model_dir, model=model, class_names=class_names)
    _check_signature(yamnet)
    return yamnet


def read_class_names(model: Any, model_dir: Path) -> list[str]:
    """YAMNet's 521 display names, in score order, from the model's class-map asset."""
    try:
        csv_path = Path(model.class_map_path().numpy().decode())
    except AttributeError:
        csv_path = model_dir / "assets" / "yamnet_class_map.csv"
    if not csv_path.is_absolute() and not csv_path.exists():
        csv_path = model_dir / "assets" / csv_path.name
    try:
        with open(csv_path, newline="", encoding="utf-8") as f:
            names = [row["display_name"] for row in csv.DictReader(f)]
    except (OSError, KeyError) as err:
        raise ModelLoadError(f"{model_dir}: cannot read YAMNet's class map {csv_path} ({err})") from None
    if len(names) != NUM_YAMNET_CLASSES:
        raise ModelLoadError(f"{csv_path}: expected {NUM_YAMNET_CLASSES} classes, found {len(names)}")
    return names


def _check_signature(yamnet: Yamnet) -> None:
    try:
        out = yamnet(np.zeros(16000, dtype=np.float32))
    except Exception as err:
        raise ModelLoadError(
            f"{yamnet.model_dir} does not behave like YAMNet (calling it on 1 s of silence failed: {err})"
        ) from None
    shapes = (out.scores.shape[1:], out.embeddings.shape[1:], out.log_mel.shape[1:])
    if shapes != ((NUM_YAMNET_CLASSES,), (EMBEDDING_DIM,), (NUM_MEL_BINS,)):
        raise ModelLoadError(f"{yamnet.model_dir} does not look like YAMNet: output shapes {shapes}")


class FolderReader(Protocol):
    """Read access to a folder wherever it is: local disk (:class:`LocalFolder`), or a bucket through
    Beam's FileSystems (``pipeline.beam.files.BeamFolder``), so a model's identity has one definition."""

    def open(self, relative: str) -> AbstractContextManager[IO[bytes]]:
        """The file at ``relative`` (posix, inside the folder), opened for binary reading."""
        ...

    def files(self, relative: str) -> list[str]:
        """Names of the files directly inside the subfolder ``relative`` (empty if there is none)."""
        ...


@dataclass(frozen=True)
class LocalFolder:
    """A :class:`FolderReader` over a local folder."""

    root: Path

    def open(self, relative: str) -> IO[bytes]:
        return open(self.root / relative, "rb")

    def files(self, relative: str) -> list[str]:
        folder = self.root / relative
        return [p.name for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []


def hash_saved_model(model_dir: Path | str, reader: FolderReader | None = None) -> str:
    """sha256 over a SavedModel's ``saved_model.pb`` and ``variables/*`` (names and contents).

    ``reader`` reads the folder when it is not on local disk (a ``gs://`` copy hashes the same as the local
    one, so both key the same cache entries).
    """
    reader = reader or LocalFolder(Path(model_dir))
    digest = hashlib.sha256()
    for relative in ["saved_model.pb", *(f"variables/{name}" for name in sorted(reader.files("variables")))]:
        digest.update(relative.encode() + b"\0")
        with reader.open(relative) as f:
            hash_stream(digest, f)
    return digest.hexdigest()
