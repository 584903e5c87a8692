"""Run YAMNet (or an export of it) over a long waveform in chunks of whole patches.

YAMNet on a one-hour file at once holds every intermediate activation of all 7,500 patches (gigabytes).
Cut at patch boundaries instead, the chunks give exactly the one-shot result: patch ``p`` reads the
samples ``[p * 7680, p * 7680 + 15600)`` and nothing else, a chunk that starts at a multiple of the
patch hop frames them identically, and the last chunk is zero-padded to the same length the whole
waveform would be (:func:`pipeline.constants.padded_length`). So peak memory is the waveform plus one
chunk's activations, whatever the file's length.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from .constants import MIN_WAVEFORM_SAMPLES, PATCH_HOP_FRAMES, PATCH_HOP_SAMPLES, num_patches

CHUNK_PATCHES = 32
"""Patches per model call for long inputs (~15 s of audio): big enough that per-call overhead vanishes,
small enough that activations stay in the tens of MB."""

LOG_MEL = "log_mel"
"""The one frame-level output (10 ms rows); every other output has one row per patch."""


def chunk_spans(num_samples: int, max_patches: int = CHUNK_PATCHES) -> Iterator[tuple[int, int, int]]:
    """``(start, end, first_patch)`` sample ranges whose patches together are the waveform's patches."""
    total = num_patches(num_samples)
    for first in range(0, total, max_patches):
        n = min(max_patches, total - first)
        start = first * PATCH_HOP_SAMPLES
        yield start, min(num_samples, start + MIN_WAVEFORM_SAMPLES + (n - 1) * PATCH_HOP_SAMPLES), first


def run_chunked(
    run: Callable[[np.ndarray], dict[str, Any]],
    waveform: np.ndarray,
    keep: Iterable[str],
    max_patches: int = CHUNK_PATCHES,
) -> dict[str, np.ndarray]:
    """The outputs ``keep`` of ``run(waveform)``, computed chunk by chunk and stitched together.

    ``run`` maps a 1-D waveform to per-patch outputs ``[N, ...]`` (and optionally ``log_mel``, whose
    overlapping frames are taken once). Clip-level outputs (a mean over patches) are not stitched:
    compute them from the per-patch ones. A waveform of one chunk or less is a single call.
    """
    keep = tuple(keep)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in keep}
    frames_done = 0
    for start, end, first in chunk_spans(len(waveform), max_patches):
        out = run(waveform[start:end])
        for name in keep:
            value = np.asarray(out[name])
            if name == LOG_MEL:
                skip = frames_done - first * PATCH_HOP_FRAMES  # rows an earlier chunk already gave
                value = value[skip:]
                frames_done += len(value)
            parts[name].append(value)
    return {name: values[0] if len(values) == 1 else np.concatenate(values) for name, values in parts.items()}
