"""Embedding speed on all of ESC-50, side by side in one run, against two yardsticks.

1. the machine's dense matmul rate (float32 2048x2048 ``tf.matmul``, best of several), measured in
   this same process so the comparison is fair under whatever else the machine is doing;
2. the naive loop: decode a file, call the hub model on it, next file;
3. :func:`pipeline.embeddings.embed_dataset` cold (empty cache, decoding included) and warm (data set
   scan + hashing the audio + reading every entry), with the size of the cache the cold run wrote
   (sum of entry file sizes) and, to read the warm time, the hashing alone (same 2 threads).

(2) and (3) are interleaved in chunks of 250 clips, alternating which runs first, and summed, so
both see the same background load (the machine is shared; a sequential A-then-B run was seen to
favour whichever ran in the quieter minute).

YAMNet does 69.2 M multiply-adds per patch (138.4 MFLOP), so "effective GFLOP/s" below is
patches/s x 0.1384 and "% of matmul" compares it with (1).

TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` once, at import; ``pipeline.tfenv`` turns oneDNN on by
default (it was off before; rows named "default" were measured then, with Eigen's kernels). ``--eigen``
runs this benchmark with Eigen's kernels (set before TensorFlow is imported), ``--onednn`` with oneDNN's.

Usage: ``.venv/bin/python bench/bench_embed.py [--onednn | --eigen] [--clips N] [--skip-naive]``. Results go to
``bench/results/embed-<mode>.json`` and into the table in ``docs/embedding.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.doc_tables import markdown_table, replace_between_markers  # noqa: E402

SHARED = Path(os.environ.get("YAMNET_TFJS_SHARED", REPO.parent / "shared"))
MFLOP_PER_PATCH = 138.4  # 2 x 69.2 M multiply-adds


def matmul_gflops(tf, n: int = 2048, reps: int = 8) -> float:
    a = tf.random.normal([n, n], seed=1)
    tf.matmul(a, a).numpy()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        tf.matmul(a, a).numpy()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onednn", action="store_true", help="TensorFlow's oneDNN kernels (the default)")
    parser.add_argument("--eigen", action="store_true", help="TensorFlow's Eigen kernels (the old default)")
    parser.add_argument("--clips", type=int, default=0, help="only the first N clips (default: all 2000)")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--chunk", type=int, default=250, help="clips per interleaved chunk")
    args = parser.parse_args()
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0" if args.eigen else "1"
    from pipeline.audio import load_audio
    from pipeline.datasets import Dataset, load_dataset
    from pipeline.embeddings import CACHE_FORMAT, ENTRY_SUFFIX, embed_dataset, file_digest
    from pipeline.tfenv import tf as get_tf
    from pipeline.yamnet import load_yamnet

    tf = get_tf()
    mode = "default" if args.eigen else "onednn"  # "default": the rows measured while Eigen was the default
    load_before = os.getloadavg()[0]
    yamnet = load_yamnet(str(SHARED / "models" / "yamnet"))
    dataset = load_dataset(SHARED / "datasets" / "esc50")
    if args.clips:
        dataset.clips = dataset.clips[: args.clips]
    n = len(dataset.clips)
    results: dict = {"mode": mode, "clips": n, "cpus": os.cpu_count()}
    results["matmul_gflops_before"] = round(matmul_gflops(tf), 1)
    yamnet(load_audio(dataset.clips[0].path))  # warm-up of the hub call
    naive_seconds = cold_seconds = 0.0
    patches = network_calls = 0
    chunks = [dataset.clips[i : i + args.chunk] for i in range(0, n, args.chunk)]
    with tempfile.TemporaryDirectory() as cache:
        # Interleave the two methods chunk by chunk (alternating which goes first), so that both
        # totals over all clips see the same background load on this shared machine.
        for k, chunk in enumerate(chunks):
            part = Dataset(dataset.root, dataset.kind, chunk, dataset.labels)

            def naive(chunk=chunk) -> float:
                t = time.perf_counter()
                for clip in chunk:
                    yamnet(load_audio(clip.path))
                return time.perf_counter() - t

            def pipeline(part=part) -> float:
                nonlocal patches, network_calls
                t = time.perf_counter()
                out = embed_dataset(part, yamnet, Path(cache))
                seconds = time.perf_counter() - t
                patches += out.stats.patches
                network_calls += out.stats.network_calls
                return seconds

            order = [naive, pipeline] if k % 2 == 0 else [pipeline, naive]
            for job in order:
                if job is naive and args.skip_naive:
                    continue
                seconds = job()
                if job is naive:
                    naive_seconds += seconds
                else:
                    cold_seconds += seconds
        results["cold_seconds"] = round(cold_seconds, 2)  # first chunk includes splitting the graph (~1 s)
        if not args.skip_naive:
            results["naive_seconds"] = round(naive_seconds, 2)
        results["patches"] = patches
        results["network_calls"] = network_calls
        t = time.perf_counter()
        warm_set = load_dataset(SHARED / "datasets" / "esc50")
        if args.clips:
            warm_set.clips = warm_set.clips[: args.clips]
        warm = embed_dataset(warm_set, yamnet, Path(cache))
        results["warm_seconds"] = round(time.perf_counter() - t, 2)  # data set scan + hashing + loading
        assert warm.stats.computed == 0
        results["warm_over_cold"] = round(results["warm_seconds"] / results["cold_seconds"], 4)
        t = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(file_digest, [c.path for c in warm_set.clips]))
        results["hash_seconds"] = round(time.perf_counter() - t, 2)  # the part of warm that is not the cache
        entries = list(Path(cache).rglob("*" + ENTRY_SUFFIX))
        results["cache_format"] = CACHE_FORMAT
        results["cache_entries"] = len(entries)
        results["cache_bytes"] = sum(p.stat().st_size for p in entries)
        results["cache_allocated_bytes"] = sum(p.stat().st_blocks * 512 for p in entries)
    results["matmul_gflops_after"] = round(matmul_gflops(tf), 1)
    peak = max(results["matmul_gflops_before"], results["matmul_gflops_after"])
    for key in ("naive", "cold"):
        if f"{key}_seconds" in results:
            gflops = results["patches"] * MFLOP_PER_PATCH / 1000 / results[f"{key}_seconds"]
            results[f"{key}_gflops"] = round(gflops, 1)
            results[f"{key}_percent_of_matmul"] = round(100 * gflops / peak, 1)
            results[f"{key}_clips_per_second"] = round(n / results[f"{key}_seconds"], 1)
    results["ideal_seconds_at_matmul_rate"] = round(results["patches"] * MFLOP_PER_PATCH / 1000 / peak, 2)
    results["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    out = REPO / "bench" / "results" / f"embed-{mode}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    update_docs()


def _ratio(r: dict) -> str:
    return f"1/{r['cold_seconds'] / r['warm_seconds']:.1f}"


def _cache_mb(r: dict) -> str:
    """Entry bytes in MB (10^6), with the format; rows measured before the size was recorded say so."""
    if "cache_bytes" not in r:
        return "374 (v2, float32)" if r["clips"] == 2000 else "-"
    return f"{r['cache_bytes'] / 1e6:.1f} ({r['cache_format']})"


def update_docs() -> None:
    """Rewrite the results table in docs/embedding.md from every bench/results/embed-*.json."""
    rows = []
    for path in sorted((REPO / "bench" / "results").glob("embed-*.json")):
        r = json.loads(path.read_text())
        rows.append(
            f"| {r['mode']} | {r['clips']} | {r.get('naive_seconds', '-')} | {r['cold_seconds']} | "
            f"{r['warm_seconds']} | {_ratio(r)} | {_cache_mb(r)} | {r.get('cold_gflops', '-')} | "
            f"{max(r['matmul_gflops_before'], r['matmul_gflops_after'])} | {r.get('cold_percent_of_matmul', '-')} % | "
            f"{r['ideal_seconds_at_matmul_rate']} | {r['load_average'][0]} → {r['load_average'][1]} |"
        )
    header = ["TF kernels", "clips", "naive loop s", "cold s", "warm s", "warm/cold", "cache MB"]
    header += ["cold GFLOP/s", "matmul GFLOP/s"]
    header += ["cold % of matmul", "ideal s", "load avg"]
    replace_between_markers(REPO / "docs" / "embedding.md", "embed", markdown_table(header, rows))


if __name__ == "__main__":
    main()
