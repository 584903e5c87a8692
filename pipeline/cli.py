"""The ``yamnet-tfjs`` command line: a thin Typer layer.

Each command parses its options, calls one library function (the same ones the tests call) and
turns :class:`~pipeline.errors.PipelineError` into one ``error:`` line and a non-zero exit code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from . import __version__
from .console import error, info, out_console, progress
from .constants import DEFAULT_LAYERS, DEFAULT_YAMNET_HANDLE, FEATURE_ORDER, LAYER_WIDTHS, YAMNET_ENV_VAR
from .errors import PipelineError
from .js.runtimes import selection_help
from .layout import QUANTIZED

if TYPE_CHECKING:
    from .embeddings import EmbedStats

app = typer.Typer(
    name="yamnet-tfjs",
    help=(
        "Turn a folder of labelled sounds into a YAMNet-based sound classifier that runs in the browser "
        "(TF.js). Stages: embed -> train -> export -> parity -> site; `run` does them all."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

YamnetOption = Annotated[
    str | None,
    typer.Option(
        "--yamnet",
        help=(
            f"YAMNet to use: a TF Hub/Kaggle handle or a local SavedModel folder. Default: ${YAMNET_ENV_VAR}, "
            f"else {DEFAULT_YAMNET_HANDLE}. Offline: --yamnet ../shared/models/yamnet"
        ),
        show_default=False,
    ),
]


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a PipelineError into one red line on stderr and exit code 1 (no traceback)."""
    try:
        yield
    except PipelineError as err:
        error(str(err))
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        error("interrupted")
        raise typer.Exit(130) from None


def _version(value: bool) -> None:
    if value:
        out_console.print(f"yamnet-tfjs {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Turn a folder of labelled sounds into a YAMNet-based sound classifier that runs in the browser."""


@app.command()
def classify(
    audio: Annotated[list[Path], typer.Argument(help="Audio files (WAV, FLAC, OGG, MP3; any rate and channels).")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=521, help="How many classes to show.")] = 5,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON: a list, one entry per file ({file, error} for a failed one).")
    ] = False,
    timeline: Annotated[bool, typer.Option("--timeline", help="Also give each 0.48 s patch's top class.")] = False,
    yamnet: YamnetOption = None,
) -> None:
    """Classify audio files with YAMNet's 521 AudioSet classes (scores averaged over 0.96 s patches).

    A file that cannot be read is reported by name and skipped; the exit code is 1 if any failed.
    """
    from .classify import classify_files
    from .yamnet import load_yamnet

    with user_errors():
        model = load_yamnet(yamnet)
    _classify_each(audio, lambda paths, done: classify_files(model, paths, top_k, timeline, done), as_json, timeline)


def _classify_each(audio: list[Path], run_files, as_json: bool, timeline: bool) -> None:
    """What `classify` and `predict` share: run every file with a progress bar, print the results (JSON
    or a table; bad files by name on stderr) and exit 1 if any file failed."""
    with progress("files") as bar:
        task = bar.add_task("classify", total=len(audio))
        results, errors = run_files(audio, lambda _entry: bar.advance(task))
    for err in errors:
        error(str(err))
    if as_json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        _print_classification(results, timeline)
    if errors:
        info(f"{len(errors)} of {len(audio)} file(s) failed")
        raise typer.Exit(1)


def _print_classification(results: list[dict], timeline: bool) -> None:
    for result in results:
        if "error" in result:  # already reported on stderr
            continue
        out_console.print(f"[bold]{escape(result['file'])}[/] ({result['duration']:.2f} s)")
        decision = result.get("decision")
        if decision:
            verdict = (
                "[yellow]unknown[/]: none of the model's classes"
                if decision["label"] == "unknown"
                else f"[green]{escape(decision['label'])}[/]"
            )
            out_console.print(
                f"  → {verdict}  [dim](score {decision['score']:.3f}, threshold {decision['threshold']:.3f})[/]"
            )
        for rank, row in enumerate(result["top"], 1):
            out_console.print(f"  {rank:>2}. {escape(row['label']):<40} {row['score']:.3f}  [dim](#{row['index']})[/]")
        for row in result.get("timeline", []):
            out_console.print(f"     {row['start']:7.2f} s  {escape(row['label']):<40} {row['score']:.3f}")
        if "events" in result:
            out_console.print(f"  events: {len(result['events'])}" + ("" if result["events"] else " (none)"))
            for event in result["events"]:
                out_console.print(f"     {escape(event['text'])}")


