"""Which encoding for the float16 cache entries: size against encode and warm-read time, one run.

Reads the ESC-50 entries of the current format (``pipeline.embeddings.CACHE_FORMAT``) from a filled cache
(``--cache``, default: the user's cache; fill it with ``yamnet-tfjs embed --data .../esc50`` first), then for
each candidate encoding of the same float16 array writes all of them into a fresh temporary cache and measures:

* bytes on disk (sum of file sizes, and allocated blocks),
* encode seconds for all entries (CPU a cold run spends on top of YAMNet),
* warm :func:`pipeline.embeddings.embed_dataset` seconds (scan + hashing + reading every entry; best of
  ``--repeats``, the candidates interleaved round by round so they share the machine's load),
* decode seconds alone (every entry, one thread, from memory).

Candidates: the product's encoding (:func:`pipeline.embeddings.encode_entry`, byte planes, zlib), and the
previous format v3 (the array in an ``.npz`` zip member, stored or deflated at zlib level 1 or 6), written
here with NumPy as v3 wrote them.

Usage: ``.venv/bin/python bench/bench_cache_codec.py [--cache DIR] [--repeats 3]``. Results go to
``bench/results/cache-codec.json`` and the ``cache-codec`` table of ``docs/embedding.md``.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.doc_tables import markdown_table, replace_between_markers, save_results  # noqa: E402

SHARED = Path(os.environ.get("YAMNET_TFJS_SHARED", REPO.parent / "shared"))
CHOSEN = "byte planes, zlib-1 (v4)"


def _npz_codec(level: int | None) -> tuple[Callable, Callable]:
    """Format v3's entry: the float16 array as the one member of an ``.npz`` (stored, or deflated)."""
    import pipeline.embeddings as emb

    def encode(features: dict) -> bytes:
        buffer = io.BytesIO()
        method = zipfile.ZIP_STORED if level is None else zipfile.ZIP_DEFLATED
        with (
            zipfile.ZipFile(buffer, "w", method, compresslevel=level) as archive,
            archive.open("features.npy", "w") as m,
        ):
            np.lib.format.write_array(m, emb.entry_table(features), allow_pickle=False)
        return buffer.getvalue()

    def decode(source: Any) -> dict | None:
        with np.load(source) as loaded:
            return emb.entry_features(loaded["features"])

    return encode, decode


def candidates() -> dict[str, tuple[Callable, Callable, str]]:
    import pipeline.embeddings as emb

    out = {CHOSEN: (emb.encode_entry, emb.decode_entry, emb.ENTRY_SUFFIX)}
    for name, level in (("npz stored (v3)", None), ("npz zlib-1", 1), ("npz zlib-6", 6)):
        out[name] = (*_npz_codec(level), ".npz")
    return out


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
    product = (emb.encode_entry, emb.decode_entry, emb.ENTRY_SUFFIX)
    codecs = candidates()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            caches = {}
            for i, (name, (encode, decode, suffix)) in enumerate(codecs.items()):
                t = time.perf_counter()
                blobs = [encode(f) for f in features]
                encoded = time.perf_counter() - t
                emb.ENTRY_SUFFIX = suffix
                cache = emb.EmbeddingCache(Path(tmp) / str(i), yamnet.identity)
                for d, blob in zip(digests, blobs, strict=True):
                    path = cache.path(d)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(blob)
                t = time.perf_counter()
                for blob, f in zip(blobs, features, strict=True):
                    back = decode(io.BytesIO(blob))
                    assert np.array_equal(back["layer13"], f["layer13"])  # type: ignore[index]
                decoded = time.perf_counter() - t
                files = list(cache.root.rglob("*" + suffix))
                results[name] = {
                    "bytes": sum(p.stat().st_size for p in files),
                    "allocated_bytes": sum(p.stat().st_blocks * 512 for p in files),
                    "encode_seconds": round(encoded, 2),
                    "decode_seconds": round(decoded, 2),
                    "warm_seconds": [],
                }
                caches[name] = Path(tmp) / str(i)
                del blobs
            for _ in range(args.repeats):
                for name, folder in caches.items():
                    _, emb.decode_entry, emb.ENTRY_SUFFIX = codecs[name]
                    t = time.perf_counter()
                    warm = emb.embed_dataset(load_dataset(SHARED / "datasets" / "esc50"), yamnet, folder)
                    results[name]["warm_seconds"].append(round(time.perf_counter() - t, 2))
                    assert warm.stats.cached == len(digests)
    finally:
        emb.encode_entry, emb.decode_entry, emb.ENTRY_SUFFIX = product
    results["load_average"].append(os.getloadavg()[0])
    results["chosen"] = CHOSEN
    save_results("cache-codec", results)
    rows = []
    for name in codecs:
        r = results[name]
        rows.append(
            f"| {name}{' (chosen)' if name == CHOSEN else ''} | {r['bytes'] / 1e6:.1f} | "
            f"{r['allocated_bytes'] / 2**20:.1f} | {r['encode_seconds']} | {r['decode_seconds']} | "
            f"{min(r['warm_seconds'])} ({', '.join(map(str, r['warm_seconds']))}) |"
        )
    header = ["entry encoding", "MB (10^6 B)", "on disk MiB", "encode s", "decode s", "warm s, best (all)"]
    replace_between_markers(REPO / "docs" / "embedding.md", "cache-codec", markdown_table(header, rows))


if __name__ == "__main__":
    main()
