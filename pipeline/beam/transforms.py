"""The Beam embedding pipeline: list clips, hash, skip cached ones, decode, YAMNet, write cache entries.

::

    clips: a local data set (records made by pipeline.datasets) | a manifest read line by line by the workers
           | a folder-per-class in a bucket (MatchFiles)                               small {path, label, fold}
      | Reshuffle                spread them over the workers; everything below is one fused stage, so a
                                 decoded waveform never crosses a worker boundary
      | PrepareClip              sha256 of the bytes -> entry exists? -> "cached" (nothing decoded)
                                 else decode with pipeline.audio.load_audio        -> "failed" on any error
      | RunInference(YamnetHandler)   the front end per clip; the network on 64-row batches gathered across
                                 clips, exactly as the local embedder runs it (same bits)
      | WriteEntry               pipeline.embeddings.encode_entry -> the entry, atomically
    -> OUT/index-*.jsonl {path, label, fold, digest, status, patches} and OUT/failures.jsonl {path, stage, error}

A clip's failure (unreadable, undecodable, a batch that throws) becomes a line in the failures output; it
never stops the job. The cache layout and the entry's bytes come from :mod:`pipeline.embeddings`, the
decoding from :mod:`pipeline.audio`, the YAMNet split from :mod:`pipeline.yamnet.runner`: this module only
moves data between them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, RunInference

from ..audio import audio_info, load_audio
from ..checksums import hash_stream
from ..constants import AUDIO_EXTENSIONS, num_patches
from ..datasets import parse_manifest_line
from ..embeddings import DEFAULT_BATCH_PATCHES, encode_entry, entry_relative_path, file_digest, shifted_view
from ..errors import AudioError, PipelineError
from ..yamnet.runner import PatchRunner
from . import files

INDEX_PREFIX = "index"
"""The job's output folder holds ``index-SSSSS-of-NNNNN.jsonl`` (a line per clip embedded or found cached),"""
FAILURES_NAME = "failures.jsonl"
"""``failures.jsonl`` (a line per clip that could not be embedded, with its error) and"""
JOB_NAME = "beam-job.json"
"""``beam-job.json`` (what the job was and what it did; written by the launcher when the job is done)."""
METRICS_NAMESPACE = "yamnet_tfjs"

Record = dict[str, Any]
"""One clip on its way: ``path``, ``label``, ``fold`` (None without folds); later ``digest``, ``status``."""

FAILED = "failed"
CACHED = "cached"


@dataclass(frozen=True)
class JobSpec:
    """What one embedding job does; pickled to every worker (small: paths and numbers only)."""

    yamnet: str  # SavedModel folder every worker can read (local path or URL)
    identity: str  # its hash_saved_model, computed once by the launcher
    cache_dir: str  # cache root, local or URL: entries go to cache_dir/entry_relative_path(...)
    out: str  # index and failures
    shift: int = 0
    batch_rows: int = DEFAULT_BATCH_PATCHES  # rows per network call: the local embedder's, for the same bits
    batch_patches: int = 10 * DEFAULT_BATCH_PATCHES  # patches a RunInference batch gathers across clips

    def entry_path(self, digest: str) -> str:
        return files.join(self.cache_dir, entry_relative_path(self.identity, self.shift, digest))


def _failure(path: str, stage: str, error: str) -> Record:
    return {"path": path, "stage": stage, "error": error}


# --- inputs -------------------------------------------------------------------------------------


def folder_record(path: str, root: str) -> Record | None:
    """``root/<label>/**/<file>`` -> a record; hidden class folders and non-audio files -> None."""
    parts = path[len(root.rstrip("/")) + 1 :].split("/")
    if len(parts) < 2 or parts[0].startswith(".") or files.suffix(path).lower() not in AUDIO_EXTENSIONS:
        return None
    return {"path": path, "label": parts[0], "fold": None}


