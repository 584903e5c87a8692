"""Where the page's wasm time goes: TF.js kernel times of the exported graph, for a live window and a file.

For each export given (e.g. before and after a graph change), the page is served and opened in headless
Chromium on wasm with inference on the main thread (``?worker=0``); in one run, exports interleaved:

* the page's own ``classifier.run`` on one live window (0.975 s) and on 10 s of real ESC-50 audio: median
  ms per call over ``--rounds`` timed calls after a warm-up;
* ``tf.profile`` of one ``model.execute`` of each: kernel time per kernel name, and the front end's share
  (everything before the first convolution: framing, the DFT basis and matmul, the mel matrix, the log).

Usage: ``.venv/bin/python bench/bench_wasm_kernels.py exported/A [exported/B ...] [--names a,b] [--rounds 20]``.
Results go to ``bench/results/wasm-kernels.json`` and the table between the ``bench:wasm-kernels`` markers of
docs/speed.md.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.doc_tables import markdown_table, replace_between_markers, save_results  # noqa: E402
from bench.served_pages import TIMED_CALLS_JS, wasm_pages  # noqa: E402

SHARED = Path(os.environ.get("YAMNET_TFJS_SHARED", REPO.parent / "shared"))
CLIPS = ("1-100032-A-0", "1-115545-A-48")
"""Two ESC-50 clips back to back: 10 s of real audio; the live window is its first 0.975 s."""

PROFILE_JS = (
    """async ({b64, rounds}) => {
"""
    + TIMED_CALLS_JS
    + """  ms.sort((a, b) => a - b);
  const input = tf.tensor1d(wave);
  const info = await tf.profile(() => clf.model.execute(input));
  input.dispose();
  // kernels run in graph order: the front end is everything before YAMNet's first convolution
  const first = info.kernels.findIndex((k) => k.name === 'FusedConv2D' || k.name === 'Conv2D');
  const byName = {};
  let front = 0, total = 0;
  info.kernels.forEach((k, i) => {
    const t = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    if (k.name.endsWith('__op')) return;  // the op wrapper around a kernel: counted once, as the kernel
    byName[k.name] = (byName[k.name] || 0) + t;
    total += t;
    if (i < first) front += t;
  });
  return {median_ms: ms[Math.floor(ms.length / 2)], kernel_ms: total, front_end_ms: front, by_kernel: byName,
          backend: tf.getBackend()};
}"""
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exports", type=Path, nargs="+", help="Exported classifiers (exported/NAME).")
    parser.add_argument("--rounds", type=int, default=20, help="Timed calls per input and export.")
    parser.add_argument("--names", default="", help="Comma-separated labels for the exports (default: folders).")
    args = parser.parse_args()

    from pipeline.audio import load_audio
    from pipeline.js.site import build_site

    wave = np.concatenate([load_audio(SHARED / "datasets" / "esc50" / "audio" / f"{c}.flac") for c in CLIPS])
    inputs = {"live window (0.975 s)": wave[:15600], "file (10 s)": wave}
    encoded = {name: base64.b64encode(w.astype("<f4").tobytes()).decode() for name, w in inputs.items()}
    names = [n.strip() for n in args.names.split(",") if n.strip()] or [p.resolve().name for p in args.exports]
    if len(names) != len(args.exports) or len(set(names)) != len(names):
        parser.error("--names needs one distinct label per export")
    sites = {}
    for name, export in zip(names, args.exports, strict=True):
        sites[name] = (build_site(export, Path(tempfile.mkdtemp(prefix="bench-kernels-")) / "site"), False)
    results: dict = {"load_average": [os.getloadavg()[0]], "exports": {}}
    with wasm_pages(sites) as pages:
        for label in inputs:  # exports interleaved per input, so they share the machine's load
            for name, page in pages.items():
                got = page.evaluate(PROFILE_JS, {"b64": encoded[label], "rounds": args.rounds})
                results["exports"].setdefault(name, {})[label] = got
    results["load_average"].append(os.getloadavg()[0])
    save_results("wasm-kernels", results)
    rows = []
    for name, per_input in results["exports"].items():
        for label, r in per_input.items():
            top = sorted(r["by_kernel"].items(), key=lambda kv: -kv[1])[:4]
            share = 100 * r["front_end_ms"] / max(r["kernel_ms"], 1e-9)
            rows.append(
                f"| {name} | {label} | {r['median_ms']:.1f} | {r['kernel_ms']:.1f} | {share:.0f} % | "
                + ", ".join(f"{k} {v:.1f}" for k, v in top)
                + " |"
            )
    header = ["export", "input", "ms per call", "kernel ms (profiled)", "front end", "top kernels (ms)"]
    replace_between_markers(REPO / "docs" / "speed.md", "wasm-kernels", markdown_table(header, rows))


if __name__ == "__main__":
    main()
