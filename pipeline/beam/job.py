"""Launch the Beam embedding job: find the model and the clips, build the runner's options, run, summarise."""

from __future__ import annotations

import difflib
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from .. import __version__
from ..datasets import Dataset, csv_header, is_jsonl, load_dataset
from ..embeddings import EmbedStats, default_cache_dir
from ..errors import BeamError, DatasetError, ModelLoadError
from ..events import OnMessage, ignore
from ..yamnet.model import hash_saved_model, locate_model_dir, resolve_handle
from . import RUNNERS, files
from .transforms import FAILURES_NAME, INDEX_PREFIX, JOB_NAME, METRICS_NAMESPACE, ClipSource, JobSpec, build

FAILURES_KEPT = 100
"""Failure lines returned to the caller (all of them are in the job's ``failures.jsonl``)."""


@dataclass
class BeamEmbedResult:
    """What a Beam embedding job did, counted from its output files (every runner writes those)."""

    out: str
    runner: str
    cache_dir: str
    yamnet_identity: str
    stats: EmbedStats = field(default_factory=EmbedStats)  # the local embedder's counts, for the same report
    seconds: float = 0.0
    failures: list[dict[str, Any]] = field(default_factory=list)  # the first FAILURES_KEPT
    metrics: dict[str, int] = field(default_factory=dict)  # the runner's counters, where it reports them


def resolve_model(handle: str | None) -> tuple[str, str]:
    """``(SavedModel folder, identity)``: a URL on a Beam filesystem is hashed where it is (so a bucket copy
    keys the same cache entries as the local one); anything else is what ``--yamnet`` means locally."""
    handle = resolve_handle(handle)
    if files.is_remote(handle) and files.scheme(handle) not in ("http", "https"):
        if not files.exists(files.join(handle, "saved_model.pb")):
            raise ModelLoadError(f"{handle} is not a SavedModel folder (no saved_model.pb inside)")
        return handle, hash_saved_model(handle, files.BeamFolder(handle))
    model_dir = locate_model_dir(handle)
    return str(model_dir), hash_saved_model(model_dir)


def clip_source(data: Dataset | str, manifest: str | None = None) -> ClipSource:
    """The clips of a local data set (listed here, by :mod:`pipeline.datasets`), a manifest file (read by the
    workers, any size, anywhere) or a folder-per-class on a Beam filesystem (listed by the workers)."""
    if isinstance(data, str) and not files.is_remote(data) and Path(data).is_dir() and not manifest:
        data = load_dataset(data, check_readable=False)
    if isinstance(data, Dataset):
        records = tuple({"path": str(c.path), "label": c.label, "fold": c.fold} for c in data.clips)
        return ClipSource(records=records)
    manifest = manifest or (data if is_jsonl(data) or data.lower().endswith(".csv") else None)
    if manifest is None and files.is_remote(data):
        return ClipSource(folder=data)
    if manifest is None or not files.exists(manifest):
        raise DatasetError(
            f"{manifest or data} does not exist or is not a data set: give --data a folder, a manifest "
            "(.csv with a path,label[,fold] header, or .jsonl), or a folder URL (gs://bucket/sounds)"
        )
    header = None
    if not is_jsonl(manifest):
        with files.open_read(manifest) as f:
            header = tuple(csv_header(f.readline().decode("utf-8-sig"), manifest))
    base = data if data != manifest else files.parent(manifest)
    return ClipSource(manifest=manifest, manifest_header=header, base=base)


def _flag(option: str) -> str:
    """``KEY=VALUE`` or ``KEY`` (or already ``--KEY...``) -> a Beam command-line flag."""
    return option if option.startswith("--") else f"--{option}"


def pipeline_options(runner: str, options: Sequence[str] = ()) -> PipelineOptions:
    """Beam's options for ``runner`` plus the user's ``KEY=VALUE`` options; an unknown option is an error.

    ``direct`` runs one SDK worker process per CPU (``direct_num_workers``, ``direct_running_mode`` override).
    Beam itself only logs and drops an option it does not know; a misspelt ``region`` would then send the job
    elsewhere, so this refuses it and names the closest known option.
    """
    if runner not in RUNNERS:
        raise BeamError(f"unknown runner '{runner}'; choose one of {', '.join(RUNNERS)}")
    user = [_flag(o) for o in options]
    flags = [f"--runner={RUNNERS[runner]}", *user]
    if runner == "direct":
        given = {f.split("=", 1)[0] for f in user}
        if "--direct_running_mode" not in given:
            flags.append("--direct_running_mode=multi_processing")
        if "--direct_num_workers" not in given:
            flags.append(f"--direct_num_workers={os.cpu_count() or 1}")
        if "--default_sdk_harness_log_level" not in given:  # the workers print to this terminal
            flags.append("--default_sdk_harness_log_level=ERROR")
    parsed = PipelineOptions(flags)
    parsers: list[Any] = []
    known = parsed.get_all_options(add_extra_args_fn=parsers.append)
    _, unknown = parsers[0].parse_known_args(flags)
    if unknown:
        name = unknown[0].lstrip("-").split("=", 1)[0]
        close = difflib.get_close_matches(name, list(known), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise BeamError(f"--beam-option {unknown[0].lstrip('-')}: not an option of Beam {beam.__version__}{hint}")
    return parsed


def _json_lines(pattern: str) -> Iterator[dict[str, Any]]:
    for path in files.matching(pattern):
        with files.open_read(path) as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)


def _counters(result: Any) -> dict[str, int]:
    """The job's counters in our namespace, summed over steps (empty where the runner reports none)."""
    try:
        query = result.metrics().query(beam.metrics.MetricsFilter().with_namespace(METRICS_NAMESPACE))
    except Exception:  # e.g. Spark's portable runner reports no metrics to the launcher
        return {}
    counters: dict[str, int] = {}
    for counter in query["counters"]:
        name = counter.key.metric.name
        counters[name] = counters.get(name, 0) + int(counter.committed or 0)
    return counters