# --- embed / train (data sets, cached embeddings, head training) ---------------------------------

DataOption = Annotated[
    str,
    typer.Option(
        "--data",
        "-d",
        help="Data set folder: ESC-50 (meta/esc50.csv + audio/) or DIR/<label>/*.wav|flac|ogg|mp3 "
        "(optional DIR/manifest.csv: path,label[,fold]). The word 'esc50' downloads ESC-50 into the cache.",
    ),
]
DataFormatOption = Annotated[
    str, typer.Option("--data-format", help="esc50, folders, or auto (esc50 if meta/esc50.csv exists).")
]
ManifestOption = Annotated[
    Path | None, typer.Option("--manifest", help="CSV manifest path,label[,fold] (default: DIR/manifest.csv).")
]
CacheOption = Annotated[
    Path | None,
    typer.Option(
        "--cache", help="Cache folder (default: $YAMNET_TFJS_CACHE or ~/.cache/yamnet-tfjs).", show_default=False
    ),
]
ClassesOption = Annotated[str | None, typer.Option("--classes", help="Only these classes, comma-separated.")]
FoldsOption = Annotated[str | None, typer.Option("--folds", help="Only these folds, comma-separated, e.g. 1,2.")]


def _load_data(
    data: str,
    data_format: str,
    manifest: Path | None,
    cache: Path | None,
    classes: str | None,
    folds: str | None = None,
    check_readable: bool = True,
):
    """Read the data set, print class counts, skipped files and warnings; return (dataset, cache dir).

    ``check_readable=False`` leaves unreadable files in (the Beam embedder lists them in its failures)."""
    from .console import warn
    from .datasets import load_dataset
    from .download import resolve_data
    from .embeddings import default_cache_dir

    cache_dir = cache or default_cache_dir()
    dataset = load_dataset(resolve_data(data, cache_dir), data_format, manifest, check_readable)
    if classes:
        dataset = dataset.subset(classes=[c.strip() for c in classes.split(",") if c.strip()])
    if folds:
        dataset = dataset.subset(folds=_int_list(folds))
    counts = dataset.class_counts()
    fold_text = dataset.folds or "none"
    info(f"{dataset.root} ({dataset.kind}): {len(dataset.clips)} clips, {len(counts)} classes, folds {fold_text}")
    info("  " + ", ".join(f"{label} {n}" for label, n in counts.items()))
    for path, problem in dataset.skipped:
        warn(f"skipped {path}: {problem}")
    for message in dataset.warnings:
        warn(message)
    return dataset, cache_dir


def _load_background(folder: Path | None, dataset):
    """``--background``'s set (None without it): its file count, and every skipped file by name."""
    if folder is None:
        return None
    from .background import load_background
    from .console import warn

    background = load_background(folder, dataset.root, dataset.labels)
    info(f"{background.root} (background): {len(background.clips)} files")
    for path, problem in background.skipped:
        warn(f"skipped {path}: {problem}")
    return background


