"""Labelled sound data sets: ESC-50 and a user's folder-per-class set, as one list of clips with folds.

Two layouts are understood, and both end as a :class:`Dataset` (clips with label and fold), so the
embedding and training stages never care where the sounds came from:

* **ESC-50** (``meta/esc50.csv`` + ``audio/``): the official five folds. The audio may be the
  original ``.wav`` files or a re-encoded copy with the same stems (e.g. the 16 kHz FLAC copy).
* **Folders**: ``DIR/<label>/**/*.wav|flac|...``, optionally with a CSV manifest
  (``path,label[,fold]``) so that clips cut from one recording can be kept in one fold.

Every clip's header is read once here: unreadable files are skipped and listed (one bad file in a
user's folder should not stop training), but a class left with no readable clip is an error.
Downloading ESC-50 lives in :mod:`pipeline.download`.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .audio import audio_info
from .constants import AUDIO_EXTENSIONS
from .errors import AudioError, DatasetError
from .layout import OUTPUT_MARKERS

ESC50_META = Path("meta") / "esc50.csv"
MANIFEST_NAME = "manifest.csv"
IMBALANCE_RATIO = 4.0
"""Warn when the largest class has this many times the clips of the smallest: accuracy then hides
the small classes, and the report's per-class recall is the number to read."""


@dataclass(frozen=True)
class Clip:
    """One labelled sound file. ``fold`` is None when the data set defines no folds."""

    path: Path
    label: str
    fold: int | None
    clip_id: str


