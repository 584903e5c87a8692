"""Exporting: YAMNet + head as ONE SavedModel (:mod:`.savedmodel`), its TF.js conversions (:mod:`.convert`),
``metadata.json`` and the model card (:mod:`.metadata`); :mod:`.stage` runs them into an export folder."""

from .savedmodel import ExportError
from .stage import export_model, export_yamnet

__all__ = ["ExportError", "export_model", "export_yamnet"]
