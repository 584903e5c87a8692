"""Beam filesystems that need no bucket, for the tests and the scale benchmark.

The Beam embedder treats any path with a scheme as remote: its bytes come through Beam's FileSystems, are
hashed while they are copied to a temp file, and are decoded from there. Two read-only schemes exercise that:

* ``mirror:///abs/path`` reads the local file ``/abs/path`` (tests: the same clip, local or "remote");
* ``synth://esc50/<ms>/<n>.wav`` is a 16 kHz mono PCM-16 WAV of ``<ms>`` milliseconds cut from ESC-50 clip
  ``n % SOURCES`` at an offset that depends on ``n``, plus +-1 LSB of dither seeded by ``n``: real sound, and
  every ``n`` has other bytes (another cache key). Nothing is stored; bytes are made when a worker opens the
  path, so a manifest of any size costs no disk (``bench/bench_scale.py``).

Beam finds a filesystem by its class being imported; worker processes import this module through
``--beam-option beam_plugins=tests.beamfs`` (with the repository on ``PYTHONPATH``).
"""

from __future__ import annotations

import io
import os
from functools import lru_cache

import numpy as np
import soundfile as sf
from apache_beam.io.filesystem import BeamIOError, FileMetadata, FileSystem, MatchResult

from tests.conftest import ESC50_DIR

SOURCES = 200
"""Distinct ESC-50 clips the synthetic cuts come from (kept decoded as int16: 200 x 5 s = 32 MB)."""
RATE = 16000


class _ReadOnly:
    """What both schemes share: '/'-joined paths, files only, every write refused. A mixin, not a FileSystem:
    Beam asks every FileSystem subclass for its scheme when it resolves a path, and this one has none."""

    def scheme(self) -> str:
        raise NotImplementedError

    def _bytes(self, path: str) -> bytes:
        raise NotImplementedError

    def join(self, basepath, *paths):
        return "/".join([basepath.rstrip("/"), *paths])

    def split(self, path):
        head, _, tail = path.rpartition("/")
        return head, tail

    def has_dirs(self):
        return False

    def open(self, path, mime_type="application/octet-stream", compression_type=None):
        try:
            return io.BytesIO(self._bytes(path))
        except (ValueError, IndexError) as err:
            raise FileNotFoundError(path) from err

    def size(self, path):
        return len(self._bytes(path))

    def metadata(self, path):
        return FileMetadata(path, self.size(path))

    def last_updated(self, path):
        return 0.0

    def checksum(self, path):
        return str(self.size(path))

    def match(self, patterns, limits=None):
        return [MatchResult(p, [FileMetadata(p, self.size(p))] if self.exists(p) else []) for p in patterns]

    def _list(self, dir_or_prefix):
        raise BeamIOError(f"{self.scheme()}:// cannot be listed")

    def mkdirs(self, path):
        raise BeamIOError(f"{self.scheme()}:// is read-only")

    def create(self, path, mime_type="application/octet-stream", compression_type=None):
        raise BeamIOError(f"{self.scheme()}:// is read-only")

    def copy(self, source_file_names, destination_file_names):
        raise BeamIOError(f"{self.scheme()}:// is read-only")

    def rename(self, source_file_names, destination_file_names):
        raise BeamIOError(f"{self.scheme()}:// is read-only")

    def delete(self, paths):
        raise BeamIOError(f"{self.scheme()}:// is read-only")


class MirrorFileSystem(_ReadOnly, FileSystem):
    @classmethod
    def scheme(cls) -> str:
        return "mirror"

    def _bytes(self, path: str) -> bytes:
        with open(path[len("mirror://") :], "rb") as f:
            return f.read()

    def exists(self, path):
        return os.path.isfile(path[len("mirror://") :])


@lru_cache(maxsize=1)
def _sources() -> list[np.ndarray]:
    names = sorted(p for p in (ESC50_DIR / "audio").iterdir() if p.suffix == ".flac")[:SOURCES]
    return [sf.read(str(p), dtype="int16")[0] for p in names]


def synth_clip(ms: int, n: int) -> bytes:
    """The bytes of ``synth://esc50/<ms>/<n>.wav``."""
    src = _sources()[n % SOURCES]
    length = ms * RATE // 1000
    offset = (n // SOURCES * 7919 + n * 13) % max(1, len(src) - length)
    cut = src[offset : offset + length].astype(np.int32)
    cut += np.random.default_rng(n).integers(-1, 2, size=len(cut))
    buf = io.BytesIO()
    sf.write(buf, np.clip(cut, -32768, 32767).astype(np.int16), RATE, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _synth_name(path: str) -> tuple[int, int]:
    _, ms, name = path[len("synth://") :].split("/")
    return int(ms), int(name.split(".")[0])


class SynthFileSystem(_ReadOnly, FileSystem):
    @classmethod
    def scheme(cls) -> str:
        return "synth"

    def _bytes(self, path: str) -> bytes:
        return synth_clip(*_synth_name(path))

    def exists(self, path):
        try:
            _synth_name(path)
        except (ValueError, IndexError):
            return False
        return True
