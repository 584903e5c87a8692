"""Files on any Beam filesystem (local disk, ``gs://``, ``s3://``, ``hdfs://``, ...) for the Beam embedder.

Everything the pipeline reads or writes goes through Beam's :class:`FileSystems`, so the same code runs on a
laptop and on a cluster. Two things the product's local code does with plain ``open`` need care here:

* bytes are read with ``compression_type=UNCOMPRESSED``: Beam's default (AUTO) would gunzip a ``.gz`` file
  and hash the wrong bytes;
* an entry must appear whole or not at all (a retried bundle, or a reader, never sees half of one), which
  each kind of store gets its own way (:func:`write_atomic`).
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from dataclasses import dataclass
from typing import IO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from ..atomic import write_bytes_atomic

OBJECT_STORES = ("gs", "s3", "az", "azfs")
"""Schemes whose writes publish an object only when its upload completes (no temp name needed)."""


def scheme(path: str) -> str:
    """``"gs"`` for ``gs://b/x``; ``""`` for a local path."""
    head, sep, _ = path.partition("://")
    return head if sep else ""


def is_remote(path: str) -> bool:
    return bool(scheme(path))


def join(base: str, relative: str) -> str:
    """``base`` joined with a posix ``relative`` path, in ``base``'s filesystem."""
    return FileSystems.join(base, *relative.split("/"))


def parent(path: str) -> str:
    return FileSystems.split(path)[0]


def open_read(path: str) -> IO[bytes]:
    """The file's exact bytes (never decompressed)."""
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def exists(path: str) -> bool:
    return os.path.isfile(path) if not is_remote(path) else FileSystems.exists(path)


def matching(pattern: str) -> list[str]:
    """Paths of the files matching a glob (``**`` crosses folders), sorted."""
    [found] = FileSystems.match([pattern])
    return sorted(m.path for m in found.metadata_list)


def write_atomic(path: str, data: bytes) -> None:
    """Write ``path`` so that readers see all of it or nothing, on any filesystem.

    Local: the product's temp-file-and-rename (:func:`pipeline.atomic.write_bytes_atomic`). Object stores:
    one upload (the object appears when it completes). Others, e.g. HDFS: a temp name, then a rename.
    """
    if not is_remote(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_bytes_atomic(path, lambda f: f.write(data))
        return
    if scheme(path) in OBJECT_STORES:
        with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            f.write(data)
        return
    folder, name = FileSystems.split(path)
    tmp = FileSystems.join(folder, f".{name}.{os.getpid()}.{os.urandom(4).hex()}")
    with FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)
    FileSystems.rename([tmp], [path])


@dataclass(frozen=True)
class BeamFolder:
    """A :class:`pipeline.yamnet.model.FolderReader` on any Beam filesystem: a SavedModel in a bucket then
    hashes (:func:`pipeline.yamnet.model.hash_saved_model`) exactly like its local copy."""

    root: str

    def open(self, relative: str) -> IO[bytes]:
        return open_read(join(self.root, relative))

    def files(self, relative: str) -> list[str]:
        folder = join(self.root, relative).rstrip("/")
        return [p[len(folder) + 1 :] for p in matching(folder + "/*") if "/" not in p[len(folder) + 1 :]]


def local_copy_of_folder(src: str) -> str:
    """A local copy of a folder (a SavedModel in a bucket), file by file; a local ``src`` is returned as is.

    TensorFlow reads ``gs://`` itself only with tensorflow-io's plugins, and S3/HDFS not at all; one copy per
    worker process (~15 MB for YAMNet) works everywhere.
    """
    if not is_remote(src):
        return src
    dst = tempfile.mkdtemp(prefix="yamnet-model-")
    prefix = src.rstrip("/") + "/"
    for path in matching(prefix + "**"):
        relative = path[len(prefix) :]
        if not relative or relative.endswith("/"):
            continue
        target = os.path.join(dst, *relative.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open_read(path) as f, open(target, "wb") as out:
            shutil.copyfileobj(f, out, 1 << 20)
    return dst


def suffix(path: str) -> str:
    """The file's extension (``.flac``), whatever its filesystem."""
    return posixpath.splitext(path)[1]
