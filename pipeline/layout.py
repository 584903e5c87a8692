"""The export folder ``exported/NAME``: every name in it, its TF.js variants and outputs, and its readers.

Every stage writes into one folder (``train`` the head and report, ``export`` the SavedModel and the
TF.js variants, ``parity`` its record, ``run`` its state, ``site`` the demo), and the report, the run
headline and the benches read it back. So this module is the one place that knows

* the names of the files and folders (:data:`HEAD_JSON`, :data:`SAVED_MODEL`, ...);
* the TF.js variants (:data:`VARIANTS`: folder, quantization recipe, parity bounds). **A new variant
  is one entry there** (plus its tests): convert, parity, site, report and the CLI read this table;
* the exported graph's outputs (:data:`OUTPUTS`), in the order ``metadata.json`` lists them;
* who may write into the folder (:func:`check_output_dir`: the product's own marker, never the data);
* how to read ``head.json``, ``report.json``, ``metadata.json`` and ``parity.json`` back, typed
  (:func:`read_head_info`, :func:`read_report`, :func:`read_metadata`, :func:`read_parity`), and
  how to check an export's files against the hashes its metadata recorded before trusting them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import __version__
from .checksums import sha256_file
from .constants import EMBEDDING_DIM, FEATURE_WIDTHS, NUM_MEL_BINS, NUM_YAMNET_CLASSES
from .errors import PipelineError

# ---------------------------------------------------------------------------------------------
# Names

MARKER = "yamnet-tfjs.json"
"""Written into every folder ``train``/``run``/``export``/``export-yamnet`` write: "this folder is ours"."""

HEAD_KERAS = "head.keras"
HEAD_JSON = "head.json"
TUNED_BLOCKS = "tuned_blocks.npz"
"""Beside the head when ``train --fine-tune`` tuned YAMNet's top blocks; ``export`` writes them into the graph."""
REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
CONFUSION_PNG = "confusion.png"
CURVES_PNG = "curves.png"
SAVED_MODEL = "saved_model"
METADATA_JSON = "metadata.json"
MODEL_CARD = "README.md"
PARITY_JSON = "parity.json"
PARITY_PARTIAL_JSON = "parity-partial.json"
"""Where a parity run narrower than the recorded one goes, so a quick check never overwrites the full record."""
RUN_STATE = "run.json"
SITE_DIR = "site"
SITE_MARKER = "site.json"
"""Written into every built site; ``site`` only replaces folders that carry it (or are empty)."""


# ---------------------------------------------------------------------------------------------
# Outputs of the exported graph


@dataclass(frozen=True)
class Output:
    """One output of the exported serving signature."""

    name: str
    short: str  # column title in tables
    rows: str  # "patch": one row per 0.96 s patch; "frame": one per 10 ms frame; "clip": one vector
    width: int | None  # last dimension; None = the number of classes

    def shape(self, num_classes: int) -> list[int]:
        width = num_classes if self.width is None else self.width
        return [width] if self.rows == "clip" else [-1, width]


OUTPUTS: dict[str, Output] = {
    o.name: o
    for o in (
        Output("scores", "head", "patch", None),
        Output("clip_scores", "clip", "clip", None),
        Output("yamnet_scores", "yamnet", "patch", NUM_YAMNET_CLASSES),
        Output("embeddings", "embed", "patch", EMBEDDING_DIM),
        Output("log_mel", "log_mel", "frame", NUM_MEL_BINS),
    )
}
"""The classifier export's outputs, in the order metadata.json lists them."""

YAMNET_ONLY_OUTPUTS = ("scores", "embeddings", "log_mel")
"""``export-yamnet``'s outputs in TF Hub's order: ``const [scores, embeddings, spectrogram] = model.predict(x)``;
their shapes are those of ``yamnet_scores``, ``embeddings`` and ``log_mel`` above."""