@dataclass
class Dataset:
    """A labelled data set: clips, the sorted class names, and the files that had to be skipped."""

    root: Path
    kind: str  # "esc50" or "folders"
    clips: list[Clip]
    labels: list[str]
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def folds(self) -> list[int]:
        """The fold numbers present (empty if the data set has none)."""
        return sorted({c.fold for c in self.clips if c.fold is not None})

    def class_counts(self) -> dict[str, int]:
        """Clips per class, in label order."""
        counts = Counter(c.label for c in self.clips)
        return {label: counts[label] for label in self.labels}

    def label_index(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    def subset(self, classes: list[str] | None = None, folds: list[int] | None = None) -> Dataset:
        """Only the given classes and/or folds (quick runs and tests); unknown names are an error."""
        if classes:
            unknown = sorted(set(classes) - set(self.labels))
            if unknown:
                raise DatasetError(
                    f"{self.root}: unknown class(es) {', '.join(unknown)}; known: {', '.join(self.labels)}"
                )
        if folds:
            unknown_folds = sorted(set(folds) - set(self.folds))
            if unknown_folds:
                raise DatasetError(f"{self.root}: no fold(s) {unknown_folds}; the data set has folds {self.folds}")
        keep = [
            c
            for c in self.clips
            if (not classes or c.label in classes) and (not folds or (c.fold is not None and c.fold in folds))
        ]
        labels = [label for label in self.labels if not classes or label in classes]
        return Dataset(self.root, self.kind, keep, labels, list(self.skipped), list(self.warnings))


def detect_format(root: Path) -> str:
    """``"esc50"`` if ``meta/esc50.csv`` exists, else ``"folders"``."""
    return "esc50" if (root / ESC50_META).is_file() else "folders"


def load_dataset(
    root: str | Path,
    data_format: str = "auto",
    manifest: str | Path | None = None,
    check_readable: bool = True,
) -> Dataset:
    """Read a data set folder (ESC-50 or folder-per-class) into a :class:`Dataset`.

    Raises:
        DatasetError: missing folder, bad manifest/metadata, no classes, or a class with no readable clip.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(
            f"data set folder {root} does not exist (give --data a folder of class subfolders or ESC-50)"
        )
    kind = detect_format(root) if data_format == "auto" else data_format
    warnings: list[str] = []
    if kind == "esc50":
        clips = _esc50_clips(root)
    elif kind == "folders":
        manifest_path = Path(manifest) if manifest else (root / MANIFEST_NAME)
        if manifest and not manifest_path.is_file():
            raise DatasetError(f"manifest {manifest_path} does not exist")
        if manifest_path.is_file():
            clips, warnings = _manifest_clips(root, manifest_path)
        else:
            clips, warnings = _folder_clips(root)
    else:
        raise DatasetError(f"unknown data format '{data_format}' (use esc50, folders or auto)")
    return _finish(root, kind, clips, check_readable, warnings)


def _finish(
    root: Path, kind: str, clips: list[Clip], check_readable: bool, warnings: list[str] | None = None
) -> Dataset:
    if not clips:
        raise DatasetError(
            f"{root}: no audio files found (expected {root}/<label>/*.wav|flac|ogg|mp3, "
            f"a {MANIFEST_NAME}, or ESC-50's {ESC50_META})"
        )
    labels = sorted({c.label for c in clips})
    skipped: list[tuple[Path, str]] = []
    if check_readable:
        readable = []
        for clip in clips:
            try:
                audio_info(clip.path)
                readable.append(clip)
            except AudioError as err:
                skipped.append((clip.path, err.problem))
        clips = readable
    dataset = Dataset(root, kind, clips, labels, skipped, list(warnings or []))
    empty = [label for label, n in dataset.class_counts().items() if n == 0]
    if empty:
        raise DatasetError(
            f"{root}: class(es) with no readable clip: {', '.join(empty)} "
            f"({len(skipped)} unreadable file(s) skipped); add audio or remove the class folder"
        )
    if len(labels) < 2:
        raise DatasetError(f"{root}: found only one class ({labels[0]}); a classifier needs at least two")
    dataset.warnings.extend(imbalance_warnings(dataset.class_counts()))
    dataset.warnings.extend(fold_coverage_warnings(dataset))
    return dataset


def fold_coverage_warnings(dataset: Dataset) -> list[str]:
    """A warning per class found in only one of several folds: when that fold is tested, the head has
    never seen the class, and all its clips count as errors."""
    if len(dataset.folds) < 2:
        return []
    folds_of: dict[str, set[int]] = {}
    for clip in dataset.clips:
        if clip.fold is not None:
            folds_of.setdefault(clip.label, set()).add(clip.fold)
    return [
        f"class '{label}' is only in fold {next(iter(found))}: when that fold is tested the head has never "
        "seen the class and all its clips count as errors; spread its clips over several folds"
        for label, found in sorted(folds_of.items())
        if len(found) == 1
    ]


def imbalance_warnings(counts: dict[str, int]) -> list[str]:
    """A warning if the largest class has :data:`IMBALANCE_RATIO` times the clips of the smallest."""
    if not counts:
        return []
    small = min(counts, key=lambda k: counts[k])
    big = max(counts, key=lambda k: counts[k])
    if counts[small] and counts[big] / counts[small] >= IMBALANCE_RATIO:
        return [
            f"classes are heavily imbalanced: '{big}' has {counts[big]} clips, '{small}' only {counts[small]}; "
            "read the per-class recall in the report, not just accuracy"
        ]
    return []


def _esc50_audio(root: Path, filename: str) -> Path:
    """The clip's file: ``audio/<filename>`` as listed, or the same stem with another audio extension."""
    listed = root / "audio" / filename
    if listed.is_file():
        return listed
    stem = Path(filename).stem
    for ext in AUDIO_EXTENSIONS:
        candidate = root / "audio" / (stem + ext)
        if candidate.is_file():
            return candidate
    return listed  # reported as unreadable (file not found) by the readability check


def _esc50_clips(root: Path) -> list[Clip]:
    meta = root / ESC50_META
    try:
        with open(meta, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as err:
        raise DatasetError(f"cannot read ESC-50 metadata {meta}: {err}") from None
    needed = {"filename", "fold", "category"}
    if not rows or not needed <= set(rows[0]):
        raise DatasetError(f"{meta}: not ESC-50 metadata (needs columns {', '.join(sorted(needed))})")
    clips = []
    for row in rows:
        try:
            fold = int(row["fold"])
        except ValueError:
            raise DatasetError(f"{meta}: bad fold '{row['fold']}' for {row['filename']}") from None
        clips.append(Clip(_esc50_audio(root, row["filename"]), row["category"], fold, Path(row["filename"]).stem))
    return clips


def _folder_clips(root: Path) -> tuple[list[Clip], list[str]]:
    clips, warnings = [], []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if any((class_dir / marker).is_file() for marker in OUTPUT_MARKERS):
            warnings.append(f"{class_dir}: an output folder of yamnet-tfjs, not a class of sounds: ignored")
            continue
        files = sorted(p for p in class_dir.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
        if not files:
            raise DatasetError(
                f"{class_dir}: class '{class_dir.name}' has no audio files ({', '.join(AUDIO_EXTENSIONS)}); "
                "add some or remove the folder"
            )
        clips.extend(Clip(p, class_dir.name, None, p.relative_to(root).as_posix()) for p in files)
    return clips, warnings


def _inside(root: Path, text: str) -> Path | None:
    """``text`` (a manifest path) as a path under ``root``, or None if it leaves ``root`` (``..``, absolute
    elsewhere). Decided on the names alone, before the file is opened; symlinks inside ``root`` are the
    user's own and are followed later."""
    base = os.path.abspath(root)
    full = os.path.normpath(os.path.join(base, text))
    return Path(full) if full == base or full.startswith(base.rstrip(os.sep) + os.sep) else None


JSONL_SUFFIXES = (".jsonl", ".ndjson")
"""A manifest with one of these suffixes is JSON Lines (one object a line); any other is CSV."""


def is_jsonl(name: str) -> bool:
    return name.lower().endswith(JSONL_SUFFIXES)


def csv_header(first_line: str, where: str) -> list[str]:
    """A CSV manifest's column names; it must have ``path`` and ``label`` (``fold`` optional)."""
    header = [h.strip() for h in next(csv.reader([first_line.lstrip("\ufeff")]), [])]
    if not {"path", "label"} <= set(header):
        raise DatasetError(f"{where}: a manifest needs a header with columns path,label[,fold]")
    return header


def manifest_row(row: dict[str, Any], where: str) -> tuple[str, str, int | None]:
    """``(path as written, label, fold or None)`` of one manifest row (CSV or JSON Lines).

    The one reading of a row, shared by :func:`load_dataset` and the Beam embedder (which reads manifests of
    any size line by line on its workers). ``where`` (``file:line``) starts the error message.
    """
    text, label = str(row.get("path") or "").strip(), str(row.get("label") or "").strip()
    if not text or not label:
        raise DatasetError(f"{where}: empty path or label")
    value = row.get("fold")
    if value is None or str(value).strip() == "":
        return text, label, None
    try:
        return text, label, int(str(value).strip())
    except ValueError:
        raise DatasetError(f"{where}: fold must be a whole number, got '{value}'") from None


def parse_manifest_line(line: str, header: list[str] | None, where: str) -> tuple[str, str, int | None] | None:
    """One line of a manifest: CSV when ``header`` is given, else JSON Lines; None for a blank line."""
    if not line.strip():
        return None
    if header is None:
        try:
            row = json.loads(line)
        except ValueError as err:
            raise DatasetError(f"{where}: not a JSON object ({err})") from None
        if not isinstance(row, dict):
            raise DatasetError(f"{where}: not a JSON object")
    else:
        row = dict(zip(header, next(csv.reader([line]), []), strict=False))
    return manifest_row(row, where)


def _manifest_rows(manifest: Path) -> list[tuple[int, str, str, int | None]]:
    """``(line number, path text, label, fold)`` of every non-blank row of a local manifest."""
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as f:
            if is_jsonl(manifest.name):
                parsed = ((n, parse_manifest_line(line, None, f"{manifest}:{n}")) for n, line in enumerate(f, start=1))
                return [(n, *row) for n, row in parsed if row is not None]
            header = csv_header(f.readline(), str(manifest))
            reader = csv.reader(f)  # not line by line: a quoted cell may span lines
            rows = []
            for cells in reader:
                if any(cell.strip() for cell in cells):
                    line = reader.line_num + 1  # the header line was read before the reader started
                    rows.append((line, *manifest_row(dict(zip(header, cells, strict=False)), f"{manifest}:{line}")))
            return rows
    except OSError as err:
        raise DatasetError(f"cannot read manifest {manifest}: {err}") from None


def _manifest_clips(root: Path, manifest: Path) -> tuple[list[Clip], list[str]]:
    """Rows ``path,label[,fold]`` (CSV with a header, or JSON Lines); paths are relative to the data folder
    (or absolute inside it).

    Refused: a path leaving the data folder, the same file listed with two labels or in two folds
    (a test clip would also be a training clip), folds given on some rows only. Identical repeated
    rows are counted once, with a warning naming them.
    """
    clips: list[Clip] = []
    first_line: dict[Path, tuple[int, Clip]] = {}
    repeated: list[str] = []
    for line, text, label, fold in _manifest_rows(manifest):
        path = _inside(root, text)
        if path is None:
            raise DatasetError(
                f"{manifest}:{line}: path '{text}' is outside the data folder {root}; "
                "manifest paths must point at files inside it"
            )
        clip = Clip(path, label, fold, text)
        if path in first_line:
            other_line, other = first_line[path]
            if other.label != label:
                raise DatasetError(
                    f"{manifest}: lines {other_line} and {line} give {text} two labels ('{other.label}', '{label}')"
                )
            if other.fold != fold:
                raise DatasetError(
                    f"{manifest}: lines {other_line} and {line} put {text} in folds {other.fold} and {fold}: "
                    "a test clip would also be a training clip; list it once"
                )
            repeated.append(f"line {line} (= line {other_line})")
            continue
        first_line[path] = (line, clip)
        clips.append(clip)
    if any(c.fold is None for c in clips) and any(c.fold is not None for c in clips):
        raise DatasetError(f"{manifest}: give every row a fold, or none (some rows have an empty fold)")
    warnings = []
    if repeated:
        shown = ", ".join(repeated[:10]) + (" ..." if len(repeated) > 10 else "")
        warnings.append(f"{manifest}: {len(repeated)} repeated row(s) counted once: {shown}")
    return clips, warnings
