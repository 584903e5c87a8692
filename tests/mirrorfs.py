"""A read-only Beam filesystem ``mirror://`` whose files are local files: ``mirror:///abs/path`` reads ``/abs/path``.

The Beam embedder treats any path with a scheme as remote (bytes through FileSystems, hashed while they are
copied to a temp file, decoded from there): this exercises that path in a test without a bucket. Beam finds a
filesystem by being imported; worker processes import it through ``--beam_plugins tests.mirrorfs``.
"""

from __future__ import annotations

import io
import os

from apache_beam.io.filesystem import BeamIOError, FileMetadata, FileSystem, MatchResult

PREFIX = "mirror://"


def _local(path: str) -> str:
    return path[len(PREFIX) :]


class MirrorFileSystem(FileSystem):
    @classmethod
    def scheme(cls) -> str:
        return "mirror"

    def join(self, basepath, *paths):
        return "/".join([basepath.rstrip("/"), *paths])

    def split(self, path):
        head, _, tail = path.rpartition("/")
        return head, tail

    def has_dirs(self):
        return False

    def open(self, path, mime_type="application/octet-stream", compression_type=None):
        with open(_local(path), "rb") as f:
            return io.BytesIO(f.read())

    def exists(self, path):
        return os.path.exists(_local(path))

    def size(self, path):
        return os.path.getsize(_local(path))

    def last_updated(self, path):
        return os.path.getmtime(_local(path))

    def checksum(self, path):
        return str(self.size(path))

    def metadata(self, path):
        return FileMetadata(path, self.size(path))

    def match(self, patterns, limits=None):
        return [MatchResult(p, [FileMetadata(p, self.size(p))] if self.exists(p) else []) for p in patterns]

    def _list(self, dir_or_prefix):
        raise BeamIOError("mirror:// cannot be listed")

    def mkdirs(self, path):
        raise BeamIOError("mirror:// is read-only")

    def create(self, path, mime_type="application/octet-stream", compression_type=None):
        raise BeamIOError("mirror:// is read-only")

    def copy(self, source_file_names, destination_file_names):
        raise BeamIOError("mirror:// is read-only")

    def rename(self, source_file_names, destination_file_names):
        raise BeamIOError("mirror:// is read-only")

    def delete(self, paths):
        raise BeamIOError("mirror:// is read-only")
