"""Import TensorFlow quietly.

TensorFlow prints CUDA/oneDNN banners on import that say nothing useful on a CPU machine and bury
our one-line messages. Modules that need TF call :func:`tf` instead of importing it at module load,
which also keeps ``yamnet-tfjs --help`` instant.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

_QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",  # oneDNN reorders float sums: keep results reproducible run to run
    "CUDA_VISIBLE_DEVICES": "",
    "TF_USE_LEGACY_KERAS": "0",
}


@contextmanager
def native_logs_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for a moment.

    XLA's C++ registrars print at import, and grappler/MLIR print INFO lines through absl when a graph is
    frozen or saved, before any log level applies (``TF_CPP_MIN_LOG_LEVEL`` does not reach them). Python
    exceptions still propagate; only the C++ chatter on stderr is dropped.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr (e.g. closed): nothing to silence
        yield
        return
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def tf() -> ModuleType:
    """Return the ``tensorflow`` module, imported with logging turned down."""
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)
    if "tensorflow" not in sys.modules:
        with native_logs_silenced():
            import tensorflow
    import tensorflow

    tensorflow.get_logger().setLevel("ERROR")
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # pragma: no cover - absl ships with TF
        pass
    return tensorflow
