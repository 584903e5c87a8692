"""The export folder ``exported/NAME``: the names of everything in it, and who may write there.

Every stage writes into one folder (``train`` the head and report, ``export`` the SavedModel and the
TF.js variants, ``parity`` its record, ``run`` its state, ``site`` the demo), so the names live here
once and every stage, the report and the benches use them.

The folder is the product's, marked by :data:`MARKER`. A stage only ever replaces files in a folder
that carries the marker (or is new or empty): :func:`check_output_dir` refuses anything else, and
any ``--out`` inside or above the data set, before any work is done.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from . import __version__
from .errors import PipelineError

MARKER = "yamnet-tfjs.json"
"""Written into every folder ``train``/``run``/``export``/``export-yamnet`` write: "this folder is ours"."""

HEAD_KERAS = "head.keras"
HEAD_JSON = "head.json"
REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
CONFUSION_PNG = "confusion.png"
CURVES_PNG = "curves.png"
SAVED_MODEL = "saved_model"
METADATA_JSON = "metadata.json"
MODEL_CARD = "README.md"
PARITY_JSON = "parity.json"
RUN_STATE = "run.json"
SITE_DIR = "site"
SITE_MARKER = "site.json"
"""Written into every built site; ``site`` only replaces folders that carry it (or are empty)."""

VARIANT_DIRS = {"float32": "tfjs", "float16": "tfjs-float16", "uint8": "tfjs-uint8"}
"""Folder of each TF.js variant inside ``exported/NAME``."""

TRAIN_ARTIFACTS = (HEAD_KERAS, HEAD_JSON, REPORT_JSON, REPORT_HTML, CONFUSION_PNG, CURVES_PNG)
"""What ``train`` writes (and replaces as one)."""

EXPORT_ARTIFACTS = (SAVED_MODEL, *VARIANT_DIRS.values(), METADATA_JSON, MODEL_CARD)
"""What ``export`` writes (and replaces as one)."""

DERIVED_FROM_EXPORT = (PARITY_JSON, SITE_DIR)
"""Made from the export by later stages: stale whenever the export is."""

_LEGACY_SIGNATURE = (HEAD_JSON, REPORT_JSON)
"""An export folder written by yamnet-tfjs 0.1.0 (before the marker) holds these."""


class OutputDirError(PipelineError):
    """An output folder the product must not write into."""


OUTPUT_MARKERS = (MARKER, SITE_MARKER, HEAD_JSON)
"""Any of these in a folder means yamnet-tfjs wrote it: a data set loader never reads it as sounds."""


def is_product_dir(folder: Path) -> bool:
    """True when ``folder`` carries the marker (or is an export of yamnet-tfjs 0.1.0, written before it)."""
    if (folder / MARKER).is_file():
        return True
    return all((folder / name).is_file() for name in _LEGACY_SIGNATURE)


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output_dir(out: str | os.PathLike[str], data_root: str | os.PathLike[str] | None = None) -> Path:
    """Refuse an output folder whose files the product could overwrite by mistake; returns it as a Path.

    Allowed: a path that does not exist yet, an empty folder, or a folder the product wrote (marker).
    Refused, with one line naming the folder and why: an existing file, a non-empty folder of anyone
    else's, and (with ``data_root``) a folder that is, contains or lies inside the data set.
    """
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"{out}: exists and is a file, not a folder; give --out a new or empty folder")
    if data_root is not None:
        o, d = out.resolve(), Path(data_root).expanduser().resolve()
        if _within(o, d):
            raise OutputDirError(
                f"{out}: lies inside the data set folder {data_root}; the output would be read as data "
                "(or replace clips): choose a folder outside it"
            )
        if _within(d, o):
            raise OutputDirError(
                f"{out}: contains the data set folder {data_root}; writing there could replace your clips: "
                "choose a folder outside it"
            )
    if out.is_dir() and any(out.iterdir()) and not is_product_dir(out):
        raise OutputDirError(
            f"{out}: folder is not empty and was not written by yamnet-tfjs (no {MARKER}); choose a new or empty folder"
        )
    return out


def marker_text(kind: str) -> str:
    """The marker file's content: who wrote the folder, what it is, when."""
    return (
        json.dumps(
            {
                "written_by": "yamnet-tfjs",
                "version": __version__,
                "kind": kind,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            },
            indent=2,
        )
        + "\n"
    )
