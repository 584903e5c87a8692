"""User-facing errors.

Anything a user can cause (a bad file, a missing model, a bad data set) raises a subclass of
:class:`PipelineError` whose message is one line naming the thing and the problem, and where
possible the fix. The CLI prints that line and exits non-zero; it never shows a traceback for them.
"""

from __future__ import annotations


class PipelineError(Exception):
    """A problem the user can act on; ``str(err)`` is the whole message."""


class AudioError(PipelineError):
    """An audio file could not be turned into a 16 kHz mono waveform."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ModelLoadError(PipelineError):
    """YAMNet (or an exported model) could not be loaded."""


class DatasetError(PipelineError):
    """A data set folder, manifest or metadata file is unusable."""


class BeamError(PipelineError):
    """The Beam embedder cannot start or its job failed: apache-beam missing, an unknown option, a failed job."""