def _int_list(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise PipelineError(f"--folds takes whole numbers separated by commas, got '{text}'") from None


RunnerOption = Annotated[
    str | None,
    typer.Option(
        "--runner",
        help="Run the embedding as an Apache Beam pipeline on this runner: direct (this machine, one worker "
        "process per CPU), dataflow, flink, spark, or portable (a job server you started). Same cache entries "
        "as without it. Needs pip install 'yamnet-tfjs[beam]'; commands for each runner: docs/scale.md.",
        show_default=False,
    ),
]
BeamOptionOption = Annotated[
    list[str] | None,
    typer.Option(
        "--beam-option",
        help="With --runner: a Beam pipeline option KEY=VALUE (repeatable), e.g. project=P, region=R, "
        "temp_location=gs://B/tmp, flink_master=HOST:PORT, direct_num_workers=4.",
        show_default=False,
    ),
]
BeamOutOption = Annotated[
    str | None,
    typer.Option(
        "--out",
        help="With --runner: folder (local or a URL) for the job's index-*.jsonl, failures.jsonl and "
        "beam-job.json. Default: CACHE/beam/<time>.",
        show_default=False,
    ),
]
EmbedCacheOption = Annotated[
    str | None,
    typer.Option(
        "--cache",
        help="Cache folder (default: $YAMNET_TFJS_CACHE or ~/.cache/yamnet-tfjs); with --runner also a URL "
        "(gs://B/yamnet-cache).",
        show_default=False,
    ),
]


@app.command()
def embed(
    data: DataOption,
    data_format: DataFormatOption = "auto",
    manifest: ManifestOption = None,
    cache: EmbedCacheOption = None,
    classes: ClassesOption = None,
    folds: FoldsOption = None,
    yamnet: YamnetOption = None,
    runner: RunnerOption = None,
    beam_options: BeamOptionOption = None,
    out: BeamOutOption = None,
) -> None:
    """Compute YAMNet patch features for a data set into the cache (a rerun costs no YAMNet call).

    With --runner, as an Apache Beam pipeline: then --data may also be a manifest file (CSV path,label[,fold]
    or JSON Lines) or a folder of class folders, local or on any Beam filesystem (gs://, s3://, hdfs://).
    """
    import time

    if runner is not None:
        _embed_with_beam(data, data_format, manifest, cache, classes, folds, yamnet, runner, beam_options, out)
        return
    from .embeddings import embed_dataset
    from .yamnet import load_yamnet

    with user_errors():
        if beam_options or out:
            raise PipelineError("--beam-option and --out are options of a Beam job: add --runner direct (or another)")
        dataset, cache_dir = _load_data(data, data_format, manifest, Path(cache) if cache else None, classes, folds)
        model = load_yamnet(yamnet)
        start = time.perf_counter()
        with progress("clips") as bar:
            task = bar.add_task("embed", total=len(dataset.clips))
            result = embed_dataset(
                dataset, model, cache_dir, on_progress=lambda done, _: bar.update(task, completed=done)
            )
        seconds = time.perf_counter() - start
    _embed_summary(result.stats, seconds, str(cache_dir))
    for path, problem in result.skipped[len(dataset.skipped) :]:
        error(f"{path}: {problem}")


def _embed_summary(s: EmbedStats, seconds: float, cache_dir: str, where: str = "") -> None:
    """The line both embedders end with: clips embedded (cached or computed) and failed, time, cache."""
    info(
        f"{s.cached + s.computed} clips ({s.cached} cached, {s.computed} computed, {s.failed} failed) "
        f"in {seconds:.1f} s{where} -> {escape(cache_dir)}"
    )


def _embed_with_beam(
    data: str,
    data_format: str,
    manifest: Path | None,
    cache: str | None,
    classes: str | None,
    folds: str | None,
    yamnet: str | None,
    runner: str,
    beam_options: list[str] | None,
    out: str | None,
) -> None:
    """``embed --runner``: a local data set is read here as ``train`` reads it; a manifest file or a URL is
    listed by the workers. Every clip that fails is printed (the first 100) and is in failures.jsonl."""
    import logging

    from .beam import require_beam

    with user_errors():
        require_beam()
        root, swallow = logging.getLogger(), logging.NullHandler()
        root.addHandler(swallow)  # Beam's import calls logging.warning(), which would give the root logger a
        try:  # handler printing every library's log lines to this terminal
            from .beam.job import embed_with_beam
        finally:
            root.removeHandler(swallow)
        logging.getLogger("apache_beam").setLevel(logging.ERROR)  # its INFO/WARNING chatter; errors still show

        listed_here = "://" not in data and not Path(data).is_file()
        source = (
            _load_data(data, data_format, manifest, Path(cache) if cache else None, classes, folds, False)[0]
            if listed_here
            else data
        )
        result = embed_with_beam(
            source,
            runner,
            manifest=None if listed_here or manifest is None else str(manifest),
            cache_dir=cache,
            out=out,
            yamnet=yamnet,
            options=beam_options or [],
            classes=[] if listed_here or not classes else [c.strip() for c in classes.split(",") if c.strip()],
            folds=[] if listed_here else _int_list(folds) or [],
            on_message=lambda message: info(escape(message)),
        )
    _embed_summary(result.stats, result.seconds, result.cache_dir, f" on {result.runner}")
    info(f"index and failures in {escape(result.out)}")
    for failure in result.failures:
        error(f"{failure['path']}: {failure['error']}")
    if result.stats.failed > len(result.failures):
        info(f"... and {result.stats.failed - len(result.failures)} more in {escape(result.out)}/failures.jsonl")


SeedOption = Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same head.")]
EpochsOption = Annotated[
    int | None,
    typer.Option(
        "--epochs", min=1, help="Epoch cap (default 20; the learning rate decays to 0 by then).", show_default=False
    ),
]
BackgroundOption = Annotated[
    Path | None,
    typer.Option(
        "--background",
        help="A folder of sounds that are none of the classes (speech, room noise, music; any depth, outside "
        "--data). The head learns them as an extra class it then leaves out, which trains the 'unknown' "
        "decision, and the report shows false alarms per hour of this audio (each fold's files judged by the "
        "head that never saw them).",
        show_default=False,
    ),
]
RejectBudgetOption = Annotated[
    float,
    typer.Option(
        "--reject-budget",
        min=0.0,
        max=0.5,
        help="Known-class accuracy the 'unknown' decision may cost, as a fraction (0: never reject).",
    ),
]
WithScoresOption = Annotated[
    bool, typer.Option("--with-scores/--no-scores", help="Also feed YAMNet's 521 scores to the head.")
]
LayersOption = Annotated[
    str,
    typer.Option(
        "--layers",
        help="YAMNet blocks whose pooled outputs the head reads besides the embedding: a range (9-13), "
        "a list (11,13) or 'none' (embedding only). What each block buys: docs/training.md.",
    ),
]
EnsembleOption = Annotated[
    int | None,
    typer.Option("--ensemble", min=1, max=10, help="Head members averaged inside the model (default 2)."),
]
HiddenOption = Annotated[
    int | None,
    typer.Option("--hidden", min=0, help="Hidden units per member (default 32; 0: linear probe)."),
]
ShiftedOption = Annotated[
    bool, typer.Option("--shifted/--no-shifted", help="Also train on clips shifted by 0.24 s (no gain measured).")
]
FineTuneOption = Annotated[
    bool,
    typer.Option(
        "--fine-tune/--no-fine-tune",
        help="After the head, tune YAMNet's top block(s) with it (fixed recipe; ~3 min more per ESC-50 fold). Not the "
        "default: research runs on ESC-50 measured 0.9085 vs 0.9075 frozen (docs/training.md, 'Fine-tuning').",
    ),
]
TuneBlocksOption = Annotated[
    int, typer.Option("--tune-blocks", min=1, max=2, help="With --fine-tune: 1 = block 14, 2 = blocks 13-14.")
]
TestFoldsOption = Annotated[
    str | None, typer.Option("--folds", help="Evaluate only these test folds (quick run), e.g. 1,2. Default: all.")
]


def parse_features(layers: str = DEFAULT_LAYERS, with_scores: bool = False) -> tuple[str, ...]:
    """The head's features for ``--layers`` (``9-13``, ``11,13`` or ``none``) and ``--with-scores``.

    Always the embedding first; then YAMNet's scores and the named blocks, in ``FEATURE_ORDER``.
    """
    text = layers.strip().lower()
    blocks: set[int] = set()
    if text not in ("", "none"):
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            try:
                first, last = int(lo), int(hi or lo)
            except ValueError:
                raise PipelineError(f"--layers: '{part.strip()}' is not a block number or range like 9-13") from None
            blocks.update(range(first, last + 1))
        unknown = sorted(blocks - set(LAYER_WIDTHS))
        if unknown:
            raise PipelineError(
                f"--layers: block(s) {unknown} not available; choose from {min(LAYER_WIDTHS)}-{max(LAYER_WIDTHS)} "
                "(block 14 is the embedding, always used) or 'none'"
            )
    wanted = {"embeddings", *(f"layer{k}" for k in blocks)} | ({"yamnet_scores"} if with_scores else set())
    return tuple(f for f in FEATURE_ORDER if f in wanted)


def _train_config(
    seed: int,
    epochs: int | None,
    with_scores: bool,
    layers: str,
    ensemble: int | None,
    hidden: int | None,
    shifted: bool,
    folds: str | None,
    reject_budget: float = 0.02,
    fine_tune: bool = False,
    tune_blocks: int = 2,
):
    """The TrainConfig both `train` and `run` build from the same options (None: TrainConfig's default)."""
    from .training import TrainConfig

    default = TrainConfig()
    return TrainConfig(
        features=parse_features(layers, with_scores),
        max_epochs=default.max_epochs if epochs is None else epochs,
        ensemble=default.ensemble if ensemble is None else ensemble,
        hidden=default.hidden if hidden is None else hidden,
        shifted_views=shifted,
        seed=seed,
        folds=_int_list(folds),
        reject_budget=reject_budget,
        fine_tune=fine_tune,
        tune_blocks=tune_blocks,
    )


@contextmanager
def _work_bars() -> Iterator[tuple]:
    """Progress for the long parts of training: clips embedded, then the training runs' epochs."""
    with progress("steps") as bar:
        embed = bar.add_task("embed (clips)", total=1, visible=False)
        epochs = bar.add_task("train (epochs)", total=1, visible=False)

        def on_progress(done: int, total: int) -> None:
            bar.update(embed, completed=done, total=total, visible=True)

        def on_epoch(done: int, total: int) -> None:
            bar.update(epochs, completed=done, total=total, visible=True)

        yield on_progress, on_epoch


@app.command()
def train(
    data: DataOption,
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Output folder, e.g. exported/NAME: new, empty, or one yamnet-tfjs wrote."),
    ],
    seed: SeedOption = 0,
    data_format: DataFormatOption = "auto",
    manifest: ManifestOption = None,
    cache: CacheOption = None,
    classes: ClassesOption = None,
    folds: TestFoldsOption = None,
    epochs: EpochsOption = None,
    reject_budget: RejectBudgetOption = 0.02,
    background: BackgroundOption = None,
    with_scores: WithScoresOption = False,
    layers: LayersOption = DEFAULT_LAYERS,
    ensemble: EnsembleOption = None,
    hidden: HiddenOption = None,
    shifted: ShiftedOption = False,
    fine_tune: FineTuneOption = False,
    tune_blocks: TuneBlocksOption = 2,
    yamnet: YamnetOption = None,
) -> None:
    """Train a classifier head on a data set: cross-validate, train on all data, write head + report to --out."""
    from .layout import check_output_dir
    from .training import train as run_training
    from .yamnet import load_yamnet

    with user_errors():
        dataset, cache_dir = _load_data(data, data_format, manifest, cache, classes)
        check_output_dir(out, dataset.root)  # before any work: never a file, the data, or someone's folder
        cfg = _train_config(
            seed, epochs, with_scores, layers, ensemble, hidden, shifted, folds, reject_budget, fine_tune, tune_blocks
        )
        model = load_yamnet(yamnet)
        bg = _load_background(background, dataset)
        with _work_bars() as (on_progress, on_epoch):
            result = run_training(
                dataset,
                model,
                out,
                cfg,
                cache_dir,
                on_message=info,
                on_progress=on_progress,
                on_epoch=on_epoch,
                background=bg,
            )
    cv = result.report["cv"]
    info(f"clip accuracy per fold {cv['fold_accuracy']}, mean {cv['mean_accuracy']:.4f}")
    ft = result.report.get("fine_tune")
    if ft:
        seconds = result.report["timing"].get("fine_tune_seconds", 0.0)
        info(
            f"fine-tuned YAMNet {_blocks_words(ft['blocks'])} with the head in {seconds:.0f} s; the frozen head on the "
            f"same folds: {ft['fold_frozen_accuracy']}, mean {ft['frozen_mean_accuracy']}"
        )
    info(f"wrote {out}/head.keras, head.json, report.json, report.html" + (", tuned_blocks.npz" if ft else ""))