def _warn_local_paths(runner: str, paths: dict[str, str], say: OnMessage) -> None:
    if runner == "direct":
        return
    for what, path in paths.items():
        if not files.is_remote(path):
            say(f"warning: {what} {path} is a local path: every worker must reach it (use a bucket or a shared mount)")


def embed_with_beam(
    data: Dataset | str,
    runner: str = "direct",
    *,
    manifest: str | None = None,
    cache_dir: str | None = None,
    out: str | None = None,
    yamnet: str | None = None,
    options: Sequence[str] = (),
    classes: Sequence[str] = (),
    folds: Sequence[int] = (),
    shift: int = 0,
    on_message: OnMessage = ignore,
) -> BeamEmbedResult:
    """Embed clips into the cache with a Beam pipeline on ``runner``; waits for the job and counts its output.

    Args:
        data: a local data set (a loaded :class:`~pipeline.datasets.Dataset`, or its folder), a manifest file
            (CSV ``path,label[,fold]`` with a header, or JSON Lines; local or on any Beam filesystem), or a
            folder-per-class URL (``gs://bucket/sounds``). Relative manifest paths are taken from ``data``
            when ``manifest`` is given separately, else from the manifest's folder.
        cache_dir: the cache root (local or a URL); default: the local cache (:func:`default_cache_dir`).
        out: where the job writes ``index-*.jsonl``, ``failures.jsonl`` and ``beam-job.json``;
            default ``CACHE/beam/<UTC time>``. Must not already hold a job's index.
        yamnet: a SavedModel folder every worker can read (a bucket URL on a cluster), or a TF Hub handle
            (downloaded here: fine for ``direct`` only).
        options: Beam pipeline options as ``KEY=VALUE`` (``project=P``, ``region=R``, ``flink_master=H:P``,
            ``direct_num_workers=4``, ...); an unknown key is an error.
        classes, folds: only these (as ``--classes``/``--folds`` locally).

    Raises:
        BeamError: apache-beam missing, unknown runner or option, a job that failed as a whole.
        ModelLoadError, DatasetError: as for the local embedder.

    A clip that cannot be read or decoded is a line in ``failures.jsonl`` (and in the result), never a
    failed job; a clip whose entry exists is skipped after hashing, before decoding.
    """
    say = on_message
    beam_options = pipeline_options(runner, options)
    cache = str(cache_dir or default_cache_dir())
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = out or files.join(cache, f"beam/{stamp}")
    if files.matching(files.join(out, f"{INDEX_PREFIX}-*.jsonl")):
        raise BeamError(f"{out} already holds the index of a Beam job; give --out a new folder")
    model_path, identity = resolve_model(yamnet)
    say(f"YAMNet {identity[:12]} from {model_path}")
    source = clip_source(data, manifest)
    source = ClipSource(**{**asdict(source), "classes": tuple(classes), "folds": tuple(folds)})
    if source.records:
        say(f"{len(source.records)} clips listed")
    else:
        say(f"clips listed by the workers from {source.manifest or source.folder}")
    _warn_local_paths(runner, {"--yamnet": model_path, "--cache": cache, "--out": out}, say)
    spec = JobSpec(yamnet=model_path, identity=identity, cache_dir=cache, out=out, shift=shift)
    workers = beam_options.get_all_options().get("direct_num_workers") if runner == "direct" else None
    say(f"running on {RUNNERS[runner]}" + (f" with {workers} worker processes" if workers else "") + f"; output {out}")
    started = time.perf_counter()
    pipeline = beam.Pipeline(options=beam_options)
    build(pipeline, source, spec)
    try:
        outcome = pipeline.run()
        job_id = getattr(outcome, "job_id", None)
        if callable(job_id):  # a cluster job: its id, to find it in the runner's console
            say(f"submitted job {job_id()}")
        state = outcome.wait_until_finish()
    except Exception as err:  # the runner's own failure (options, cluster, workers): one line, the job is gone
        lines = [line for line in str(err).strip().splitlines() if line.strip()]
        raise BeamError(
            f"the Beam job failed on {RUNNERS[runner]}: {lines[-1] if lines else type(err).__name__}"
        ) from None
    if str(state).split(".")[-1] not in ("DONE", "None"):
        raise BeamError(f"the Beam job ended in state {state} on {RUNNERS[runner]}")
    result = BeamEmbedResult(out=out, runner=RUNNERS[runner], cache_dir=cache, yamnet_identity=identity)
    result.seconds = round(time.perf_counter() - started, 2)
    result.metrics = _counters(outcome)
    stats = result.stats
    stats.network_calls = result.metrics.get("network_calls", 0)
    for line in _json_lines(files.join(out, f"{INDEX_PREFIX}-*.jsonl")):
        stats.clips += 1
        stats.cached += line["status"] == "cached"
        stats.computed += line["status"] == "computed"
        stats.patches += line.get("patches", 0)
    for line in _json_lines(files.join(out, FAILURES_NAME)):
        stats.clips += 1
        stats.failed += 1
        if len(result.failures) < FAILURES_KEPT:
            result.failures.append(line)
    summary = {k: v for k, v in asdict(result).items() if k not in ("failures", "stats")}
    job = {
        **summary,
        **asdict(stats),
        "yamnet": model_path,
        "shift": shift,
        "started": stamp,
        "yamnet_tfjs": __version__,
    }
    files.write_atomic(files.join(out, JOB_NAME), (json.dumps(job, indent=2) + "\n").encode())
    return result
