"""ESC-50 5-fold cross-validation accuracy of head configurations, each trick added one at a time.

Every configuration is scored exactly as ``train`` scores it: official folds, early stopping on a
hold-out of the training folds, test folds seen through plain YAMNet patches (0.48 s hop) and a
clip's score = mean of its patch probabilities (what the exported model computes). Embeddings come
from the cache (``embed_dataset``), so only head training is timed.

Usage: ``.venv/bin/python bench/bench_train.py [--configs a,b,...] [--cache DIR]``. Results go to
``bench/results/train.json`` (merged by configuration name) and into the table in ``docs/training.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.doc_tables import markdown_table, replace_between_markers  # noqa: E402

SHARED = Path(os.environ.get("YAMNET_TFJS_SHARED", REPO.parent / "shared"))

# name -> (what changed, TrainConfig overrides); each row adds one thing to the previous one.
_EMB = {"features": ("embeddings",), "hidden": 256, "ensemble": 1}
"""The rows up to h256 read the embedding only: the default until the block features (blocks*) beat it."""
_H512 = {**_EMB, "hidden": 512}
"""Those rows but h256 were measured with the 512-unit hidden layer, the default until h256 matched it."""
_QUARTER = (1920, 3840, 5760)
CONFIGS: dict[str, tuple[str, dict]] = {
    "linear": (
        "linear probe on patches (softmax regression)",
        {**_EMB, "hidden": 0, "input_dropout": 0.0, "label_smoothing": 0.0},
    ),
    "mlp": ("MLP 512 ReLU, dropout 0.5 (untuned baseline)", {**_H512, "input_dropout": 0.0, "label_smoothing": 0.0}),
    "smooth": ("+ label smoothing 0.1", {**_H512, "input_dropout": 0.0}),
    "indrop": ("+ input dropout 0.1", _H512),
    "shift": ("indrop + half-hop (0.24 s) shifted training view", {**_H512, "shifted_views": True}),
    "quarter": (
        "indrop + views shifted by 1/4, 1/2, 3/4 hop (3 extra views)",
        {**_H512, "shifted_views": True, "view_shifts": _QUARTER},
    ),
    "quarter_acc": (
        "quarter-hop views, early stopping on hold-out patch accuracy (patience 10)",
        {**_H512, "shifted_views": True, "view_shifts": _QUARTER, "monitor": "val_accuracy", "patience": 10},
    ),
    "scores": (
        "half-hop view + YAMNet's 521 scores as input features",
        {**_H512, "shifted_views": True, "features": ("embeddings", "yamnet_scores")},
    ),
    "ens3": (
        "half-hop view + ensemble of 3 members averaged in the head",
        {**_H512, "shifted_views": True, "ensemble": 3},
    ),
    "quarter_ens3": (
        "quarter-hop views + ensemble of 3",
        {**_H512, "shifted_views": True, "view_shifts": _QUARTER, "ensemble": 3},
    ),
    "default_ens3": ("indrop + ensemble of 3 (`--ensemble 3`)", {**_H512, "ensemble": 3}),
    "h256": ("indrop with a 256-unit hidden layer (the default until the block features)", _EMB),
    "blocks": (
        "h256 + pooled outputs of YAMNet blocks 9-13 as extra features (4096 inputs in all)",
        {"hidden": 256, "ensemble": 1},
    ),
    "blocks_h64": ("blocks with a 64-unit hidden layer", {"hidden": 64, "ensemble": 1}),
    "blocks_ens3": ("blocks, 3 members of 32 units averaged (uint8 model 4.30 MB)", {"hidden": 32, "ensemble": 3}),
    "blocks_3x22": ("blocks, 3 members of 22 units averaged", {"hidden": 22, "ensemble": 3}),
    "blocks_2x32": ("blocks, 2 members of 32 units averaged (= the default: uint8 model <= 4.2 MB)", {}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from pipeline.datasets import load_dataset
    from pipeline.embeddings import embed_dataset
    from pipeline.tfenv import tf
    from pipeline.training import TrainConfig
    from pipeline.training.evaluation import cross_validate
    from pipeline.yamnet import load_yamnet

    tf().config.experimental.enable_op_determinism()
    yamnet = load_yamnet(str(SHARED / "models" / "yamnet"))
    dataset = load_dataset(SHARED / "datasets" / "esc50")
    plain = embed_dataset(dataset, yamnet, args.cache)
    shifted = {0: plain}
    out = REPO / "bench" / "results" / "train.json"
    out.parent.mkdir(exist_ok=True)
    results = json.loads(out.read_text()) if out.exists() else {}
    for name in args.configs.split(","):
        what, overrides = CONFIGS[name]
        cfg = replace(TrainConfig(seed=args.seed), **overrides)
        for shift in cfg.view_shifts if cfg.shifted_views else ():
            if shift not in shifted:
                shifted[shift] = embed_dataset(dataset, yamnet, args.cache, shift=shift)
        views = [plain] + [shifted[s] for s in (cfg.view_shifts if cfg.shifted_views else ())]
        t = time.perf_counter()
        cv = cross_validate(views, cfg, on_message=lambda m, name=name: print(f"[{name}] {m}", flush=True))
        seconds = time.perf_counter() - t
        results[name] = {
            "what": what,
            "fold_accuracy": [round(f.accuracy, 4) for f in cv.folds],
            "mean_accuracy": round(cv.mean_accuracy, 4),
            "mean_patch_accuracy": round(sum(f.patch_accuracy for f in cv.folds) / len(cv.folds), 4),
            "cv_seconds": round(seconds, 1),
            "seed": args.seed,
            "load_average": round(os.getloadavg()[0], 2),
        }
        print(f"[{name}] mean clip accuracy {cv.mean_accuracy:.4f} in {seconds:.0f} s", flush=True)
        latest = json.loads(out.read_text()) if out.exists() else {}  # other runs may have added rows
        latest[name] = results[name]
        results = latest
        out.write_text(json.dumps(results, indent=2) + "\n")
    update_docs(results)


def update_docs(results: dict) -> None:
    """Rewrite the results table in docs/training.md (between the bench:train markers)."""
    rows = [
        f"| {name} | {CONFIGS[name][0]} | {r['mean_accuracy']:.4f} | "
        f"{' '.join(f'{a:.3f}' for a in r['fold_accuracy'])} | "
        f"{r['mean_patch_accuracy']:.4f} | {r['cv_seconds']} |"
        for name in CONFIGS
        if (r := results.get(name))
    ]
    header = ["config", "what changed", "5-fold mean clip acc.", "per fold", "patch acc.", "CV seconds (2 cores)"]
    replace_between_markers(REPO / "docs" / "training.md", "train", markdown_table(header, rows))


if __name__ == "__main__":
    main()
