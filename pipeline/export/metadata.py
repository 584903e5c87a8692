"""``metadata.json`` and the model card ``README.md`` of an export.

The JS side reads every constant (labels, sample rate, patch timing, output node names) from
``metadata.json``, never from a second copy, so this file is the one place they are written.
Each TF.js folder gets its own copy (with that variant's quantization and file hashes), so any one
folder is self-contained for the web page.
"""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from .. import __version__
from ..checksums import sha256_file
from ..constants import (
    MIN_WAVEFORM_SAMPLES,
    NUM_MEL_BINS,
    PATCH_HOP_SECONDS,
    PATCH_WINDOW_SECONDS,
    SAMPLE_RATE,
    STFT_HOP_SAMPLES,
)
from ..js.assets import tfjs_versions
from ..layout import HEAD_JSON, HEAD_KERAS, OUTPUTS, VARIANTS, yamnet_only_shapes
from ..layout import METADATA_JSON as METADATA_FILE
from ..sound_events import EventRules
from ..yamnet import Yamnet
from .convert import read_model_json, signature_io, weights_bytes


def file_hashes(root: Path, skip_names: tuple[str, ...] = (METADATA_FILE,)) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative POSIX paths), except metadata files themselves."""
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in skip_names and not p.relative_to(root).as_posix().startswith(".")
    }


def versions() -> dict[str, str]:
    """Versions of everything that shaped the artifacts (Python packages and the pinned TF.js)."""
    found = {"yamnet-tfjs": __version__, "python": platform.python_version()}
    for pkg in ("tensorflow", "tensorflowjs", "keras", "tf-keras", "tensorflow-hub", "numpy"):
        try:
            found[pkg] = importlib_metadata.version(pkg)
        except importlib_metadata.PackageNotFoundError:
            continue
    return {**found, **tfjs_versions()}


def output_specs(tfjs_dir: Path, head_classes: int | None) -> list[dict[str, Any]]:
    """``[{"name", "node", "shape"}]`` in the exported order; ``node`` is what ``model.execute`` takes."""
    _, outputs = signature_io(read_model_json(tfjs_dir))
    if head_classes is None:  # export-yamnet: signature keys output_0..2 in TF Hub's order
        shapes = yamnet_only_shapes()
        keys = dict(zip(shapes, sorted(outputs), strict=True))
    else:
        shapes = {name: output.shape(head_classes) for name, output in OUTPUTS.items()}
        keys = {name: name for name in shapes}
    return [{"name": name, "node": outputs[keys[name]]["name"], "shape": shape} for name, shape in shapes.items()]


def summarize_report(report_path: Path | None) -> dict[str, Any] | None:
    """The scalar headline numbers of ``report.json`` (plus its ``summary`` block if it has one)."""
    if report_path is None or not report_path.is_file():
        return None
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(report, dict):
        return None
    summary = {k: v for k, v in report.items() if isinstance(v, (int, float, str, bool)) or v is None}
    for key in ("summary", "cv", "cross_validation", "test", "final"):
        if isinstance(report.get(key), dict):
            summary[key] = {k: v for k, v in report[key].items() if isinstance(v, (int, float, str, bool))}
    return summary


def inputs_hash(model_dir: Path, yamnet: Yamnet, quantizations: list[str]) -> str:
    """A hash of everything the export was made from: YAMNet, head files, variants, package version."""
    digest = hashlib.sha256()
    digest.update(f"{yamnet.identity}\0{','.join(quantizations)}\0{__version__}\0".encode())
    for name in (HEAD_KERAS, HEAD_JSON):
        if (model_dir / name).is_file():
            digest.update(name.encode() + b"\0" + sha256_file(model_dir / name).encode())
    return digest.hexdigest()


def build_metadata(
    stage: Path,
    yamnet: Yamnet,
    head: Any | None,
    variants: dict[str, Path],
    report_path: Path | None = None,
    source_dir: Path | None = None,
) -> dict[str, Any]:
    """The top-level metadata dict (``files`` and per-variant copies are added by :func:`write_metadata`)."""
    labels = head.labels if head is not None else list(yamnet.class_names)
    base = variants["float32"]
    input_spec, _ = signature_io(read_model_json(base))
    meta: dict[str, Any] = {
        "format": "yamnet-tfjs/1",
        "kind": "classifier" if head is not None else "yamnet",
        "labels": labels,
        "yamnet_class_names": list(yamnet.class_names),
        "sample_rate": SAMPLE_RATE,
        "patch_window_seconds": PATCH_WINDOW_SECONDS,
        "patch_hop_seconds": PATCH_HOP_SECONDS,
        "min_samples": MIN_WAVEFORM_SAMPLES,
        "frame_hop_seconds": STFT_HOP_SAMPLES / SAMPLE_RATE,  # log_mel rows (the page's spectrogram)
        "num_mel_bins": NUM_MEL_BINS,
        "input": {"name": "waveform", "node": input_spec["name"], "dtype": "float32", "shape": [-1]},
        "outputs": output_specs(base, len(labels) if head is not None else None),
        "quantization": "float32",
        "variants": {
            kind: {"dir": path.name, "weights_bytes": weights_bytes(path), "quantized": VARIANTS[kind].quantized}
            for kind, path in variants.items()
        },
        "quantization_scope": "network weights only; yamnet_frontend/* (window, mel matrix, DFT table) stay float32",
        "report": summarize_report(report_path),
        "yamnet": {"handle": yamnet.handle, "identity": yamnet.identity},
        "versions": versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if head is not None:
        meta["features"] = head.features
        keys = ("seed", "created", "inputs_hash", "weights_sha256")
        meta["head"] = {k: head.info.raw[k] for k in keys if k in head.info.raw}
        if "open_set" in head.info.raw:  # the "none of my classes" decision every runtime applies
            meta["open_set"] = head.info.raw["open_set"]
        if head.info.raw.get("background"):  # trained with --background: the scores sum to less than one
            meta["background"] = head.info.raw["background"]
        if head.info.raw.get("fine_tune"):  # YAMNet's top blocks were tuned and are in this graph
            meta["fine_tune"] = head.info.raw["fine_tune"]
        meta["events"] = EventRules().to_json()  # the page's live events and `predict --events`
        model_dir = source_dir or (report_path.parent if report_path else None)
        if model_dir is not None:
            meta["inputs_hash"] = inputs_hash(model_dir, yamnet, [k for k in variants if VARIANTS[k].quantized])
    return meta


def write_metadata(stage: Path, metadata: dict[str, Any], variants: dict[str, Path]) -> None:
    """Write one metadata.json per TF.js folder (its own quantization + files) and the top-level one."""
    for kind, path in variants.items():
        copy = {**metadata, "quantization": kind, "files": file_hashes(path)}
        _write_json(path / METADATA_FILE, copy)
    top = {**metadata, "files": file_hashes(stage)}
    _write_json(stage / METADATA_FILE, top)
    metadata.clear()
    metadata.update(top)


def _write_json(path: Path, value: dict[str, Any]) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _fmt_bytes(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def write_model_card(path: Path, metadata: dict[str, Any], name: str) -> None:
    """A human-readable README: what it is, how well it does, how to run it in Python and JavaScript."""
    is_yamnet = metadata["kind"] == "yamnet"
    title = "YAMNet for TF.js" if is_yamnet else "a YAMNet-based sound classifier for TF.js"
    lines = [f"# {name}: {title}", ""]
    lines += _yamnet_intro(metadata) if is_yamnet else _classifier_intro(metadata)
    lines += ["## Files", "", "| variant | folder | weights |", "|---|---|---|"]
    for kind, info in metadata["variants"].items():
        lines.append(f"| {kind} | `{info['dir']}/` | {_fmt_bytes(info['weights_bytes'])} |")
    lines += [
        "",
        "Quantization touches the network's weights only; the front end (Hann window, mel matrix, DFT table) stays",
        "float32. `saved_model/` holds the same graph for Python. Every folder has a `metadata.json` with labels,",
        "sample rate, patch timing, output node names and the sha256 of each file.",
        "",
        "## Inputs and outputs",
        "",
        f"Input `waveform`: float32 [-1], {metadata['sample_rate']} Hz mono in [-1, 1], any length (shorter than "
        f"{metadata['min_samples']} samples is zero-padded). Patches are {metadata['patch_window_seconds']} s every "
        f"{metadata['patch_hop_seconds']} s.",
        "",
        "| output | shape | graph node |",
        "|---|---|---|",
    ]
    lines += [f"| `{spec['name']}` | {spec['shape']} | `{spec['node']}` |" for spec in metadata["outputs"]]
    lines += [""]
    lines += _yamnet_usage() if is_yamnet else _classifier_usage()
    lines += [
        f"Versions: {', '.join(f'{k} {v}' for k, v in metadata['versions'].items())}.",
        f"YAMNet: `{metadata['yamnet']['handle']}` (identity {metadata['yamnet']['identity'][:12]}).",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def _yamnet_intro(metadata: dict[str, Any]) -> list[str]:
    return [
        "Google's YAMNet (AudioSet, 521 classes) converted for TF.js with a matmul-DFT front end, so it runs on the",
        "cpu, wasm and webgl backends. A drop-in for TF Hub's TF.js YAMNet: `model.predict` returns the same three",
        "tensors in the same order.",
        "",
    ]


def _classifier_intro(metadata: dict[str, Any]) -> list[str]:
    labels = metadata["labels"]
    shown = ", ".join(labels[:20]) + (" …" if len(labels) > 20 else "")
    lines = [
        f"Classifies 16 kHz mono audio into {len(labels)} classes: {shown}.",
        "",
        f"A small head trained on {describe_features(metadata.get('features', []))} (per 0.96 s patch; a clip's",
        "scores are the mean over its patches), exported together with YAMNet as one graph.",
        "",
    ]
    lines += _fine_tune_lines(metadata.get("fine_tune"))
    lines += _background_lines(metadata.get("background"))
    lines += ["## How well it does", ""]
    cv = (metadata.get("report") or {}).get("cv") or {}
    if "mean_accuracy" in cv:
        lines += [
            f"Mean clip accuracy in cross-validation: **{cv['mean_accuracy']:.4f}** "
            f"(± {cv.get('std_accuracy', 0):.4f} over the folds; pooled {cv.get('pooled_accuracy', 0):.4f}).",
            "Every test fold was unseen by its head, early stopping included; `report.html` beside this export has",
            "the folds, the confusion matrix and per-class precision and recall.",
        ]
    else:
        lines.append("No cross-validation was found beside the head; run `yamnet-tfjs train` to evaluate it.")
    return [*lines, ""]


def _fine_tune_lines(fine_tune: dict[str, Any] | None) -> list[str]:
    """The model card's warning that this graph's YAMNet is not Google's any more (``train --fine-tune``)."""
    if not fine_tune:
        return []
    blocks = fine_tune.get("blocks") or []
    span = f"blocks {blocks[0]}-{blocks[-1]}" if len(blocks) > 1 else f"block {blocks[0] if blocks else '?'}"
    return [
        f"**Fine-tuned YAMNet**: YAMNet's {span} were trained together with the head (`train --fine-tune`) and",
        "their tuned weights are written into this graph. So `embeddings` and YAMNet's own `yamnet_scores` come",
        "from the tuned network, not from Google's YAMNet: its 521 AudioSet scores move (in the research run on",
        "ESC-50, tuning blocks 13-14 left the top AudioSet class unchanged on only 71.5 % of patches). The",
        '"unknown" decision\'s per-class quantiles `q` were computed from these tuned scores on the training',
        "patches, so the decision matches what this graph emits; do not use `yamnet_scores` as Google's YAMNet.",
        "",
    ]


