"""sha256 of files, streamed: the one helper behind cache keys, artifact checksums and stage hashes."""

from __future__ import annotations

import hashlib
import os
from typing import IO, Any

CHUNK = 1 << 20


def hash_stream(digest: Any, f: IO[bytes], copy_to: IO[bytes] | None = None) -> int:
    """Feed ``f`` to ``digest`` in 1 MiB chunks (never the whole file in memory); returns the byte count.

    ``copy_to`` also receives every chunk: the Beam reader hashes a file in a bucket and saves it for the
    decoder in the same single pass over the network.
    """
    size = 0
    for chunk in iter(lambda: f.read(CHUNK), b""):
        digest.update(chunk)
        if copy_to is not None:
            copy_to.write(chunk)
        size += len(chunk)
    return size


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes (see :func:`hash_stream`)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        hash_stream(digest, f)
    return digest.hexdigest()
