"""Replace files and folders atomically: build beside (or inside) the target, then rename into place.

Readers (and a rerun after a crash) see the old file or folder or the new one, never half of one.
Three shapes cover every writer in the package:

* :func:`write_text_atomic` / :func:`write_json_atomic`: one file (temp file in the same folder, rename);
* :func:`building_dir`: a whole folder the product owns (a site, an extracted data set), built as a
  temporary sibling and swapped in by :func:`replace_dir`;
* :func:`staged`: some named artifacts inside a folder that holds other things too (an export folder:
  ``train`` owns the head and report, ``export`` the converted models), built in a staging folder inside
  the target and moved in name by name.

Temporary names carry the writer's process id, so a later run can tell the leftovers of a killed
process (``kill -9`` skips every ``finally``) from the work of one still running, and removes them
(:func:`remove_stale_staging`). Files and folders get the permissions the umask gives, as ``open`` and
``mkdir`` would (``mkstemp``/``mkdtemp`` create them private), so a static host can serve them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STAGING_PREFIX = ".staging-"
"""Name prefix of staging folders; followed by the owning process id and a random suffix."""

LEGACY_STAGING_PREFIX = ".export-"
"""Staging folders of yamnet-tfjs 0.1.0 carry no process id: removed once they are this old."""
LEGACY_STALE_SECONDS = 3600.0


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def public_mode(path: Path, folder: bool = False) -> None:
    """Give ``path`` the mode ``mkdir``/``open`` would (0777/0666 minus the umask)."""
    os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


def write_text_atomic(path: Path, text: str) -> Path:
    """Replace ``path`` by ``text`` (UTF-8) in one rename; the folder must exist."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        public_mode(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: Path, value: Any) -> Path:
    """Replace ``path`` by ``value`` as indented JSON (see :func:`write_text_atomic`)."""
    return write_text_atomic(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def write_bytes_atomic(path: Path, write: Any) -> Path:
    """Replace ``path`` by what ``write(file)`` writes into a binary file object, in one rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        public_mode(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def replace_dir(new: Path, target: Path) -> None:
    """Put the finished folder ``new`` at ``target`` with renames; the old ``target`` is deleted last.

    If the second rename fails, the old folder is put back, so ``target`` is never left missing.
    ``new`` must be on the same file system (build it as a sibling of ``target``). Callers decide
    beforehand that ``target`` may be replaced (it is the product's own folder).
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


@contextmanager
def building_dir(target: Path) -> Iterator[Path]:
    """A temporary sibling of ``target`` to build a whole folder in; it replaces ``target`` on success.

    On any failure the temporary folder is removed and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.building-", dir=target.parent))
    try:
        public_mode(tmp, folder=True)
        yield tmp
        replace_dir(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_stale_staging(folder: Path) -> list[Path]:
    """Remove staging folders in ``folder`` whose process is gone; returns what was removed.

    A killed export or train leaves its staging folder behind (tens of MB); the next writer of the
    same folder cleans it up. Folders of running processes (another export right now) are kept.
    """
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    now = time.time()
    for child in folder.iterdir():
        name = child.name
        if name.startswith(STAGING_PREFIX):
            pid_text = name[len(STAGING_PREFIX) :].split("-", 1)[0]
            stale = pid_text.isdigit() and int(pid_text) != os.getpid() and not _alive(int(pid_text))
        elif name.startswith(LEGACY_STAGING_PREFIX):
            try:
                stale = now - child.stat().st_mtime > LEGACY_STALE_SECONDS
            except OSError:
                stale = False
        else:
            continue
        if stale and child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child)
    return removed


def _swap_in(stage: Path, target: Path, names: Iterable[str]) -> None:
    """Move each named artifact of ``stage`` into ``target``; old ones (and absent-in-stage ones) go aside.

    An artifact that exists in ``target`` but not in ``stage`` is removed: that is how a stage says
    "this old artifact is no longer valid". On a failed move everything is put back.
    """
    backup = stage / ".previous"
    backup.mkdir()
    moved_old: list[str] = []
    moved_new: list[str] = []
    try:
        for name in names:
            if (target / name).exists() or (target / name).is_symlink():
                (target / name).rename(backup / name)
                moved_old.append(name)
        for name in names:
            if (stage / name).exists():
                (stage / name).rename(target / name)
                moved_new.append(name)
    except OSError:
        for name in moved_new:
            (target / name).rename(stage / name)
        for name in moved_old:
            (backup / name).rename(target / name)
        raise


@contextmanager
def staged(target: Path, names: Iterable[str]) -> Iterator[Path]:
    """A fresh staging folder inside ``target``; on success the artifacts ``names`` are swapped in.

    ``target`` is created if needed, and stale staging folders of dead processes are removed first.
    Only ``names`` are touched in ``target``: whatever else the folder holds stays. The folder always
    holds either all the previous artifacts or all the new ones.
    """
    target = Path(target)
    names = tuple(names)
    target.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(target)
    stage = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=target))
    try:
        public_mode(stage, folder=True)
        yield stage
        _swap_in(stage, target, names)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