def _background_lines(background: dict[str, Any] | None) -> list[str]:
    """With ``train --background``: why the class scores sum to less than one, and the false alarms measured."""
    if not background:
        return []
    rate = background.get("false_alarms_per_hour")
    measured = "" if rate is None else f" Out-of-fold background audio fired {rate:.1f} false events per hour."
    return [
        f"**Background set**: the head also learned {background.get('clips', '?')} clips of sounds that are none of",
        "these classes (`train --background`) as one more class, which this export leaves out: `clip_scores` sum to",
        'less than one, and the rest is "none of these", which raises the unknown decision\'s doubt.' + measured,
        "",
    ]


def _yamnet_usage() -> list[str]:
    return [
        "## Using it",
        "",
        "JavaScript (TF.js), exactly as with TF Hub's model; the clip's class is the mean over its patches:",
        "",
        "```js",
        "const model = await tf.loadGraphModel('tfjs/model.json');",
        "const classNames = (await (await fetch('tfjs/metadata.json')).json()).labels;  // YAMNet's 521",
        "const [scores, embeddings, spectrogram] = model.predict(tf.tensor1d(waveform));   // 16 kHz mono",
        "const best = scores.mean(0).argMax().dataSync()[0];   // scores is [patches, 521]: average first",
        "console.log(classNames[best]);",
        "```",
        "",
        "Python (the same graph):",
        "",
        "```python",
        "serve = tf.saved_model.load('saved_model').signatures['serving_default']",
        "out = serve(waveform=tf.constant(waveform))   # output_0 scores, output_1 embeddings, output_2 log-mel",
        "```",
        "",
        "`yamnet-tfjs classify --yamnet PATH` takes a TF Hub YAMNet SavedModel (e.g. TF Hub's own), not this one.",
        "",
    ]