def _blocks_words(blocks: list[int]) -> str:
    """[13, 14] -> "blocks 13-14"; [14] -> "block 14"."""
    return f"blocks {blocks[0]}-{blocks[-1]}" if len(blocks) > 1 else f"block {blocks[0]}"


def _quantizations(values: list[str] | None) -> list[str]:
    """--quantize values -> quantized variants to write (float32 `tfjs/` is always written)."""
    if not values:
        return list(QUANTIZED)
    if "none" in values:
        return []
    return list(dict.fromkeys(values))


FullParityOption = Annotated[
    bool,
    typer.Option(
        "--full",
        help="Parity: run the slow backends (cpu, webgl) on every waveform and variant too; by default they "
        "check two real clips and the short edge cases, the wasm backends everything.",
    ),
]
QuantizeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--quantize",
        "-q",
        help="Quantized TF.js variants besides float32 tfjs/: none, float16, uint8 (repeatable; default both).",
        show_default=False,
    ),
]


@app.command()
def export(
    model_dir: Annotated[Path, typer.Argument(help="The trained model folder, exported/NAME (has head.keras).")],
    quantize: QuantizeOption = None,
    yamnet: YamnetOption = None,
) -> None:
    """Export YAMNet + the trained head as one SavedModel and TF.js graph models, with metadata and a model card.

    Writes saved_model/, tfjs/ (+ tfjs-float16/, tfjs-uint8/), metadata.json and README.md into MODEL_DIR.
    Atomic: if anything fails, the previous export in MODEL_DIR is left as it was.
    """
    from .export import export_model
    from .yamnet import load_yamnet

    with user_errors():
        metadata = export_model(model_dir, load_yamnet(yamnet), _quantizations(quantize), on_message=info)
    for kind, variant in metadata["variants"].items():
        info(f"  {kind:<8} {model_dir / variant['dir']}  {variant['weights_bytes'] / 1e6:.2f} MB")
    info(f"exported {model_dir} ({len(metadata['labels'])} classes)")


