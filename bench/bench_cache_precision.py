"""Does storing the features as float16 cost accuracy? ESC-50 5-fold CV, default head, float32 vs float16.

The float16 features are what the cache (format ``pipeline.embeddings.CACHE_FORMAT``) hands training; the
float32 ones are the same clips' entries of the previous format, v2 (one float32 array per feature), read
from the same cache folder. Both go through :func:`pipeline.training.evaluation.cross_validate` with the
default :class:`~pipeline.training.head.TrainConfig` (same seed), one run each, plus the open-set
calibration ``train`` would ship (:func:`pipeline.openset.calibrate`).

Usage: ``.venv/bin/python bench/bench_cache_precision.py [--cache DIR]`` (the cache must hold ESC-50's v2
entries; the v3 ones are computed if missing). Results: ``bench/results/cache-precision.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHARED = Path(os.environ.get("YAMNET_TFJS_SHARED", REPO.parent / "shared"))
V2_FEATURES = ("embeddings", "yamnet_scores", "layer9", "layer10", "layer11", "layer12", "layer13")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args()
    from pipeline.datasets import load_dataset
    from pipeline.embeddings import default_cache_dir, embed_dataset
    from pipeline.openset import calibrate
    from pipeline.tfenv import tf
    from pipeline.training import TrainConfig
    from pipeline.training.evaluation import cross_validate
    from pipeline.yamnet import load_yamnet

    tf().config.experimental.enable_op_determinism()
    cache = args.cache or default_cache_dir()
    yamnet = load_yamnet(str(SHARED / "models" / "yamnet"))
    half = embed_dataset(load_dataset(SHARED / "datasets" / "esc50"), yamnet, cache)
    v2 = cache / "embeddings" / "v2" / yamnet.identity[:16] / "shift0"
    outputs = []
    for digest in half.digests:
        with np.load(v2 / digest[:2] / f"{digest}.npz") as npz:
            outputs.append({n: npz[n] for n in V2_FEATURES})
    full = dataclasses.replace(half, outputs=outputs)
    gap = max(float(np.abs(a[n] - b[n]).max()) for a, b in zip(full.outputs, half.outputs, strict=True) for n in a)
    results: dict = {"clips": len(half), "computed_v3": half.stats.computed, "max_abs_float16_error": gap}
    cfg = TrainConfig()
    for name, views in (("float32", full), ("float16", half)):
        t = time.perf_counter()
        cv, _final = cross_validate([views], cfg, print)
        everything = np.arange(len(views))
        open_set = calibrate(
            [f.out_of_fold for f in cv.folds if f.out_of_fold is not None],
            views.patch_table(everything, ("yamnet_scores",))[0],
            budget=cfg.reject_budget,
        )
        results[name] = {
            "mean_accuracy": round(cv.mean_accuracy, 4),
            "fold_accuracies": [round(f.accuracy, 4) for f in cv.folds],
            "open_set": {k: open_set.calibration[k] for k in ("closed_accuracy", "open_accuracy", "rejected")},
            "thresholds": [round(open_set.threshold_clip, 4), round(open_set.threshold_window, 4)],
            "seconds": round(time.perf_counter() - t, 1),
        }
        print(name, json.dumps(results[name]))
    out = REPO / "bench" / "results" / "cache-precision.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