class ParseManifestLine(beam.DoFn):
    """One manifest line -> a record (:func:`pipeline.datasets.parse_manifest_line`), or a failure line.

    Relative paths are taken from ``base`` (the data folder, else the manifest's folder), as locally.
    """

    def __init__(self, manifest: str, header: list[str] | None, base: str) -> None:
        self.manifest, self.header, self.base = manifest, header, base

    def process(self, line: str) -> Iterator[Any]:
        try:
            row = parse_manifest_line(line, self.header, f"row '{line.strip()[:200]}'")
        except PipelineError as err:
            yield beam.pvalue.TaggedOutput(FAILED, _failure(self.manifest, "manifest", str(err)))
            return
        if row is not None:
            text, label, fold = row
            path = text if files.is_remote(text) or os.path.isabs(text) else files.join(self.base, text)
            yield {"path": path, "label": label, "fold": fold}


@dataclass(frozen=True)
class ClipSource:
    """Where the clips come from: records listed by the launcher, a manifest, or a folder-per-class URL."""

    records: tuple[Record, ...] = ()
    manifest: str | None = None
    manifest_header: tuple[str, ...] | None = None  # CSV columns; None: JSON Lines
    base: str = ""
    folder: str | None = None
    classes: tuple[str, ...] = ()
    folds: tuple[int, ...] = ()


def read_clips(p: beam.Pipeline, source: ClipSource) -> tuple[beam.PCollection, list[beam.PCollection]]:
    """Clip records, and the failures made while listing them (bad manifest rows)."""
    failures: list[beam.PCollection] = []
    if source.manifest:
        header = list(source.manifest_header) if source.manifest_header is not None else None
        parsed = (
            p
            | "ReadManifest" >> beam.io.ReadFromText(source.manifest, skip_header_lines=0 if header is None else 1)
            | "ParseManifest"
            >> beam.ParDo(ParseManifestLine(source.manifest, header, source.base)).with_outputs(FAILED, main="clips")
        )
        records, failures = parsed.clips, [parsed[FAILED]]
    elif source.folder:
        root = source.folder.rstrip("/")
        records = (
            p
            | "ListFolder" >> beam.io.fileio.MatchFiles(files.join(root, "**"))
            | "FolderRecords" >> beam.FlatMap(lambda m, r: [x] if (x := folder_record(m.path, r)) else [], root)
        )
    else:
        records = p | "Clips" >> beam.Create(list(source.records), reshuffle=False)
    if source.classes or source.folds:
        classes, folds = set(source.classes), set(source.folds)
        records = records | "OnlySome" >> beam.Filter(
            lambda r: (not classes or r["label"] in classes) and (not folds or r["fold"] in folds)
        )
    return records, failures


# --- per clip: hash, skip if cached, decode -------------------------------------------------------


def _read_problem(err: Exception) -> str:
    """A read error in the words :mod:`pipeline.audio` uses for local files."""
    if isinstance(err, FileNotFoundError):
        return "file not found"
    if isinstance(err, OSError) and err.strerror:
        return f"cannot be read ({err.strerror})"
    return f"cannot be read ({type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''})"


class PrepareClip(beam.DoFn):
    """Hash a clip's bytes (the cache key); if its entry is missing, decode it with the product's own code.

    Local files are checked like :func:`pipeline.datasets.load_dataset` checks them (a FIFO or a folder is
    refused before anything blocks on it), hashed and decoded in place. A file on another filesystem is read
    once through FileSystems into a local temp file while it is hashed, because ``load_audio`` takes a path
    (libsndfile opens it itself); the temp file keeps the extension, so the error messages stay the same.
    Outputs: ``(record, waveform)``; ``cached`` records; ``failed`` lines.
    """

    def __init__(self, spec: JobSpec) -> None:
        self.spec = spec

    def setup(self) -> None:
        self.tmpdir = tempfile.mkdtemp(prefix="yamnet-beam-")
        self.clips = Metrics.counter(METRICS_NAMESPACE, "clips")
        self.cached = Metrics.counter(METRICS_NAMESPACE, "cached")
        self.failed = Metrics.counter(METRICS_NAMESPACE, "failed")

    def teardown(self) -> None:
        shutil.rmtree(getattr(self, "tmpdir", ""), ignore_errors=True)

    def process(self, record: Record) -> Iterator[Any]:
        self.clips.inc()
        path = record["path"]
        stage = "read"
        tmp = None
        try:
            if files.is_remote(path):
                tmp, digest = self._fetch(path)
                local = tmp
            else:
                audio_info(path)  # AudioError for a missing, empty or special file, before hashing it
                local, digest = path, file_digest(path)
            record = {**record, "digest": digest}
            if files.exists(self.spec.entry_path(digest)):
                self.cached.inc()
                yield beam.pvalue.TaggedOutput(CACHED, {**record, "status": "cached"})
                return
            stage = "decode"
            yield record, shifted_view(load_audio(local), self.spec.shift)
        except AudioError as err:
            self.failed.inc()
            yield beam.pvalue.TaggedOutput(FAILED, _failure(path, stage, err.problem))
        except Exception as err:  # permissions, network, a vanished object: this clip only, never the job
            self.failed.inc()
            yield beam.pvalue.TaggedOutput(FAILED, _failure(path, stage, _read_problem(err)))
        finally:
            if tmp:
                os.unlink(tmp)

    def _fetch(self, path: str) -> tuple[str, str]:
        """Copy a remote file to a local temp file, hashing it on the way: ``(temp path, sha256)``."""
        digest = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(suffix=files.suffix(path), dir=self.tmpdir)
        try:
            with os.fdopen(fd, "wb") as out, files.open_read(path) as src:
                hash_stream(digest, src, copy_to=out)
        except BaseException:
            os.unlink(tmp)
            raise
        return tmp, digest.hexdigest()


