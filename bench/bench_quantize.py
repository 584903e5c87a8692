"""Measure what TF.js quantization costs: model size and ESC-50 accuracy per variant.

Trains a head with ``train`` on ESC-50 folds 1-4 (the test fold is never seen), exports it with
float32, float16 and uint8 TF.js variants, then classifies every clip of the test fold:
in Python with the exported SavedModel (reference) and in Node (pure TF.js, wasm backend) with each
variant, through the same web_demo/src/model.js the page uses. Writes ``docs/quantization.json``
and the table in ``docs/quantization.md``.

    .venv/bin/python bench/bench_quantize.py [--out exported/esc50-f1234] [--test-fold 5] [--retrain]

With ``--fine-tune`` the head is trained with ``train --fine-tune`` (YAMNet's blocks 13-14 tuned and written
into the graph) and the results go to ``docs/quantization-finetune.json`` and the table in docs/training.md
("bench:quantize-finetune"): tuned weights may quantize differently from Google's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.doc_tables import replace_between_markers  # noqa: E402
from pipeline.audio import load_audio  # noqa: E402
from pipeline.datasets import load_dataset  # noqa: E402
from pipeline.embeddings import default_cache_dir  # noqa: E402
from pipeline.export import export_model  # noqa: E402
from pipeline.export.convert import weights_bytes  # noqa: E402
from pipeline.js.node import run_in_node  # noqa: E402
from pipeline.predict import load_exported  # noqa: E402
from pipeline.training import TrainConfig, train  # noqa: E402
from pipeline.yamnet import load_yamnet  # noqa: E402

ESC50 = REPO.parent / "shared" / "datasets" / "esc50"
YAMNET = REPO.parent / "shared" / "models" / "yamnet"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ESC50))
    parser.add_argument("--yamnet", default=str(YAMNET))
    parser.add_argument("--out", type=Path, default=REPO / "exported" / "esc50-f1234")
    parser.add_argument("--test-fold", type=int, default=5)
    parser.add_argument("--backend", default="wasm", choices=["wasm", "cpu"])
    parser.add_argument("--retrain", action="store_true", help="Train again even if the head exists.")
    parser.add_argument("--fine-tune", action="store_true", help="Fine-tune YAMNet's top blocks with the head.")
    args = parser.parse_args()

    yamnet = load_yamnet(args.yamnet)
    dataset = load_dataset(args.data)
    train_folds = sorted({c.fold for c in dataset.clips} - {args.test_fold})
    test = dataset.subset(folds=[args.test_fold])
    if args.retrain or not (args.out / "head.keras").is_file():
        print(f"training on folds {train_folds} -> {args.out}", flush=True)
        # one CV split for the report; the bench uses the test fold
        cfg = TrainConfig(folds=[train_folds[0]], fine_tune=args.fine_tune)
        train(dataset.subset(folds=train_folds), yamnet, args.out, cfg, default_cache_dir(), on_message=print)
    print("exporting (float32, float16, uint8)", flush=True)
    metadata = export_model(args.out, yamnet, on_message=print)
    labels = metadata["labels"]

    waves = [load_audio(c.path) for c in test.clips]
    truth = np.array([labels.index(c.label) for c in test.clips])
    model = load_exported(args.out)
    started = time.perf_counter()
    python_outs = [model(w) for w in waves]
    python_scores = np.stack([o["clip_scores"] for o in python_outs])
    python_yamnet = np.array([o["yamnet_scores"].mean(axis=0).argmax() for o in python_outs])
    python_ms = 1000 * (time.perf_counter() - started) / len(waves)
    python_top1 = python_scores.argmax(1)
    rows = [
        {
            "variant": "python SavedModel (float32)",
            "weights_bytes": None,
            "accuracy": float((python_top1 == truth).mean()),
            "top1_agreement_with_python": 1.0,
            "yamnet_top1_agreement_with_python": 1.0,
            "max_abs_clip_score_diff": 0.0,
            "median_ms_per_clip": python_ms,
        }
    ]
    for kind, variant in metadata["variants"].items():
        folder = args.out / variant["dir"]
        print(f"running {len(waves)} clips through {folder} in Node ({args.backend})", flush=True)
        run = run_in_node(folder, waves, backend=args.backend, timeout=3600)
        scores = np.stack([o["clip_scores"] for o in run.outputs])
        js_yamnet = np.array([np.asarray(o["yamnet_scores"]).mean(axis=0).argmax() for o in run.outputs])
        rows.append(
            {
                "variant": f"TF.js {kind} ({variant['dir']}/)",
                "weights_bytes": weights_bytes(folder),
                "accuracy": float((scores.argmax(1) == truth).mean()),
                "top1_agreement_with_python": float((scores.argmax(1) == python_top1).mean()),
                "yamnet_top1_agreement_with_python": float((js_yamnet == python_yamnet).mean()),
                "max_abs_clip_score_diff": float(np.abs(scores - python_scores).max()),
                "median_ms_per_clip": float(np.median([min(ms) for ms in run.ms])),
            }
        )
    result = {
        "test_fold": args.test_fold,
        "train_folds": train_folds,
        "test_clips": len(waves),
        "node_backend": args.backend,
        "fine_tune": args.fine_tune,
        "yamnet": {"handle": args.yamnet, "identity": yamnet.identity},
        "versions": metadata["versions"],
        "rows": rows,
    }
    if args.fine_tune:
        (REPO / "docs" / "quantization-finetune.json").write_text(json.dumps(result, indent=2) + "\n")
        replace_between_markers(REPO / "docs" / "training.md", "quantize-finetune", table_of(result))
        print(table_of(result))
        return
    (REPO / "docs" / "quantization.json").write_text(json.dumps(result, indent=2) + "\n")
    write_markdown(result, REPO / "docs" / "quantization.md")
    print((REPO / "docs" / "quantization.md").read_text())


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f} %"


def table_of(result: dict) -> str:
    """The variants' table: accuracy on the test fold, change against float32 TF.js, agreement with Python."""
    base = result["rows"][1]["accuracy"]
    lines = [
        "| variant | weights | ESC-50 fold "
        f"{result['test_fold']} accuracy | change vs float32 TF.js | top-1 = Python | YAMNet's top-1 = Python "
        "| max abs Δ clip score | ms/clip |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        size = f"{row['weights_bytes'] / 1e6:.2f} MB" if row["weights_bytes"] else "—"
        change = f"{100 * (row['accuracy'] - base):+.2f} pts" if row["weights_bytes"] else "—"
        lines.append(
            f"| {row['variant']} | {size} | {100 * row['accuracy']:.2f} % | {change} | "
            f"{100 * row['top1_agreement_with_python']:.2f} % | {_pct(row.get('yamnet_top1_agreement_with_python'))} | "
            f"{row['max_abs_clip_score_diff']:.2e} | "
            f"{row['median_ms_per_clip']:.0f} |"
        )
    return "\n".join(lines)


def write_markdown(result: dict, path: Path) -> None:
    """The human-readable page; the prose around the table is kept in the TEMPLATE below."""
    table = table_of(result)
    path.write_text(
        TEMPLATE.format(
            table=table,
            clips=result["test_clips"],
            fold=result["test_fold"],
            train_folds=", ".join(map(str, result["train_folds"])),
            backend=result["node_backend"],
        )
    )


TEMPLATE = """# Quantization: size and accuracy of the TF.js variants

Measured by `bench/bench_quantize.py` (numbers below are its output; raw data in `quantization.json`).
A head trained with `train` on ESC-50 folds {train_folds} is exported (`export`), and all {clips} clips of
fold {fold} (never seen in training) are classified by the Python SavedModel and, in Node with
pure TF.js ({backend} backend, through `web_demo/src/model.js`), by each TF.js variant.

{table}

- Quantization touches the **network weights only** (`convert.py` passes the converter an explicit list
  of node names). The front end (`yamnet_frontend/*`: Hann window, mel matrix, log offset, the 512-entry
  cos table) stays float32: quantizing the mel matrix and DFT basis moved log-mel by ~5e-2 (measured,
  `../shared/notes/toolchain.md`), while with network-only quantization log-mel stays within 1e-3 of
  Python (checked by `tests/test_convert_node.py`).
- The DFT basis is not stored at all: the graph builds it from integer `n*k mod 512` and the cos table,
  with a range start that constant folding cannot see through, so the converter cannot fold it into an
  0.8 MB weight.
- The uint8 variant is **mixed**: network tensors of 20,000 elements or more (pointwise convolutions and
  dense layers, ~95 % of the bytes) are uint8, smaller ones (biases, depthwise 3x3 kernels, the first
  convolution) float16 (`pipeline/convert.py`, `BIG_TENSOR_ELEMENTS`). TF.js gives each tensor one affine
  uint8 scale, which small tensors take badly. Measured once with the earlier embedding-only head (fold 5,
  400 clips, Node wasm): all-uint8 4.08 MB, 85.75 % (-1.0 pt vs float32 TF.js, 95.25 % top-1 agreement
  with Python); mixed 4.18 MB, 87.75 % (+1.0 pt). One fold of 400 clips moves in steps of 0.25 points,
  so a point either way is close to noise; the mixed variant is kept because it did not lose accuracy.
- The head is what the size goal constrains (MediaPipe's 8-bit YAMNet: 4.13 MB; ours must stay at or under
  4.2 MB). The default head reads 4096 features (embedding + pooled blocks 9-13), so each hidden unit
  costs ~4.2 KB in uint8; two members of 32 units give 4.17 MB, while three members of 32 gave 4.30 MB
  and were left to `--ensemble 3` (`docs/training.md`). The earlier embedding-only head (256 units)
  gave 4.18 MB.
- The head scales each feature group (embedding, each block) by the group's average variance, not each
  column by its own: with per-column scaling the same setup lost 0.75 points in uint8 (89.00 % vs
  89.75 % float32, 98.25 % top-1 agreement, max Δ clip score 0.11), because quiet channels of blocks
  12-13 amplified the uint8 rounding of YAMNet's weights (`docs/training.md`, "Normalisation").
- uint8 still moves single clip scores by up to ~0.2 and changes a few % of top-1 decisions against
  Python (near-ties), without costing accuracy on the held-out fold.
- "ms/clip" is per 5 s clip on this 2-core machine (noisy; other jobs were running).
- The shared YAMNet copy is int8-derived in most conv weights (see its README), so absolute accuracy is
  a few points off real YAMNet; the *change* caused by quantization is what this table is for.
"""


if __name__ == "__main__":
    main()
