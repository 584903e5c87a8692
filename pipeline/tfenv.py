"""Import TensorFlow quietly, with settings that make its results reproducible.

TensorFlow prints CUDA/oneDNN banners on import that say nothing useful on a CPU machine and bury
our one-line messages. Modules that need TF call :func:`tf` instead of importing it at module load,
which also keeps ``yamnet-tfjs --help`` instant. :func:`tf` also pins the intra-op thread count
(:data:`THREADS_RANGE`) and chooses the CPU kernels (:func:`kernels`, oneDNN by default), so YAMNet's
features are the same bits on any machine of one CPU type.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

_QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    # oneDNN's kernels: YAMNet 1.3-1.5x and the training engine ~1.4x faster than Eigen's (docs/speed.md), and
    # still the same bits run to run, for any batch composition and for 2-8 threads (checked); they differ from
    # Eigen's by ~1e-5, so the cache keeps the two apart (:func:`kernels`). TF_ENABLE_ONEDNN_OPTS=0 picks Eigen.
    "TF_ENABLE_ONEDNN_OPTS": "1",
    "CUDA_VISIBLE_DEVICES": "",
    "TF_USE_LEGACY_KERAS": "0",
}


def kernels() -> str:
    """``"onednn"`` or ``"eigen"``: the CPU kernels TensorFlow runs (or will run) with in this process.

    Features computed with one differ in their low bits from the other's, so cache entries are kept
    apart by it (:func:`pipeline.embeddings.entries_folder`); Beam workers import this module too.
    """
    return "onednn" if os.environ.get("TF_ENABLE_ONEDNN_OPTS", _QUIET_ENV["TF_ENABLE_ONEDNN_OPTS"]) == "1" else "eigen"


TRAIN_PRECISION_ENV = "YAMNET_TFJS_TRAIN_PRECISION"
_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def matmul_precision() -> str:
    """``"bfloat16"`` or ``"float32"``: the precision of the head-training engine's large matmuls.

    bfloat16 (float32 accumulation, float32 weights and optimiser) only where the CPU multiplies it natively
    (AMX or AVX512-BF16, read from ``/proc/cpuinfo``) and oneDNN runs: there it is several times faster than
    float32; elsewhere it would be emulated, and slower. ``$YAMNET_TFJS_TRAIN_PRECISION`` (``float32`` or
    ``bfloat16``) overrides. YAMNet itself always runs in float32: its features are cached and compared.
    """
    wanted = os.environ.get(TRAIN_PRECISION_ENV, "").strip().lower()
    if wanted in ("float32", "bfloat16"):
        return wanted
    if kernels() != "onednn":
        return "float32"
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            flags = next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), [])
    except OSError:
        return "float32"
    return "bfloat16" if any(flag in flags for flag in _BF16_FLAGS) else "float32"


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


TF_THREADS_ENV = "YAMNET_TFJS_TF_THREADS"
THREADS_RANGE = (2, 8)
"""TensorFlow intra-op threads are pinned into this range. YAMNet's CPU kernels split a batch's work by
thread count, and the low bits of the result follow the split: measured on one CPU type, 2, 3, 4, 6 and 8
threads give identical features, while 1 and 16 or more give others (up to 1.4e-6). Pinned, a cache entry
is the same bits whichever machine of that CPU type made it (a 2-core laptop, a 32-core server, a Beam
worker), so caches can be shared and compared."""

_pinned = False


def intra_op_threads() -> int:
    """``$YAMNET_TFJS_TF_THREADS``, else the machine's CPU count, clamped into :data:`THREADS_RANGE`."""
    text = os.environ.get(TF_THREADS_ENV, "").strip()
    wanted = int(text) if text.isdigit() else (os.cpu_count() or THREADS_RANGE[0])
    return min(THREADS_RANGE[1], max(THREADS_RANGE[0], wanted))


def _pin_threads(tensorflow: ModuleType) -> None:
    """Pin the intra-op pool once per process; possible only before TensorFlow runs its first op."""
    global _pinned
    if _pinned:
        return
    _pinned = True
    with contextlib.suppress(RuntimeError):  # TensorFlow already ran an op (used before tf()): keep its pool
        tensorflow.config.threading.set_intra_op_parallelism_threads(intra_op_threads())


def tf() -> ModuleType:
    """Return the ``tensorflow`` module, imported with logging turned down and its threads pinned."""
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)
    if "tensorflow" not in sys.modules:
        with native_logs_silenced():
            import tensorflow
    import tensorflow

    _pin_threads(tensorflow)
    tensorflow.get_logger().setLevel("ERROR")
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # pragma: no cover - absl ships with TF
        pass
    return tensorflow
