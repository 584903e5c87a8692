"""Training a head on YAMNet features: the model and its fit (:mod:`.head`), honest evaluation
(:mod:`.evaluation`) and the ``train`` stage that writes both into the export folder (:mod:`.stage`)."""

from .head import TrainConfig
from .stage import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "train"]
