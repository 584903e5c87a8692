"""Which compression for the float16 cache entries: size against encode and warm-read time, one run.

Reads the ESC-50 entries of the current format (``pipeline.embeddings.CACHE_FORMAT``) from a filled cache
(``--cache``, default: the user's cache; fill it with ``yamnet-tfjs embed --data .../esc50`` first), then for
each candidate zip member compression (stored, zlib level 1, zlib level 6 = ``np.savez_compressed``) writes
all of them into a fresh temporary cache through :func:`pipeline.embeddings.encode_entry` and measures:

* bytes on disk (sum of file sizes, and allocated blocks),
* encode seconds for all entries (CPU a cold run spends on top of YAMNet),
* warm :func:`pipeline.embeddings.embed_dataset` seconds (scan + hashing + reading every entry; best of
  ``--repeats``, the candidates interleaved round by round so they share the machine's load),
* decode seconds alone (:func:`pipeline.embeddings.decode_entry` of every entry, one thread, from memory).

Usage: ``.venv/bin/python bench/bench_cache_codec.py [--cache DIR] [--repeats 3]``. Results go to
``bench/results/cache-codec.json`` and the ``cache-codec`` table of ``docs/embedding.md``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.doc_tables import markdown_table, replace_between_markers  # noqa: E402

SHARED = Path(os.environ.get("YAMNET_TFJS_SHARED", REPO.parent / "shared"))
CANDIDATES = {"stored": None, "zlib-1": 1, "zlib-6": 6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None, help="a cache holding ESC-50's entries")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import pipeline.embeddings as emb
    from pipeline.datasets import load_dataset
    from pipeline.yamnet import load_yamnet

    yamnet = load_yamnet(str(SHARED / "models" / "yamnet"))
    source = emb.EmbeddingCache(args.cache or emb.default_cache_dir(), yamnet.identity)
    dataset = load_dataset(SHARED / "datasets" / "esc50")
    digests = [emb.file_digest(c.path) for c in dataset.clips]
    features = [source.get(d) for d in digests]
    if any(f is None for f in features):
        sys.exit(f"{sum(f is None for f in features)} ESC-50 clips are not in {source.root}: embed them first")
    results: dict = {"clips": len(digests), "format": emb.CACHE_FORMAT, "load_average": [os.getloadavg()[0]]}
    chosen = emb.ENTRY_COMPRESSLEVEL
    with tempfile.TemporaryDirectory() as tmp:
        caches = {}
        for name, level in CANDIDATES.items():
            emb.ENTRY_COMPRESSLEVEL = level
            t = time.perf_counter()
            blobs = [emb.encode_entry(f) for f in features]  # type: ignore[arg-type]
            encode = time.perf_counter() - t
            cache = emb.EmbeddingCache(Path(tmp) / name, yamnet.identity)
            for d, blob in zip(digests, blobs, strict=True):
                path = cache.path(d)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(blob)
            t = time.perf_counter()
            for blob in blobs:
                emb.decode_entry(io.BytesIO(blob))
            decode = time.perf_counter() - t
            files = list(cache.root.rglob("*.npz"))
            results[name] = {
                "bytes": sum(p.stat().st_size for p in files),
                "allocated_bytes": sum(p.stat().st_blocks * 512 for p in files),
                "encode_seconds": round(encode, 2),
                "decode_seconds": round(decode, 2),
                "warm_seconds": [],
            }
            caches[name] = Path(tmp) / name
            del blobs
        for _ in range(args.repeats):
            for name, folder in caches.items():
                t = time.perf_counter()
                warm = emb.embed_dataset(load_dataset(SHARED / "datasets" / "esc50"), yamnet, folder)
                results[name]["warm_seconds"].append(round(time.perf_counter() - t, 2))
                assert warm.stats.cached == len(digests)
    emb.ENTRY_COMPRESSLEVEL = chosen
    results["load_average"].append(os.getloadavg()[0])
    results["chosen"] = next(k for k, v in CANDIDATES.items() if v == chosen)
    out = REPO / "bench" / "results" / "cache-codec.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    rows = []
    for name in CANDIDATES:
        r = results[name]
        rows.append(
            f"| {name}{' (chosen)' if name == results['chosen'] else ''} | {r['bytes'] / 1e6:.1f} | "
            f"{r['allocated_bytes'] / 2**20:.1f} | {r['encode_seconds']} | {r['decode_seconds']} | "
            f"{min(r['warm_seconds'])} ({', '.join(map(str, r['warm_seconds']))}) |"
        )
    header = ["entry member", "MB (10^6 B)", "on disk MiB", "encode s", "decode s", "warm s, best (all)"]
    replace_between_markers(REPO / "docs" / "embedding.md", "cache-codec", markdown_table(header, rows))


if __name__ == "__main__":
    main()