def yamnet_only_shapes() -> dict[str, list[int]]:
    """Shapes of ``export-yamnet``'s outputs (``scores`` is YAMNet's 521)."""
    return {
        "scores": OUTPUTS["yamnet_scores"].shape(0),
        "embeddings": OUTPUTS["embeddings"].shape(0),
        "log_mel": OUTPUTS["log_mel"].shape(0),
    }


# ---------------------------------------------------------------------------------------------
# TF.js variants

BIG_TENSOR_ELEMENTS = 20_000
"""A network tensor this large or larger is "big" in a variant's quantization recipe.

TF.js quantizes each tensor with one affine scale. The big tensors (pointwise convolutions, dense
layers: nearly all the bytes) take uint8 well; the small ones (biases, depthwise 3x3 kernels, the first
convolution) do not, and cost little at float16 (docs/quantization.md)."""

CASE_KINDS = ("clip", "synthetic")
"""Parity case kinds: real audio, and synthetic signals (silence, noise, square) whose near-empty FFT
bins make ``log(mel + 0.001)`` magnify float32 rounding."""


@dataclass(frozen=True)
class Variant:
    """A TF.js conversion of the export: its folder, how its weights are quantized, what parity demands.

    Quantization only ever touches the network's weights (the front end stays float32); tensors of at
    least :data:`BIG_TENSOR_ELEMENTS` elements get ``big``, the others ``small`` (None: stay float32).
    ``bounds`` are the max abs differences against the float32 Python model, per case kind and output;
    ``top1`` the share of real clips whose top-1 must agree with Python.
    """

    name: str
    dir: str
    big: str | None
    small: str | None
    bounds: dict[str, dict[str, float]]
    top1: float
    description: str = ""

    @property
    def quantized(self) -> bool:
        return self.big is not None or self.small is not None


def _bounds(clip: dict[str, float], synthetic: dict[str, float] | None = None) -> dict[str, dict[str, float]]:
    return {"clip": clip, "synthetic": synthetic or clip}


# float32 / clip: float32 noise. The quantized bounds were measured on the ESC-50 model (docs/parity.md)
# and given ~2.5-3x headroom. log_mel keeps its float32 bound in every variant: quantization must never
# touch the front end (DFT basis, mel matrix), and this is where it would show.
VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant(
            "float32",
            "tfjs",
            None,
            None,
            _bounds(
                {"scores": 1e-5, "clip_scores": 1e-5, "yamnet_scores": 1e-4, "embeddings": 1e-4, "log_mel": 1e-3},
                {"scores": 1e-5, "clip_scores": 1e-5, "yamnet_scores": 1e-4, "embeddings": 2e-4, "log_mel": 1e-3},
            ),
            1.0,
            "float32 weights: the reference",
        ),
        Variant(
            "float16",
            "tfjs-float16",
            "float16",
            "float16",
            _bounds({"scores": 3e-2, "clip_scores": 5e-3, "yamnet_scores": 3e-2, "embeddings": 1e-1, "log_mel": 1e-3}),
            0.9,
            "float16 network weights: half the size, same accuracy",
        ),
        Variant(
            "uint8",
            "tfjs-uint8",
            "uint8",
            "float16",
            _bounds({"scores": 0.5, "clip_scores": 0.15, "yamnet_scores": 0.6, "embeddings": 2.0, "log_mel": 1e-3}),
            0.8,
            "uint8 for the big network tensors, float16 for the small ones: a quarter of the size",
        ),
    )
}
"""Every TF.js variant an export may hold; ``float32`` (``tfjs/``) is always written."""

QUANTIZED = tuple(name for name, v in VARIANTS.items() if v.quantized)
"""Names of the quantized variants (``--quantize`` choices besides ``none``)."""

VARIANT_DIRS = {name: v.dir for name, v in VARIANTS.items()}
"""Folder of each TF.js variant inside ``exported/NAME``."""


def variant(name_or_dir: str) -> Variant:
    """A variant by name (``uint8``) or folder (``tfjs-uint8``); PipelineError naming the choices otherwise."""
    for v in VARIANTS.values():
        if name_or_dir in (v.name, v.dir):
            return v
    choices = ", ".join(f"{v.name} ({v.dir}/)" for v in VARIANTS.values())
    raise PipelineError(f"unknown TF.js variant {name_or_dir!r}; choose from {choices}")


