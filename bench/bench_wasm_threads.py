"""Does the page's wasm backend get faster with threads? Python TF beside the page, single- and multi-threaded.

The same export and the same 30 s of real ESC-50 audio, in one run:

* Python: the exported SavedModel (what `predict` runs), TensorFlow's threads pinned as the product pins them;
* the page in headless Chromium on wasm, inference on the main thread (``?worker=0``), served plainly: TF.js
  picks its single-threaded SIMD binary;
* the same page served with cross-origin isolation (COOP/COEP headers, ``yamnet-tfjs serve --isolate``):
  ``SharedArrayBuffer`` exists, and TF.js picks its threaded SIMD binary.

Calls alternate (Python, plain, isolated, ...) so the three see the same background load; each figure is the
median of the timed calls after a warm-up, in ms per second of audio.

Usage: ``.venv/bin/python bench/bench_wasm_threads.py exported/NAME [--rounds 5]``. Results go to
``bench/results/wasm-threads.json`` and the table between the ``bench:wasm-threads`` markers of docs/speed.md.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.doc_tables import markdown_table, replace_between_markers, save_results  # noqa: E402
from bench.served_pages import TIMED_CALLS_JS, wasm_pages  # noqa: E402

SHARED = Path(os.environ.get("YAMNET_TFJS_SHARED", REPO.parent / "shared"))
CLIPS = ("1-100032-A-0", "1-115545-A-48", "1-17367-A-10", "1-19111-A-24", "1-208757-A-2", "1-30226-A-0")
"""Six ESC-50 clips back to back: 30 s of real audio."""

RUN_JS = (
    """async ({b64, rounds}) => {
"""
    + TIMED_CALLS_JS
    + """
  return {ms, isolated: self.crossOriginIsolated, backend: tf.getBackend(),
          threads: tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT'), simd: tf.env().getBool('WASM_HAS_SIMD_SUPPORT'),
          cores: navigator.hardwareConcurrency};
}"""
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path, help="An exported classifier (exported/NAME).")
    parser.add_argument("--rounds", type=int, default=5, help="Timed calls per runtime and round trip.")
    args = parser.parse_args()

    from pipeline.audio import load_audio
    from pipeline.constants import SAMPLE_RATE
    from pipeline.js.site import build_site
    from pipeline.predict import load_exported

    wave = np.concatenate([load_audio(SHARED / "datasets" / "esc50" / "audio" / f"{c}.flac") for c in CLIPS])
    seconds = len(wave) / SAMPLE_RATE
    b64 = base64.b64encode(wave.astype("<f4").tobytes()).decode()
    model = load_exported(args.export)
    model(wave)  # warm-up
    site = build_site(args.export, Path(tempfile.mkdtemp(prefix="bench-threads-")) / "site")
    timings: dict[str, list[float]] = {"python": [], "plain": [], "isolated": []}
    info: dict[str, dict] = {}
    with wasm_pages({"plain": (site, False), "isolated": (site, True)}) as pages:
        for _ in range(3):  # rounds, alternating the runtimes
            for _ in range(args.rounds):
                start = time.perf_counter()
                model(wave)
                timings["python"].append(1000 * (time.perf_counter() - start))
            for name, page in pages.items():
                got = page.evaluate(RUN_JS, {"b64": b64, "rounds": args.rounds})
                timings[name] += got.pop("ms")
                info[name] = got
    per_second = {k: round(statistics.median(v) / seconds, 2) for k, v in timings.items()}
    results = {
        "audio_seconds": round(seconds, 2),
        "ms_per_second_of_audio": per_second,
        "ratio_to_python": {k: round(v / per_second["python"], 2) for k, v in per_second.items()},
        "pages": info,
        "calls": {k: len(v) for k, v in timings.items()},
        "load_average": os.getloadavg()[0],
    }
    save_results("wasm-threads", results)
    rows = [
        f"| {label} | {per_second[key]:.1f} | {results['ratio_to_python'][key]:.2f} |"
        + (f" {info[key]['threads']} | {info[key]['isolated']} |" if key in info else " – | – |")
        for key, label in (
            ("python", "Python, exported SavedModel (TF, 2 threads)"),
            ("plain", "page, wasm, served plainly"),
            ("isolated", "page, wasm, served with COOP/COEP (`serve --isolate`)"),
        )
    ]
    header = ["runtime", "ms per s of audio", "x Python", "wasm threads", "crossOriginIsolated"]
    replace_between_markers(REPO / "docs" / "speed.md", "wasm-threads", markdown_table(header, rows))


if __name__ == "__main__":
    main()
