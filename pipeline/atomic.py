"""Replace files and folders atomically: build beside the target, then rename over it.

Readers (and a rerun after a crash) see the old file or folder or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import shutil
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


def replace_dir(new: Path, target: Path) -> None:
    """Put the finished folder ``new`` at ``target`` with renames; the old ``target`` is deleted last.

    If the second rename fails, the old folder is put back, so ``target`` is never left missing.
    ``new`` must be on the same file system (build it as a sibling of ``target``).
    """
    if not target.exists():
        new.rename(target)
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    target.rename(old)
    try:
        new.rename(target)
    except BaseException:
        old.rename(target)
        raise
    shutil.rmtree(old, ignore_errors=True)