# ---------------------------------------------------------------------------------------------
# Who writes what

TRAIN_ARTIFACTS = (HEAD_KERAS, HEAD_JSON, TUNED_BLOCKS, REPORT_JSON, REPORT_HTML, CONFUSION_PNG, CURVES_PNG)
"""What ``train`` writes (and replaces as one)."""

EXPORT_ARTIFACTS = (SAVED_MODEL, *VARIANT_DIRS.values(), METADATA_JSON, MODEL_CARD)
"""What ``export`` writes (and replaces as one)."""

DERIVED_FROM_EXPORT = (PARITY_JSON, PARITY_PARTIAL_JSON, SITE_DIR)
"""Made from the export by later stages: stale whenever the export is."""

OUTPUT_MARKERS = (MARKER, SITE_MARKER, HEAD_JSON)
"""Any of these in a folder means yamnet-tfjs wrote it: a data set loader never reads it as sounds."""

_LEGACY_SIGNATURE = (HEAD_JSON, REPORT_JSON)
"""An export folder written by yamnet-tfjs 0.1.0 (before the marker) holds these."""


class OutputDirError(PipelineError):
    """An output folder the product must not write into."""


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
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return json.dumps({"written_by": "yamnet-tfjs", "version": __version__, "kind": kind, "created": created}) + "\n"


# ---------------------------------------------------------------------------------------------
# Readers


class ArtifactError(PipelineError):
    """An artifact is missing, unreadable, or does not match what the export recorded."""


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object artifact, or None when it was not written (or is unreadable)."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class HeadInfo:
    """``head.json``: what the trained head maps, and from which YAMNet (docs/contracts.md)."""

    path: Path
    labels: list[str]
    features: list[str]
    yamnet_identity: str | None
    raw: dict[str, Any]

    @property
    def num_features(self) -> int:
        return sum(FEATURE_WIDTHS[f] for f in self.features)


def read_head_info(folder: Path) -> HeadInfo:
    """Read and check ``folder/head.json`` (labels and features must be usable)."""
    path = Path(folder) / HEAD_JSON
    if not path.is_file():
        raise ArtifactError(f"{path} not found: run `yamnet-tfjs train` for {folder} first")
    raw = read_json(path)
    if raw is None:
        raise ArtifactError(f"{path}: not a readable JSON object")
    labels, features = raw.get("labels"), raw.get("features")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise ArtifactError(f'{path}: "labels" must be a non-empty list of class names')
    if not isinstance(features, list) or not features or any(f not in FEATURE_WIDTHS for f in features):
        raise ArtifactError(f'{path}: "features" must list some of {sorted(FEATURE_WIDTHS)}, got {features}')
    return HeadInfo(path, labels, features, (raw.get("yamnet") or {}).get("identity"), raw)


@dataclass(frozen=True)
class TrainingReport:
    """``report.json``: the evaluation of the head (the report page and the headline read this)."""

    raw: dict[str, Any]

    @property
    def cv(self) -> dict[str, Any]:
        return self.raw.get("cv") or {}

    @property
    def mean_accuracy(self) -> float | None:
        return self.cv.get("mean_accuracy")

    @property
    def fold_accuracy(self) -> list[float]:
        return list(self.cv.get("fold_accuracy") or [])

    @property
    def scheme(self) -> str | None:
        return (self.raw.get("evaluation") or {}).get("scheme")

    @property
    def dataset_root(self) -> str | None:
        return (self.raw.get("dataset") or {}).get("root")


def read_report(folder: Path) -> TrainingReport | None:
    """``folder/report.json``, or None when training has not written one."""
    raw = read_json(Path(folder) / REPORT_JSON)
    return None if raw is None else TrainingReport(raw)