# --- YAMNet through RunInference ------------------------------------------------------------------


def clip_patches(element: tuple[Record, np.ndarray]) -> int:
    """A clip's weight for RunInference's batching: its number of YAMNet patches."""
    return num_patches(len(element[1]))


class LazyYamnet:
    """YAMNet, loaded on first use rather than when the worker starts.

    RunInference loads its model in every worker's ``setup``; a rerun on a full cache then paid ~15 s of
    CPU per worker process for a model it never calls. Loaded here on the first batch instead, once per
    process (RunInference shares the handler's model object across the process's threads).
    """

    def __init__(self, model_path: str) -> None:
        self.model_path = model_path
        self._runner: PatchRunner | None = None
        self._lock = threading.Lock()  # a worker may run several bundles at once: load one YAMNet, not several

    def runner(self) -> PatchRunner:
        with self._lock:
            if self._runner is None:
                from ..yamnet import load_yamnet
                from ..yamnet.runner import make_runner

                self._runner = make_runner(load_yamnet(files.local_copy_of_folder(self.model_path)))
        return self._runner


class YamnetHandler(ModelHandler):
    """RunInference handler: YAMNet split like the local embedder's, the network on batches across clips.

    Examples are ``(record, waveform)``; a batch is a few clips whose patches add up to about
    ``spec.batch_patches``. The front end runs per clip, the patches are concatenated, and the network runs
    on chunks of exactly ``spec.batch_rows`` rows (the last zero-padded, :meth:`PatchRunner.run_padded`), as
    the local embedder calls it, so the features are the same bits. Not TF's ``TFModelHandlerTensor``: it
    loads through Keras (refused for a SavedModel under Keras 3) and batches waveforms, which YAMNet's
    ``[None]`` signature cannot take.
    """

    def __init__(self, spec: JobSpec) -> None:
        super().__init__(
            min_batch_size=spec.batch_patches, max_batch_size=spec.batch_patches, element_size_fn=clip_patches
        )
        self.spec = spec

    def load_model(self) -> LazyYamnet:
        return LazyYamnet(self.spec.yamnet)

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE

    def get_num_bytes(self, batch: Sequence[tuple[Record, np.ndarray]]) -> int:
        return sum(wave.nbytes for _, wave in batch)

    def run_inference(
        self,
        batch: Sequence[tuple[Record, np.ndarray]],
        model: LazyYamnet,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[tuple[Record, dict[str, np.ndarray] | None, str | None]]:
        """``(record, features, None)`` per clip, or ``(record, None, error)`` for a clip whose front end failed."""
        runner = model.runner()
        if not runner.batched:  # a graph that cannot be split: per-clip hub calls, as the local embedder does
            return [(record, runner.run_clip(wave), None) for record, wave in batch]
        prepared: list[tuple[Record, np.ndarray | None, str | None]] = []
        for record, wave in batch:
            try:
                prepared.append((record, runner.patches(wave), None))
            except Exception as err:  # one odd clip must not fail its batch
                prepared.append((record, None, f"YAMNet front end: {type(err).__name__}: {err}"))
        good = [patches for _, patches, _ in prepared if patches is not None]
        outputs = self._network(runner, np.concatenate(good)) if good else {}
        results: list[tuple[Record, dict[str, np.ndarray] | None, str | None]] = []
        start = 0
        for record, patches, error in prepared:
            if patches is None:
                results.append((record, None, error))
                continue
            results.append((record, {k: v[start : start + len(patches)] for k, v in outputs.items()}, None))
            start += len(patches)
        return results

    def _network(self, runner: PatchRunner, patches: np.ndarray) -> dict[str, np.ndarray]:
        rows = self.spec.batch_rows
        parts = [runner.run_padded(patches[i : i + rows], rows) for i in range(0, len(patches), rows)]
        calls = len(parts)
        Metrics.counter(METRICS_NAMESPACE, "network_calls").inc(calls)
        Metrics.counter(METRICS_NAMESPACE, "patches").inc(len(patches))
        Metrics.counter(METRICS_NAMESPACE, "padded_rows").inc(calls * rows - len(patches))
        return {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}


class WriteEntry(beam.DoFn):
    """Write a clip's features to its cache entry (:func:`pipeline.embeddings.encode_entry`); emit its index line."""

    def __init__(self, spec: JobSpec) -> None:
        self.spec = spec

    def setup(self) -> None:
        self.computed = Metrics.counter(METRICS_NAMESPACE, "computed")
        self.failed = Metrics.counter(METRICS_NAMESPACE, "failed")

    def process(self, result: tuple[Record, dict[str, np.ndarray] | None, str | None]) -> Iterator[Any]:
        record, features, error = result
        if features is None:
            self.failed.inc()
            yield beam.pvalue.TaggedOutput(FAILED, _failure(record["path"], "inference", error or "no output"))
            return
        try:
            files.write_atomic(self.spec.entry_path(record["digest"]), encode_entry(features))
        except Exception as err:
            self.failed.inc()
            yield beam.pvalue.TaggedOutput(FAILED, _failure(record["path"], "write", f"{type(err).__name__}: {err}"))
            return
        self.computed.inc()
        yield {**record, "status": "computed", "patches": len(features["embeddings"])}


def failed_batch(item: tuple[Any, Exception]) -> Iterator[Record]:
    """RunInference's dead letters ``(batch, exception)`` -> one failure line per clip of the batch."""
    batch, exc = item
    for element in batch if isinstance(batch, (list, tuple)) else [batch]:
        record = element[0] if isinstance(element, tuple) and isinstance(element[0], dict) else {}
        yield _failure(record.get("path", "?"), "inference", f"{type(exc).__name__}: {exc}")


# --- the pipeline ---------------------------------------------------------------------------------


def build(p: beam.Pipeline, source: ClipSource, spec: JobSpec) -> None:
    """Add the whole job to ``p``: clips in, cache entries, index and failures out."""
    records, listing_failures = read_clips(p, source)
    prepared = (
        records
        | "Spread" >> beam.Reshuffle()
        | "HashDecode" >> beam.ParDo(PrepareClip(spec)).with_outputs(FAILED, CACHED, main="waves")
    )
    inferred, dead = prepared.waves | "YAMNet" >> RunInference(YamnetHandler(spec)).with_exception_handling()
    written = inferred | "WriteEntries" >> beam.ParDo(WriteEntry(spec)).with_outputs(FAILED, main="index")
    dead_lines = dead.failed_inferences | "DeadBatches" >> beam.FlatMap(failed_batch)
    failures = (*listing_failures, prepared[FAILED], written[FAILED], dead_lines) | "Failures" >> beam.Flatten()
    _ = (
        failures
        | "FailuresJSON" >> beam.Map(json.dumps)
        | "WriteFailures"
        >> beam.io.WriteToText(files.join(spec.out, FAILURES_NAME), shard_name_template="", num_shards=1)
    )
    _ = (
        (written.index, prepared[CACHED])
        | "Index" >> beam.Flatten()
        | "IndexJSON" >> beam.Map(json.dumps)
        | "WriteIndex" >> beam.io.WriteToText(files.join(spec.out, INDEX_PREFIX), file_name_suffix=".jsonl")
    )