def _classifier_usage() -> list[str]:
    return [
        "## Using it",
        "",
        "Python: `yamnet-tfjs predict THIS_FOLDER audio.wav` (top classes, `--timeline`, `--json`), or",
        "`tf.saved_model.load('saved_model').signatures['serving_default'](waveform=w)['clip_scores']`.",
        "",
        "JavaScript: run it through the project's `web_demo/src/model.js` (the module the demo page uses), which reads",
        "outputs by graph node name (TF.js 4.22's `model.predict` can pair this graph's named outputs with the",
        "wrong tensors):",
        "",
        "```js",
        "import { initBackend, loadClassifier } from './model.js';",
        "await initBackend(tf, ['webgl', 'wasm', 'cpu']);",
        "const clf = await loadClassifier(tf, 'tfjs/model.json');   // reads tfjs/metadata.json too",
        "const out = await clf.run(waveform);                      // Float32Array, 16 kHz mono",
        "const best = out.clip_scores.data.indexOf(Math.max(...out.clip_scores.data));",
        "console.log(clf.labels[best]);",
        "```",
        "",
        "Without the module: `const meta = await (await fetch('tfjs/metadata.json')).json();` then",
        "`const outs = model.execute(tf.tensor1d(waveform), meta.outputs.map(o => o.node));`",
        "",
        "## Unknown sounds and events",
        "",
        "The head spreads its probability over your classes (with a background set, only part of it: see above);",
        '`metadata.json["open_set"]` adds the decision',
        '"none of my classes": `score = (1 - max(clip_scores)) + weight * max_j(mean(yamnet_scores)_j - q_j)`,',
        "unknown when the score is above `threshold_clip` (a whole file) or `threshold_window` (one live window).",
        "The thresholds were calibrated on out-of-fold predictions to cost at most `budget` of known-class",
        "accuracy; `report.html` shows how it does on classes the head never saw. `yamnet-tfjs predict` and",
        "`model.js`'s `openSetDecision(out, metadata.open_set, isWindow)` apply the same rule.",
        "",
        'Events (`metadata.json["events"]`): each window\'s decision (a class, unknown, or silence below',
        "`silence_rms`) goes through hysteresis: a class starts after `on_windows` windows in a row, ends after",
        "`off_windows` windows that are not it, and waits `cooldown_windows` before it can start again. The page",
        "lists them live (`?on=3&off=2&cooldown=1` overrides), `yamnet-tfjs predict MODEL FILE --events` lists the",
        "same events for a file, and `web_demo/src/events.js` is the module both follow.",
        "",
    ]


def describe_features(features: list[str]) -> str:
    """``["embeddings", "layer9", .., "layer13"]`` -> "YAMNet's embeddings + pooled outputs of blocks 9-13"."""
    words = {"embeddings": "YAMNet's embeddings", "yamnet_scores": "YAMNet's scores"}
    parts = [words[f] for f in features if f in words]
    blocks = [int(f.removeprefix("layer")) for f in features if f.startswith("layer")]
    if blocks:
        contiguous = blocks == list(range(blocks[0], blocks[-1] + 1)) and len(blocks) > 1
        listed = f"{blocks[0]}-{blocks[-1]}" if contiguous else ", ".join(map(str, blocks))
        parts.append(f"pooled outputs of block{'s' if len(blocks) > 1 else ''} {listed}")
    return " + ".join(parts)