@app.command("export-yamnet")
def export_yamnet_cmd(
    out_dir: Annotated[
        Path, typer.Argument(help="Folder to write YAMNet's TF.js conversion into (new, empty, or written before).")
    ],
    quantize: Annotated[
        list[str] | None,
        typer.Option(
            "--quantize",
            "-q",
            help="Quantized TF.js variants besides float32 tfjs/: float16, uint8 (repeatable; default: none).",
            show_default=False,
        ),
    ] = None,
    yamnet: YamnetOption = None,
) -> None:
    """Convert YAMNet alone for TF.js: a drop-in for TF Hub's TF.js YAMNet that also runs on wasm and fast on cpu.

    `const [scores, embeddings, spectrogram] = model.predict(waveform)` works as with TF Hub's model.
    """
    from .export import export_yamnet
    from .layout import check_output_dir
    from .yamnet import load_yamnet

    with user_errors():
        check_output_dir(out_dir)
        metadata = export_yamnet(out_dir, load_yamnet(yamnet), _quantizations(quantize or ["none"]), on_message=info)
    for kind, variant in metadata["variants"].items():
        info(f"  {kind:<8} {out_dir / variant['dir']}  {variant['weights_bytes'] / 1e6:.2f} MB")


@app.command()
def predict(
    model_dir: Annotated[Path, typer.Argument(help="An exported model folder (exported/NAME).")],
    audio: Annotated[list[Path], typer.Argument(help="Audio files (WAV, FLAC, OGG, MP3; any rate and channels).")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="How many classes to show.")] = 5,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON: a list, one entry per file ({file, error} for a failed one).")
    ] = False,
    timeline: Annotated[bool, typer.Option("--timeline", help="Also give each 0.48 s patch's top class.")] = False,
    events: Annotated[
        bool,
        typer.Option(
            "--events",
            help="List sound events ('rooster 00:12.4-00:15.3'): each 0.975 s window decided as the page decides "
            "live (a class or unknown), then the page's hysteresis (on after 3 windows, off after 2; metadata.json).",
        ),
    ] = False,
) -> None:
    """Classify audio files with an exported model's SavedModel (same output as `classify`, your classes).

    Each file also gets the "unknown" decision (none of the model's classes) when the export carries one.
    A file that cannot be read is reported by name and skipped; the exit code is 1 if any failed.
    """
    from .predict import load_exported, predict_files

    with user_errors():
        model = load_exported(model_dir)
    _classify_each(
        audio, lambda paths, done: predict_files(model, paths, top_k, timeline, done, events), as_json, timeline
    )