def find_metadata(model_dir: Path) -> Path:
    """The ``metadata.json`` describing ``model_dir``: its own, else its parent's (an export's root)."""
    for candidate in (model_dir / METADATA_JSON, model_dir.parent / METADATA_JSON):
        if candidate.is_file():
            return candidate
    raise ArtifactError(f"no {METADATA_JSON} in {model_dir} or {model_dir.parent}; re-run `yamnet-tfjs export`")


def read_metadata(path: Path) -> dict[str, Any]:
    """Parse a metadata.json, refusing one that is not an object with labels and outputs."""
    try:
        metadata = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ArtifactError(f"{path}: not readable JSON ({err}); re-run `yamnet-tfjs export`") from None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("labels"), list):
        raise ArtifactError(f"{path}: not a yamnet-tfjs metadata.json (no labels); re-run `yamnet-tfjs export`")
    if not isinstance(metadata.get("outputs"), list) or not all(
        isinstance(o, dict) and {"name", "node", "shape"} <= set(o) for o in metadata["outputs"]
    ):
        raise ArtifactError(f"{path}: its outputs list is missing or malformed; re-run `yamnet-tfjs export`")
    return metadata


def verify_files(metadata_path: Path, metadata: dict[str, Any], folder: Path) -> None:
    """Every file under ``folder`` that the metadata lists exists with the sha256 it recorded.

    Catches a truncated or corrupted weight shard, a ``model.json`` or SavedModel of another model
    copied in, and a file deleted by hand, before any of them is published or run.
    """
    files = metadata.get("files")
    if not isinstance(files, dict) or not files:
        raise ArtifactError(f"{metadata_path}: lists no file checksums; re-run `yamnet-tfjs export`")
    root = metadata_path.parent.resolve()
    where = folder.resolve()
    prefix = "" if where == root else where.relative_to(root).as_posix() + "/"
    listed = {rel: digest for rel, digest in files.items() if rel.startswith(prefix)}
    if not listed:
        raise ArtifactError(f"{metadata_path}: lists no file of {folder}; re-run `yamnet-tfjs export`")
    for rel, digest in sorted(listed.items()):
        path = metadata_path.parent / rel
        if not path.is_file():
            raise ArtifactError(f"{path}: missing, though {metadata_path.name} lists it; re-run `yamnet-tfjs export`")
        if sha256_file(path) != digest:
            raise ArtifactError(
                f"{path}: differs from the file {metadata_path.name} recorded (sha256); it is truncated, "
                "corrupted or from another model: re-run `yamnet-tfjs export`"
            )


def check_label_count(metadata_path: Path, metadata: dict[str, Any], widths: dict[str, int | None]) -> None:
    """The label lists match the model's output widths (``widths``: output node -> last dimension).

    A metadata.json whose labels are shifted by one would print every prediction under the wrong name.
    """
    by_name = {o["name"]: o for o in metadata["outputs"]}
    checks = [("labels", "clip_scores"), ("yamnet_class_names", "yamnet_scores")]
    if metadata.get("kind") == "yamnet":
        checks = [("labels", "scores")]
    for key, output in checks:
        spec, names = by_name.get(output), metadata.get(key)
        if spec is None or names is None:
            continue
        width = widths.get(spec["node"])
        if width is None or width < 0:
            continue
        if len(names) != width:
            raise ArtifactError(
                f"{metadata_path}: {len(names)} {key} but the model's {output} has {width} values; the labels "
                "would be shown shifted or missing: re-run `yamnet-tfjs export`"
            )


