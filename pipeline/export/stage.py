"""The ``export`` stage: the one SavedModel, its TF.js variants, ``metadata.json`` and a model card.

``export_model(exported/NAME)`` reads ``head.keras`` + ``head.json`` (written by ``train``, see
docs/contracts.md), builds the SavedModel (:mod:`.savedmodel`), converts it to TF.js (:mod:`.convert`:
float32 plus the quantized variants of :data:`pipeline.layout.VARIANTS`) and writes ``metadata.json``
and the model card (:mod:`.metadata`). Everything is built in a staging folder inside
``exported/NAME`` and swapped in only when all of it succeeded, so a failed export leaves the previous
one untouched.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..atomic import staged
from ..events import OnMessage, ignore
from ..layout import (
    DERIVED_FROM_EXPORT,
    EXPORT_ARTIFACTS,
    MARKER,
    MODEL_CARD,
    QUANTIZED,
    REPORT_JSON,
    SAVED_MODEL,
    check_output_dir,
    marker_text,
)
from ..yamnet import Yamnet
from .savedmodel import ExportError, Head, load_head, save_saved_model


@contextmanager
def _staged_export(model_dir: Path, kind: str) -> Iterator[Path]:
    """A staging folder inside ``model_dir`` whose export artifacts replace the old ones only on success.

    The folder always holds either the complete previous export or the complete new one; parity and
    site, made from the previous export, are replaced with it (they would describe another model).
    """
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
        with staged(model_dir, (*EXPORT_ARTIFACTS, *DERIVED_FROM_EXPORT, MARKER)) as stage:
            (stage / MARKER).write_text(marker_text(kind))
            yield stage
    except OSError as err:
        reason = err.strerror or err
        raise ExportError(f"cannot write the export into {model_dir} ({reason}); nothing was changed") from None


def _stale_derived(model_dir: Path) -> list[str]:
    return [name for name in DERIVED_FROM_EXPORT if (model_dir / name).exists()]


def export_model(
    model_dir: Path,
    yamnet: Yamnet,
    quantizations: Sequence[str] = QUANTIZED,
    on_message: OnMessage = ignore,
) -> dict[str, Any]:
    """Export ``exported/NAME``: SavedModel, TF.js (float32 + ``quantizations``), metadata, model card.

    Returns the metadata that was written.
    """
    from .convert import convert_all
    from .metadata import build_metadata, write_metadata, write_model_card

    step = on_message
    for q in quantizations:
        if q not in QUANTIZED:
            raise ExportError(f"unknown quantization {q!r}: use one of none, {', '.join(QUANTIZED)}")
    head = load_head(model_dir)
    _check_head_matches(head, yamnet, model_dir)
    stale = _stale_derived(model_dir)
    with _staged_export(model_dir, "classifier") as stage:
        step("building the SavedModel (YAMNet + head, matmul-DFT front end)")
        save_saved_model(yamnet, head, stage / SAVED_MODEL)
        step("converting to TF.js")
        variants = convert_all(stage / SAVED_MODEL, stage, quantizations, on_message=step)
        metadata = build_metadata(
            stage, yamnet, head=head, variants=variants, report_path=model_dir / REPORT_JSON, source_dir=model_dir
        )
        write_model_card(stage / MODEL_CARD, metadata, name=model_dir.name)  # before hashing, so it is listed
        write_metadata(stage, metadata, variants)
    if stale:
        step(f"removed {', '.join(stale)}: made from the previous export (rerun `parity`/`site`)")
    return metadata


def export_yamnet(
    out_dir: Path, yamnet: Yamnet, quantizations: Sequence[str] = (), on_message: OnMessage = ignore
) -> dict[str, Any]:
    """Convert YAMNet alone (no head) the same way: a drop-in for TF Hub's TF.js YAMNet, in ``out_dir``."""
    from .convert import convert_all
    from .metadata import build_metadata, write_metadata, write_model_card

    step = on_message
    out_dir = check_output_dir(out_dir)
    with _staged_export(out_dir, "yamnet") as stage:
        step("building the YAMNet SavedModel (matmul-DFT front end)")
        save_saved_model(yamnet, None, stage / SAVED_MODEL)
        step("converting to TF.js")
        variants = convert_all(stage / SAVED_MODEL, stage, quantizations, structured=False, on_message=step)
        metadata = build_metadata(stage, yamnet, head=None, variants=variants)
        write_model_card(stage / MODEL_CARD, metadata, name=out_dir.name)
        write_metadata(stage, metadata, variants)
    return metadata


def _check_head_matches(head: Head, yamnet: Yamnet, model_dir: Path) -> None:
    """Refuse a head trained on another YAMNet's embeddings: its predictions would be silently wrong."""
    trained_on = head.info.yamnet_identity
    if trained_on and trained_on != yamnet.identity:
        raise ExportError(
            f"{model_dir}/head.json was trained on YAMNet {trained_on[:12]}, but --yamnet {yamnet.handle} is "
            f"{yamnet.identity[:12]}: export with the same YAMNet used for training"
        )