@app.command()
def site(
    export_dir: Annotated[Path, typer.Argument(help="An export folder (exported/NAME) or a folder with model.json.")],
    out: Annotated[Path, typer.Argument(help="Where to write the site (created, or replaced if built before).")],
    variant: Annotated[
        str, typer.Option("--variant", help="Model to publish: tfjs, tfjs-float16 or tfjs-uint8.")
    ] = "tfjs",
) -> None:
    """Build the web demo for an exported model: one self-contained folder for any static host.

    Page, model, metadata and TF.js with its wasm binaries (vendored, no CDN; works offline).
    """
    from .js.site import build_site

    with user_errors():
        built = build_site(export_dir, out, variant=variant)
    info(f"site written to {built}; try it with: yamnet-tfjs serve {out}")


@app.command()
def serve(
    site_dir: Annotated[Path, typer.Argument(help="A folder built by `yamnet-tfjs site`.")],
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="Port on 127.0.0.1.")] = 8000,
    isolate: Annotated[
        bool, typer.Option("--isolate", help="Send COOP/COEP headers (cross-origin isolation, wasm threads).")
    ] = False,
) -> None:
    """Serve a built site on 127.0.0.1 only (never anything outside SITE_DIR). Ctrl+C stops it."""
    from .js.site import make_server

    with user_errors():
        server = make_server(site_dir, port=port, isolate=isolate)
        info(f"serving {site_dir} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl+C to stop)")
        try:
            server.serve_forever()
        finally:
            server.server_close()