def tfjs_output_widths(tfjs_dir: Path) -> dict[str, int | None]:
    """Last dimension of each output of a converted graph model (from model.json's signature)."""
    try:
        model_json = json.loads((tfjs_dir / "model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ArtifactError(f"{tfjs_dir / 'model.json'}: not a readable TF.js graph model ({err})") from None
    signature = model_json.get("signature") or (model_json.get("userDefinedMetadata") or {}).get("signature")
    widths: dict[str, int | None] = {}
    for spec in ((signature or {}).get("outputs") or {}).values():
        dims = (spec.get("tensorShape") or {}).get("dim") or []
        widths[spec["name"]] = int(dims[-1].get("size", -1)) if dims else None
    return widths


def verified_tfjs_metadata(tfjs_dir: Path) -> tuple[Path, dict[str, Any]]:
    """The metadata of a TF.js model folder, after checking its files and label counts (see above)."""
    path = find_metadata(tfjs_dir)
    metadata = read_metadata(path)
    verify_files(path, metadata, tfjs_dir)
    check_label_count(path, metadata, tfjs_output_widths(tfjs_dir))
    return path, metadata


@dataclass(frozen=True)
class ParityRow:
    """One (variant, runtime) result of a parity run, as tables show it."""

    variant: str
    runtime: str
    backend: str | None
    ok: bool
    failures: list[str]
    worst: dict[str, float | None]  # output -> max abs diff on real clips (None: not measured)
    top1: dict[str, tuple[int, int]]  # "clip_scores" / "yamnet" -> (agree, total) on real clips
    ms_per_audio_second: float | None
    error: str | None = None
    measured: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # output -> kind -> max/mean/bound
    ms_per_case: dict[str, float] = field(default_factory=dict)
    decisions: tuple[int, int] = (0, 0)  # open-set decisions (class or unknown) equal to Python's, of all cases
    info: dict[str, Any] = field(default_factory=dict)  # backend details (TF.js version, WebGL renderer, flags)
    skipped: str | None = None  # why an opt-in runtime did not run (its browser is not installed)


@dataclass(frozen=True)
class ParityRecord:
    """``parity.json``: Python vs each TF.js runtime, per variant (written by :mod:`pipeline.parity`)."""

    raw: dict[str, Any]
    rows: list[ParityRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.raw.get("ok"))

    @property
    def python_ms_per_audio_second(self) -> float | None:
        return (self.raw.get("python") or {}).get("ms_per_audio_second")

    @property
    def cases(self) -> list[dict[str, Any]]:
        return list(self.raw.get("cases") or [])

    @property
    def runtimes(self) -> list[str]:
        return sorted({row.runtime for row in self.rows})

    def worst(self, variant_name: str = "float32") -> dict[str, float]:
        """Max abs diff per output over every runtime of one variant (real clips)."""
        worst: dict[str, float] = {}
        for row in self.rows:
            if row.variant != variant_name:
                continue
            for name, value in row.worst.items():
                if value is not None:
                    worst[name] = max(worst.get(name, 0.0), value)
        return worst


def parity_record(raw: dict[str, Any]) -> ParityRecord:
    """A parity report (as written to parity.json) as typed rows."""
    rows = []
    for variant_name, runtimes in (raw.get("variants") or {}).items():
        for runtime, r in runtimes.items():
            outputs = r.get("outputs") or {}
            top1 = {k: (v["agree"], v["total"]) for k, v in (r.get("top1") or {}).items()}
            rows.append(
                ParityRow(
                    variant=variant_name,
                    runtime=runtime,
                    backend=r.get("backend"),
                    ok=bool(r.get("ok")),
                    failures=list(r.get("failures") or []),
                    worst={name: (outputs.get(name) or {}).get("clip", {}).get("max") for name in OUTPUTS},
                    top1=top1,
                    ms_per_audio_second=r.get("ms_per_audio_second"),
                    error=r.get("error"),
                    measured=outputs,
                    ms_per_case=dict(r.get("ms_per_case") or {}),
                    decisions=((r.get("decisions") or {}).get("agree", 0), (r.get("decisions") or {}).get("total", 0)),
                    info=dict(r.get("info") or {}),
                    skipped=r.get("skipped"),
                )
            )
    return ParityRecord(raw, rows)


def read_parity(folder: Path, name: str = PARITY_JSON) -> ParityRecord | None:
    """``folder/parity.json`` as a :class:`ParityRecord`, or None when parity has not run."""
    raw = read_json(Path(folder) / name)
    return None if raw is None else parity_record(raw)
