"""Write a small file atomically: to a temporary sibling, then ``os.replace`` over the target.

Readers (and a rerun after a crash) see the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_text_atomic(path: Path, text: str) -> Path:
    """Replace ``path`` by ``text`` (UTF-8) in one rename; the folder must exist."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: Path, value: Any) -> Path:
    """Replace ``path`` by ``value`` as indented JSON (see :func:`write_text_atomic`)."""
    return write_text_atomic(path, json.dumps(value, indent=2) + "\n")