@app.command()
def parity(
    export_dir: Annotated[Path, typer.Argument(help="An exported model folder (exported/NAME).")],
    clips: Annotated[int, typer.Option("--clips", "-n", min=0, help="Real clips from the training data set.")] = 5,
    runtimes: Annotated[
        list[str] | None,
        typer.Option(
            "--runtimes",
            "-r",
            help=f"Parity runtimes (repeatable or comma-separated): {selection_help()}.",
            show_default=False,
        ),
    ] = None,
    quantize: Annotated[
        list[str] | None,
        typer.Option(
            "--quantize",
            "-q",
            help="Which converted variants to check: float32, float16, uint8 (repeatable; default float32).",
            show_default=False,
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Data set for the real clips (default: the one report.json names)."),
    ] = None,
    edge_cases: Annotated[
        bool, typer.Option("--edge-cases/--no-edge-cases", help="Also run silence, 0.5 s, 30 s, noise, square.")
    ] = True,
    full: FullParityOption = False,
) -> None:
    """Prove Python and JavaScript predict the same: the SavedModel vs TF.js in Node and browsers.

    Same 16 kHz waveforms on both sides; writes EXPORT_DIR/parity.json (max/mean abs diff per output,
    top-1 agreement, ms per second of audio) and exits 1 when a bound breaks.
    """
    from .layout import parity_record
    from .parity import run_parity

    with user_errors():
        report = run_parity(
            export_dir,
            n_clips=clips,
            runtimes=runtimes,
            quantizations=quantize or ("float32",),
            data=data,
            edge=edge_cases,
            on_message=info,
            keep_complete=True,
            full=full,
        )
    record = parity_record(report)
    out_console.print(_parity_table(record))
    for row in record.rows:
        for failure in row.failures:
            error(f"{row.variant} {row.runtime}: {failure}")
    written = Path(report["written_to"])
    if written.name != "parity.json":
        info(f"wrote {written} (parity.json holds a fuller earlier run: more runtimes, variants or clips; kept)")
    else:
        info(f"wrote {written}")
    if not report["ok"]:
        error("parity bounds broken (see the table and parity.json)")
        raise typer.Exit(1)


@app.command()
def run(
    data: DataOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder, e.g. exported/NAME.")],
    quantize: QuantizeOption = None,
    parity_clips: Annotated[int, typer.Option("--parity-clips", min=0, help="Real clips for the parity check.")] = 5,
    runtimes: Annotated[
        list[str] | None,
        typer.Option(
            "--runtimes",
            "-r",
            help=f"Parity runtimes (repeatable or comma-separated): {selection_help()}.",
            show_default=False,
        ),
    ] = None,
    edge_cases: Annotated[
        bool, typer.Option("--edge-cases/--no-edge-cases", help="Parity also on silence, 0.5 s, 30 s, noise, square.")
    ] = True,
    full: FullParityOption = False,
    site_variant: Annotated[
        str, typer.Option("--site-variant", help="Model the demo site ships: tfjs, tfjs-float16 or tfjs-uint8.")
    ] = "tfjs",
    force: Annotated[bool, typer.Option("--force", help="Run every stage even if its inputs are unchanged.")] = False,
    until: Annotated[
        str,
        typer.Option(
            "--until", help="Stop after this stage: train, export, parity or site (the report is always written)."
        ),
    ] = "site",
    seed: SeedOption = 0,
    data_format: DataFormatOption = "auto",
    manifest: ManifestOption = None,
    cache: CacheOption = None,
    classes: ClassesOption = None,
    folds: TestFoldsOption = None,
    epochs: EpochsOption = None,
    reject_budget: RejectBudgetOption = 0.02,
    background: BackgroundOption = None,
    with_scores: WithScoresOption = False,
    layers: LayersOption = DEFAULT_LAYERS,
    ensemble: EnsembleOption = None,
    hidden: HiddenOption = None,
    shifted: ShiftedOption = False,
    fine_tune: FineTuneOption = False,
    tune_blocks: TuneBlocksOption = 2,
    yamnet: YamnetOption = None,
) -> None:
    """Do the whole job: check data, embed (cached), cross-validate, train, export + convert, parity, site, report.

    Each stage is skipped when its inputs (data, settings, YAMNet, code, the previous stage's artifacts)
    have not changed since the last run. Ends with where everything is and the headline numbers.
    Exit code 1 if parity breaks a bound.
    """
    from .layout import check_output_dir
    from .run import STAGES, RunOptions, run_pipeline
    from .yamnet import load_yamnet

    with user_errors():
        if until not in STAGES:
            raise PipelineError(f"--until takes one of {', '.join(STAGES)}, got '{until}'")
        dataset, cache_dir = _load_data(data, data_format, manifest, cache, classes)
        check_output_dir(out, dataset.root)  # before any work: never a file, the data, or someone's folder
        cfg = _train_config(
            seed, epochs, with_scores, layers, ensemble, hidden, shifted, folds, reject_budget, fine_tune, tune_blocks
        )
        options = RunOptions(
            quantizations=tuple(_quantizations(quantize)),
            parity_clips=parity_clips,
            parity_runtimes=tuple(runtimes) if runtimes else None,
            parity_edge_cases=edge_cases,
            parity_full=full,
            site_variant=site_variant,
            force=force,
            until=until,
        )
        model = load_yamnet(yamnet)
        bg = _load_background(background, dataset)
        with _work_bars() as (on_progress, on_epoch):
            result = run_pipeline(
                dataset,
                model,
                out,
                cfg,
                cache_dir,
                options,
                _stage_lines,
                on_progress=on_progress,
                on_epoch=on_epoch,
                background=bg,
            )
    _print_headline(result)
    if not result.ok:
        error("parity bounds broken: see exported parity.json / report.html")
        raise typer.Exit(1)


def _parity_table(record):
    """The parity record as a table: worst diff per output on real clips, top-1 agreement, speed."""
    from rich.table import Table

    from .layout import OUTPUTS

    python = record.python_ms_per_audio_second
    table = Table(title=f"parity vs Python: max abs diff on real clips (Python: {python:.1f} ms per s of audio)")
    shorts = [o.short for o in OUTPUTS.values()]
    for column in ("model", "runtime", "backend", *shorts, "top-1 head·yamnet", "decision", "ms/s", "ok"):
        table.add_column(column, no_wrap=True)
    for row in record.rows:
        if row.error is not None:
            table.add_row(row.variant, row.runtime, "-", *["-"] * len(shorts), "-", "-", "-", "[red]did not run[/]")
            continue
        if row.skipped is not None:
            table.add_row(row.variant, row.runtime, "-", *["-"] * len(shorts), "-", "-", "[yellow]skipped[/]")
            continue
        diffs = ["-" if row.worst[name] is None else f"{row.worst[name]:.1e}" for name in OUTPUTS]
        top1 = " · ".join(f"{agree}/{total}" for agree, total in row.top1.values())
        speed = "-" if row.ms_per_audio_second is None else f"{row.ms_per_audio_second:.1f}"
        decision = f"{row.decisions[0]}/{row.decisions[1]}" if row.decisions[1] else "-"
        table.add_row(
            row.variant,
            row.runtime,
            row.backend or "-",
            *diffs,
            top1,
            decision,
            speed,
            "yes" if row.ok else "[red]NO[/]",
        )
    return table


def _stage_lines(message: str) -> None:
    """``run``'s progress lines, with the stage name in bold (e.g. "train …", "export: up to date, skipped")."""
    from .run import STAGES

    name, sep, rest = message.partition(" ")
    stage = name.rstrip(":")
    if stage in (*STAGES, "report"):
        info(f"[bold]{escape(name)}[/]{sep}{escape(rest)}")
    else:
        info(escape(message))


def _print_headline(result) -> None:
    h = result.headline
    stages = ", ".join(
        f"{name} {state}" + (f" {result.seconds[name]:.0f} s" if name in result.seconds else "")
        for name, state in result.stages.items()
    )
    out_console.print(f"\n[bold]done[/] ({stages})")
    if h.get("cv_mean_accuracy") is not None:
        folds = " ".join(f"{a:.3f}" for a in h["cv_fold_accuracy"])
        scheme = escape(str(h["scheme"]))
        out_console.print(f"  accuracy   {h['cv_mean_accuracy']:.4f} mean clip accuracy ({scheme}; folds {folds})")
    sizes = ", ".join(f"{kind} {size / 1e6:.2f} MB" for kind, size in h["model_bytes"].items() if size)
    if sizes:
        out_console.print(f"  model      {sizes}")
    if h["parity_ok"] is not None:
        worst = ", ".join(f"{name} {value:.1e}" for name, value in h["parity_worst_float32"].items())
        verdict = "all within bounds" if h["parity_ok"] else "[red]BOUNDS BROKEN[/]"
        out_console.print(f"  parity     {verdict} on {', '.join(h['parity_runtimes'])} (max abs diff: {worst})")
    out_console.print(f"  report     {escape(h['report'])}")
    if "site" in result.stages:
        out_console.print(f"  web demo   {escape(h['site'])}  (yamnet-tfjs serve {escape(h['site'])})")


def main() -> None:
    """Console-script entry point."""
    app()
