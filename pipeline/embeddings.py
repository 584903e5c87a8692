"""Per-patch YAMNet features for every clip of a data set, cached on disk.

The features are everything a head may read (:data:`pipeline.constants.FEATURE_WIDTHS`): YAMNet's
embeddings and scores, and the pooled outputs of its blocks 9-13.

Why a cache: training is re-run many times (seeds, heads, folds) but YAMNet's outputs for a file
never change, so they are computed once. Entries are keyed by the YAMNet model's identity (sha256 of
its SavedModel), the view of the clip (time shift) and the sha256 of the file's *content*, so:

* a rerun makes no YAMNet call at all (the model is not even split/traced);
* an interrupted run resumes: every clip is written as soon as its patches are done;
* a file whose content changed gets a new key and is recomputed, whatever its name or mtime.

Each entry is written to a temporary file and renamed into place (atomic on POSIX), so a killed run
never leaves a half-written entry. Where an entry lives (:func:`entry_relative_path`) and its bytes
(:func:`encode_entry`, :func:`decode_entry`) are defined here only: the Beam embedder (:mod:`pipeline.beam`)
writes the same entries through the same functions, so a change of format reaches both.

Same bits anywhere: the network always runs on full batches of ``batch_patches`` rows (the last one
zero-padded, :meth:`~pipeline.yamnet.runner.PatchRunner.run_padded`) with TensorFlow's threads pinned
(:mod:`pipeline.tfenv`), so a clip's features do not depend on which clips shared its batch, on the data
set's size, on the machine's core count, or on whether Beam or this module computed them.

Why it is fast: decoding and YAMNet's front end run in worker threads while the main thread feeds
YAMNet's network batches of patches gathered across clips (see :mod:`pipeline.yamnet.runner`); both
cores stay busy and the network sees efficient batch sizes. ``bench/bench_embed.py`` measures it.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from .atomic import write_bytes_atomic
from .audio import load_audio
from .checksums import sha256_file
from .constants import FEATURE_ORDER, FEATURE_WIDTHS
from .datasets import Clip, Dataset
from .errors import AudioError, PipelineError
from .tfenv import kernels
from .yamnet import Yamnet
from .yamnet.runner import PatchRunner, make_runner

CACHE_ENV_VAR = "YAMNET_TFJS_CACHE"
CACHE_FORMAT = "v4"
"""Bump when the entry layout or the decoding changes: old entries are then simply not found (recomputed).
v4: one float16 array per entry, its two byte planes zlib-compressed (:func:`encode_entry`); v3 held the same
array uncompressed in an ``.npz`` (185 MB for ESC-50), v2 one float32 array per feature (361 MB), v1
embeddings and scores only."""

ENTRY_SUFFIX = ".f16z"
"""An entry's file name is its audio's sha256 and this suffix."""

ENTRY_DTYPE = np.dtype("<f2")
"""Stored precision (relative error <= 2**-11; the largest feature, a ReLU6 mean, is <= 6 and scores are in
[0, 1], far below float16's 65504). Decoding widens back to float32, what training reads."""

ENTRY_MAGIC = b"YTFJ"
_FORMAT_NUMBER = int(CACHE_FORMAT.removeprefix("v"))
_HEADER = struct.Struct("<4sBBHIII")
"""magic, format number (:data:`CACHE_FORMAT`'s), zlib level used, reserved, rows, columns, compressed size of
the high plane."""

ENTRY_ZLIB_LEVEL = 1
"""zlib level of both byte planes: level 1 already gets nearly all there is (docs/embedding.md, "Which
compression"), and decompression speed barely depends on it."""


def _columns(names: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    edges = np.cumsum([0, *(FEATURE_WIDTHS[n] for n in names)])
    return {n: (int(a), int(b)) for n, a, b in zip(names, edges[:-1], edges[1:], strict=True)}


ENTRY_COLUMNS = _columns(FEATURE_ORDER)
"""Columns ``[start, stop)`` of each feature in an entry's array: :data:`FEATURE_ORDER`, side by side
(embeddings 0-1024, yamnet_scores 1024-1545, layer9 .. layer13 1545-4617). An entry holds a leading run
of :data:`FEATURE_ORDER`, embeddings and scores at least: all of them (width 4617), or the first two
(width 1545) when YAMNet's graph could not be split into blocks. The width tells which."""

ENTRY_LAYOUTS = {stop: FEATURE_ORDER[: k + 1] for k, (_, stop) in enumerate(ENTRY_COLUMNS.values()) if k + 1 >= 2}
"""Array width -> the features an entry of that width holds (always embeddings and scores first)."""

Features = dict[str, np.ndarray]
"""One clip's per-patch features by name, each ``[n_patches, width]``."""

DEFAULT_BATCH_PATCHES = 64
"""Patches per network call: measured fastest on 2 cores (bigger batches fall out of cache)."""


def default_cache_dir() -> Path:
    """``$YAMNET_TFJS_CACHE``, else ``$XDG_CACHE_HOME/yamnet-tfjs``, else ``~/.cache/yamnet-tfjs``."""
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "yamnet-tfjs"


@dataclass
class EmbedStats:
    """What one :func:`embed_dataset` call did (the tests and the benchmark read this)."""

    clips: int = 0
    cached: int = 0
    computed: int = 0
    failed: int = 0
    network_calls: int = 0
    patches: int = 0


@dataclass
class EmbeddingSet:
    """YAMNet's per-patch features for the readable clips of a data set, in data set order.

    ``outputs[i]`` maps feature names to ``[n_i, width]`` arrays for clip ``i`` (``embeddings`` is
    ``[n_i, 1024]``); ``labels[i]`` indexes ``label_names``; ``folds[i]`` is the clip's fold (any
    integer; meaningless when ``has_folds`` is False, i.e. the data set defines no folds).
    """

    clip_ids: list[str]
    paths: list[Path]
    labels: np.ndarray
    label_names: list[str]
    folds: np.ndarray
    outputs: list[Features]
    has_folds: bool = False
    kind: str = "folders"  # the data set's layout: "esc50" or "folders"
    shift: int = 0
    digests: list[str] = field(default_factory=list)  # sha256 of each clip's file (the cache keys)
    yamnet_identity: str = ""
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    stats: EmbedStats = field(default_factory=EmbedStats)

    def __len__(self) -> int:
        return len(self.clip_ids)

    @property
    def embeddings(self) -> list[np.ndarray]:
        return [o["embeddings"] for o in self.outputs]

    @property
    def scores(self) -> list[np.ndarray]:
        return [o["yamnet_scores"] for o in self.outputs]

    def features(self, clip: int, names: tuple[str, ...] | list[str] = ("embeddings",)) -> np.ndarray:
        """Per-patch feature rows ``[n, F]`` of one clip, features concatenated in the order given."""
        parts = self.outputs[clip]
        missing = [n for n in names if n not in parts]
        if missing:
            raise PipelineError(
                f"{self.paths[clip]}: no {', '.join(missing)} feature: this YAMNet graph could not be split into "
                "blocks, so only 'embeddings' and 'yamnet_scores' are available (train with --layers none)"
            )
        return np.concatenate([parts[n] for n in names], axis=1) if len(names) > 1 else parts[names[0]]

    def patch_table(
        self, clips: np.ndarray | list[int], names: tuple[str, ...] | list[str] = ("embeddings",)
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X [P, F], y [P], owner [P])`` for the patches of ``clips``; ``owner`` is the clip index."""
        clips = np.asarray(clips, dtype=int)
        rows = [self.features(i, names) for i in clips]
        counts = np.array([len(r) for r in rows], dtype=int)
        x = np.concatenate(rows).astype(np.float32, copy=False) if rows else np.zeros((0, 0), np.float32)
        return x, np.repeat(self.labels[clips], counts), np.repeat(clips, counts)


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes: the cache key, so renamed-but-same files hit and edited ones miss."""
    return sha256_file(path)


def entries_folder(yamnet_identity: str, shift: int) -> str:
    """The folder (posix, below the cache folder) holding one YAMNet's entries for one clip view, computed
    with one kind of CPU kernels (:func:`pipeline.tfenv.kernels`: oneDNN's and Eigen's low bits differ)."""
    return f"embeddings/{CACHE_FORMAT}/{yamnet_identity[:16]}-{kernels()}/shift{shift}"


def entry_relative_path(yamnet_identity: str, shift: int, digest: str) -> str:
    """Where a clip's entry lives below the cache folder (posix): the one definition of the layout.

    The local cache and the Beam writer (:mod:`pipeline.beam`, whose cache may be a bucket) both join this
    to their cache folder, so a cache filled by either is read by the other.
    """
    return f"{entries_folder(yamnet_identity, shift)}/{digest[:2]}/{digest}{ENTRY_SUFFIX}"


def encode_entry(features: Features) -> bytes:
    """One clip's features as the bytes of a cache entry (read back by :func:`decode_entry`).

    The entry is one float16 array ``[n, width]`` (columns as in :data:`ENTRY_COLUMNS`; ``features`` must be a
    layout of :data:`ENTRY_LAYOUTS`, raises ValueError if not), stored column by column as two byte planes,
    each zlib-compressed: a header (:data:`_HEADER`), the high bytes (sign, exponent and the top mantissa
    bits), then the low bytes. Lossless. Why planes: a feature's values across a clip's patches share their
    high byte far more often than whole values repeat, and a ReLU mean that is 0 gives 0 in both bytes; zlib
    over the interleaved array saved a third of the bytes at 2-3x the read time, the planes save more and
    read faster (docs/embedding.md).
    """
    table = entry_table(features)
    rows, cols = table.shape
    planes = np.ascontiguousarray(table.T).view(np.uint8).reshape(cols * rows, 2)  # little-endian: [low, high]
    high = zlib.compress(np.ascontiguousarray(planes[:, 1]).tobytes(), ENTRY_ZLIB_LEVEL)
    low = zlib.compress(np.ascontiguousarray(planes[:, 0]).tobytes(), ENTRY_ZLIB_LEVEL)
    return _HEADER.pack(ENTRY_MAGIC, _FORMAT_NUMBER, ENTRY_ZLIB_LEVEL, 0, rows, cols, len(high)) + high + low


def entry_table(features: Features) -> np.ndarray:
    """The one array an entry holds: ``features`` side by side (:data:`ENTRY_COLUMNS`) as float16 ``[n, width]``.

    Raises:
        ValueError: ``features`` is not a layout of :data:`ENTRY_LAYOUTS`, or a feature has the wrong shape.
    """
    names = FEATURE_ORDER[: len(features)]
    if set(features) != set(names) or names not in ENTRY_LAYOUTS.values():
        raise ValueError(f"no cache entry layout holds exactly {sorted(features)}")
    if any(np.ndim(features[n]) != 2 or np.shape(features[n])[1] != FEATURE_WIDTHS[n] for n in names):
        raise ValueError(f"features of the wrong shape: { {n: np.shape(features[n]) for n in names} }")
    return np.concatenate([np.asarray(features[n]) for n in names], axis=1).astype(ENTRY_DTYPE)


def entry_features(table: np.ndarray) -> Features:
    """An entry's array (:func:`entry_table`) back to features: float32 column slices of one ``[n, width]`` array.

    Raises:
        KeyError: the width is not one of :data:`ENTRY_LAYOUTS`.
    """
    names = ENTRY_LAYOUTS[table.shape[1]]
    wide = np.asarray(table, dtype=np.float32, order="C")
    return {n: wide[:, a:b] for n, (a, b) in ENTRY_COLUMNS.items() if n in names}


def decode_entry(source: str | os.PathLike[str] | IO[bytes]) -> Features | None:
    """An entry's features as float32 (at least embeddings and scores), or None if absent, unreadable or malformed.

    Each feature is a column slice of one float32 ``[n, width]`` array.
    """
    try:
        if hasattr(source, "read"):
            data = source.read()  # type: ignore[union-attr]
        else:
            with open(source, "rb") as f:
                data = f.read()
        magic, number, _, _, rows, cols, high_size = _HEADER.unpack_from(data)
        if magic != ENTRY_MAGIC or number != _FORMAT_NUMBER or cols not in ENTRY_LAYOUTS:
            return None
        start = _HEADER.size
        planes = np.empty((rows * cols, 2), np.uint8)
        planes[:, 1] = np.frombuffer(zlib.decompress(data[start : start + high_size]), np.uint8)
        planes[:, 0] = np.frombuffer(zlib.decompress(data[start + high_size :]), np.uint8)
    except (OSError, ValueError, struct.error, zlib.error):  # missing, truncated or not an entry: recompute it
        return None
    return entry_features(planes.view(ENTRY_DTYPE).reshape(cols, rows).T)


def as_stored(features: Features) -> Features:
    """``features`` as an entry holds them and :func:`decode_entry` returns them: float16-rounded, as float32.

    The encoding is lossless at float16 (tested), so a cold run hands training exactly what a warm one reads
    without reading its own entries back."""
    return {n: v.astype(ENTRY_DTYPE).astype(np.float32) for n, v in features.items()}


class EmbeddingCache:
    """One folder of entries per (YAMNet identity, clip view) on local disk (layout: :func:`entry_relative_path`)."""

    def __init__(self, cache_dir: Path, yamnet_identity: str, shift: int = 0) -> None:
        self.cache_dir = Path(cache_dir).expanduser()
        self.identity = yamnet_identity
        self.shift = shift
        self.root = self.cache_dir / entries_folder(yamnet_identity, shift)

    def path(self, digest: str) -> Path:
        return self.cache_dir / entry_relative_path(self.identity, self.shift, digest)

    def get(self, digest: str) -> Features | None:
        """The entry's features (at least embeddings and scores), or None if absent or unreadable."""
        return decode_entry(self.path(digest))

    def put(self, digest: str, features: Features) -> None:
        """Write the entry (atomically); :func:`as_stored` gives what a later :meth:`get` reads."""
        path = self.path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = encode_entry(features)
        write_bytes_atomic(path, lambda f: f.write(data))

    def check_writable(self) -> None:
        """Fail before any YAMNet work if entries cannot be written (a file in the way, no permission)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(self.root / ".write-test", lambda f: f.write(b"ok"))
            (self.root / ".write-test").unlink()
        except OSError as err:
            raise PipelineError(
                f"cache folder {self.root} is not writable ({err.strerror or err}); "
                f"choose another with --cache or ${CACHE_ENV_VAR}"
            ) from None


_RUNNERS: dict[int, tuple[Yamnet, PatchRunner]] = {}


def get_runner(yamnet: Yamnet) -> PatchRunner:
    """The batched runner for ``yamnet``, built once per process (splitting the graph takes ~1 s)."""
    entry = _RUNNERS.get(id(yamnet))
    if entry is None or entry[0] is not yamnet:
        entry = (yamnet, make_runner(yamnet))
        _RUNNERS[id(yamnet)] = entry
    return entry[1]


def embed_dataset(
    dataset: Dataset,
    yamnet: Yamnet,
    cache_dir: Path | None = None,
    shift: int = 0,
    batch_patches: int = DEFAULT_BATCH_PATCHES,
    workers: int = 2,
    on_progress: Callable[[int, int], None] | None = None,
) -> EmbeddingSet:
    """YAMNet's per-patch features for every clip of ``dataset``, from the cache where possible.

    ``shift`` drops that many samples from the start of each clip first: a different view of the
    same clip (denser effective hop) used only to augment training; evaluation uses ``shift=0``, the
    way the exported model sees audio. Clips that fail to decode are skipped and listed in
    ``skipped``. ``on_progress(done, total)`` is called as clips complete.
    """
    cache = EmbeddingCache(cache_dir or default_cache_dir(), yamnet.identity, shift)
    clips = dataset.clips
    stats = EmbedStats(clips=len(clips))

    def hash_and_read(clip: Clip) -> tuple[str, Features | None]:  # hashing and decoding release the GIL
        digest = file_digest(clip.path)
        return digest, cache.get(digest)

    with ThreadPoolExecutor(max(1, workers)) as pool:
        found = list(pool.map(hash_and_read, clips))
    digests = [d for d, _ in found]
    results: list[Features | None] = [r for _, r in found]
    stats.cached = sum(r is not None for r in results)
    done = stats.cached
    if on_progress:
        on_progress(done, len(clips))
    missing = [i for i, r in enumerate(results) if r is None]
    skipped: list[tuple[Path, str]] = []
    if missing:
        cache.check_writable()
        runner = get_runner(yamnet)
        # Entries are compressed and written by a thread of their own (zlib and file writes release the GIL),
        # off the thread that feeds the network.
        writer = ThreadPoolExecutor(1)
        writes: deque[Future] = deque()

        def finished(i: int, features: Features) -> None:
            nonlocal done
            results[i] = as_stored(features)
            writes.append(writer.submit(cache.put, digests[i], features))
            while writes and writes[0].done():
                writes.popleft().result()  # a failed write stops the run here, as a synchronous one did
            stats.computed += 1
            done += 1
            if on_progress:
                on_progress(done, len(clips))

        def failed(i: int, err: AudioError) -> None:
            nonlocal done
            skipped.append((clips[i].path, err.problem))
            stats.failed += 1
            done += 1
            if on_progress:
                on_progress(done, len(clips))

        try:
            _compute([clips[i] for i in missing], missing, runner, shift, batch_patches, workers, finished, failed,
                     stats)  # fmt: skip
        finally:  # an interrupted run still keeps every entry already handed to the writer
            writer.shutdown(wait=True)
        while writes:
            writes.popleft().result()
    keep = [i for i, r in enumerate(results) if r is not None]
    index = dataset.label_index()
    return EmbeddingSet(
        clip_ids=[clips[i].clip_id for i in keep],
        paths=[clips[i].path for i in keep],
        labels=np.array([index[clips[i].label] for i in keep], dtype=np.int64),
        label_names=list(dataset.labels),
        folds=np.array([0 if clips[i].fold is None else clips[i].fold for i in keep], dtype=np.int64),
        has_folds=any(c.fold is not None for c in clips),
        kind=dataset.kind,
        outputs=[results[i] for i in keep],  # type: ignore[misc]
        shift=shift,
        digests=[digests[i] for i in keep],
        yamnet_identity=yamnet.identity,
        skipped=list(dataset.skipped) + skipped,
        stats=stats,
    )


def shifted_view(wave: np.ndarray, shift: int) -> np.ndarray:
    """The clip as the view ``shift`` sees it: its first ``shift`` samples dropped."""
    if not shift:
        return wave
    wave = wave[shift:] if len(wave) > shift else wave[:0]
    return wave if len(wave) else np.zeros(1, np.float32)  # shorter than the shift: one silent patch


def _prepare(clip: Clip, runner: PatchRunner, shift: int) -> np.ndarray:
    """Worker-thread job: decode, apply the view's shift, and (batched path) frame into patches."""
    wave = shifted_view(load_audio(clip.path), shift)
    return runner.patches(wave) if runner.batched else wave


def _prefetch(items: list[Clip], runner: PatchRunner, shift: int, workers: int) -> Iterator[Future]:
    """Futures of :func:`_prepare` in order, at most a few ahead so memory stays bounded."""
    ahead = max(4, 8 * workers)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        queue: deque[Future] = deque()
        it = iter(items)
        for clip in it:
            queue.append(pool.submit(_prepare, clip, runner, shift))
            if len(queue) >= ahead:
                break
        while queue:
            yield queue.popleft()
            nxt = next(it, None)
            if nxt is not None:
                queue.append(pool.submit(_prepare, nxt, runner, shift))


def _compute(
    items: list[Clip],
    indices: list[int],
    runner: PatchRunner,
    shift: int,
    batch_patches: int,
    workers: int,
    finished: Callable[[int, Features], None],
    failed: Callable[[int, AudioError], None],
    stats: EmbedStats,
) -> None:
    """Feed patches from the prefetch queue to the network in batches that may span clips.

    A clip longer than a batch is split across calls; its outputs are stitched back together before
    it is written, so clip boundaries never depend on the batch size.
    """
    pending: deque[tuple[int, np.ndarray]] = deque()  # (dataset index, patches not yet run)
    partial: dict[int, list[Features]] = {}
    remaining: dict[int, int] = {}
    queued = 0

    def run_batch() -> None:
        nonlocal queued
        take, owners = [], []
        room = batch_patches
        while pending and room > 0:
            i, patches = pending[0]
            part, rest = patches[:room], patches[room:]
            take.append(part)
            owners.append((i, len(part)))
            room -= len(part)
            if len(rest):
                pending[0] = (i, rest)
            else:
                pending.popleft()
        batch = np.concatenate(take)
        queued -= len(batch)
        outputs = runner.run_padded(batch, batch_patches)  # always full-size calls: the same bits on any run
        stats.network_calls += 1
        stats.patches += len(batch)
        start = 0
        for i, n in owners:
            partial.setdefault(i, []).append({k: v[start : start + n] for k, v in outputs.items()})
            start += n
            remaining[i] -= n
            if remaining[i] == 0:
                parts = partial.pop(i)
                finished(i, {k: np.concatenate([p[k] for p in parts]) for k in parts[0]})

    for i, future in zip(indices, _prefetch(items, runner, shift, workers), strict=True):
        try:
            prepared = future.result()
        except AudioError as err:
            failed(i, err)
            continue
        if not runner.batched:
            features = runner.run_clip(prepared)
            stats.network_calls += 1
            stats.patches += len(features["embeddings"])
            finished(i, features)
            continue
        pending.append((i, prepared))
        remaining[i] = len(prepared)
        queued += len(prepared)
        while queued >= batch_patches:
            run_batch()
    while pending:
        run_batch()
