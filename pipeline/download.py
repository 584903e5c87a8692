"""Fetch ESC-50 for users who do not have it: resumable download, verification, safe extraction.

The archive (~600 MB) is downloaded to ``<cache>/<name>.part``; an interrupted download resumes with
an HTTP ``Range`` request (a server that ignores it just sends the whole file again). The finished
archive is verified before anything is extracted: against a pinned sha256 when one is given, and in
any case every member's CRC32 (``zipfile.testzip``) and, for ESC-50, the MD5 of ``meta/esc50.csv``
(the published v2.0.0 metadata). Extraction refuses absolute paths, ``..`` components and links, and
goes to a temporary folder renamed into place only when complete, so a half-extracted set is never
mistaken for a data set.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from .atomic import building_dir
from .checksums import sha256_file
from .datasets import ESC50_META
from .errors import DatasetError

ESC50_URL = "https://github.com/karolpiczak/ESC-50/archive/refs/heads/master.zip"
ESC50_META_MD5 = "54a0d0055a10bb7df84ad340a148722e"
"""MD5 of ESC-50 v2.0.0's ``meta/esc50.csv`` (two independent copies agree, see the shared README)."""

CHUNK = 1 << 20


def download(
    url: str,
    dest: Path,
    sha256: str | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
    timeout: float = 30.0,
) -> Path:
    """Download ``url`` to ``dest``, resuming from ``dest.part`` if a previous attempt was cut off.

    ``on_progress(bytes_so_far, total_or_None)`` is called per chunk. With ``sha256`` the finished
    file must match it (a mismatching file is deleted so the next run starts clean).
    """
    dest = Path(dest)
    if dest.is_file() and (sha256 is None or sha256_file(dest) == sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "yamnet-tfjs"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # the .part is already complete
            response = None
        else:
            raise DatasetError(f"download of {url} failed: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise DatasetError(
            f"download of {url} failed ({reason}); check the network, or pass --data a local copy"
        ) from None
    if response is not None:
        with response:
            resumed = response.status == 206
            mode = "ab" if resumed else "wb"
            done = have if resumed else 0
            length = response.headers.get("Content-Length")
            total = done + int(length) if length else None
            with open(part, mode) as f:
                while chunk := response.read(CHUNK):
                    f.write(chunk)
                    done += len(chunk)
                    if on_progress:
                        on_progress(done, total)
            if total is not None and done != total:
                raise DatasetError(f"download of {url} stopped at {done} of {total} bytes; run again to resume")
    if sha256 is not None:
        got = sha256_file(part)
        if got != sha256:
            part.unlink()
            raise DatasetError(f"download of {url} is corrupt: sha256 {got}, expected {sha256}; run again")
    os.replace(part, dest)
    return dest


def safe_extract(archive: Path, dest: Path) -> Path:
    """Extract a zip to ``dest`` (created atomically); refuse members that would land outside it."""
    dest = Path(dest)
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise DatasetError(f"{archive} is not a zip archive; delete it and download again") from None
    with zf:
        for info in zf.infolist():
            name = PurePosixPath(info.filename.replace("\\", "/"))
            if name.is_absolute() or ".." in name.parts or (name.parts and ":" in name.parts[0]):
                raise DatasetError(f"{archive}: refusing unsafe path '{info.filename}' (outside the target folder)")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise DatasetError(f"{archive}: refusing symbolic link '{info.filename}'")
        bad = zf.testzip()
        if bad is not None:
            raise DatasetError(f"{archive}: member '{bad}' fails its CRC check; delete the archive and download again")
        with building_dir(dest) as tmp:  # an earlier extraction stays in place until this one is complete
            zf.extractall(tmp)
    return dest


def fetch_esc50(
    cache_dir: Path,
    url: str = ESC50_URL,
    sha256: str | None = None,
    meta_md5: str | None = ESC50_META_MD5,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """ESC-50's root folder (with ``meta/esc50.csv``) in ``cache_dir``, downloading it if needed."""
    cache_dir = Path(cache_dir).expanduser()
    extracted = cache_dir / "esc50"
    root = _find_root(extracted)
    if root is not None:
        return root
    archive = download(url, cache_dir / "esc50.zip", sha256=sha256, on_progress=on_progress)
    safe_extract(archive, extracted)
    root = _find_root(extracted)
    if root is None:
        shutil.rmtree(extracted, ignore_errors=True)
        raise DatasetError(f"{archive} holds no {ESC50_META}; it is not the ESC-50 archive")
    if meta_md5 is not None:
        got = hashlib.md5((root / ESC50_META).read_bytes()).hexdigest()
        if got != meta_md5:
            shutil.rmtree(extracted, ignore_errors=True)
            raise DatasetError(f"{archive}: {ESC50_META} has MD5 {got}, expected {meta_md5} (wrong or altered release)")
    archive.unlink()  # the extracted copy is what we use; keeping both doubles the disk use
    return root


def _find_root(folder: Path) -> Path | None:
    """The folder holding ``meta/esc50.csv``: ``folder`` itself or one level down (GitHub's ``ESC-50-master/``)."""
    if (folder / ESC50_META).is_file():
        return folder
    if folder.is_dir():
        for child in sorted(folder.iterdir()):
            if (child / ESC50_META).is_file():
                return child
    return None


def resolve_data(data: str, cache_dir: Path) -> Path:
    """``--data`` as a folder, or the word ``esc50``: ESC-50 fetched into ``cache_dir`` on first use."""
    if data.lower() == "esc50" and not Path(data).exists():
        return fetch_esc50(cache_dir)
    return Path(data).expanduser()
