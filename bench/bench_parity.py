"""Parity in full: every runtime, every quantization, real clips + edge cases -> docs/parity.md.

    .venv/bin/python bench/bench_parity.py [exported/esc50] [--clips 5]

Runs ``pipeline.parity.run_parity`` (the code behind ``yamnet-tfjs parity``) on an export made by
``yamnet-tfjs run`` and writes the measured table to ``docs/parity.md`` (raw: ``docs/parity.json``).
Speeds are measured side by side in one run, so compare them as ratios; the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from bench.bench_engines import kept_section
from pipeline.layout import CASE_KINDS, OUTPUTS, VARIANTS, ParityRow, parity_record
from pipeline.parity import run_parity

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def _cell(row: ParityRow, name: str, kind: str) -> str:
    measured = row.measured.get(name, {}).get(kind)
    return "-" if measured is None else f"{measured['max']:.1e} / {measured['mean']:.0e}"


def render(report: dict) -> str:
    """docs/parity.md from a parity report."""
    record = parity_record(report)
    lines = [
        "# Parity: Python vs JavaScript",
        "",
        "Produced by `bench/bench_parity.py` (the same code as `yamnet-tfjs parity`) on "
        f"`{Path(report['export']).name}`, a head trained by `yamnet-tfjs run` on ESC-50. Both sides get the same",
        "float32 16 kHz waveforms; JavaScript runs them through `web_demo/src/model.js`, the module the demo page",
        "uses: in Node (pure `@tensorflow/tfjs` cpu, and `@tensorflow/tfjs-backend-wasm`) and in headless Debian",
        "Chromium driven by Playwright (cpu, wasm, webgl). Raw numbers: `docs/parity.json`.",
        "",
        "Cases: " + ", ".join(f"{c['name']} ({c['kind']}, {c['seconds']:g} s)" for c in record.cases) + ".",
        "",
    ]
    for q in dict.fromkeys(row.variant for row in record.rows):
        rows = [row for row in record.rows if row.variant == q]
        bounds = VARIANTS[q].bounds
        lines += [f"## {q} model vs the float32 Python SavedModel", ""]
        for kind in CASE_KINDS:
            head = " | ".join(f"{n} (bound {bounds[kind][n]:.0e})" for n in OUTPUTS)
            lines += [
                f"Max / mean abs difference, **{'real audio' if kind == 'clip' else 'synthetic edge cases'}**:",
                "",
                f"| runtime | backend | {head} |",
                "|---|---|" + "---|" * len(OUTPUTS),
            ]
            for row in rows:
                if row.error is not None:
                    lines.append(f"| {row.runtime} | failed: {row.error} |" + " |" * len(OUTPUTS))
                    continue
                cells = " | ".join(_cell(row, n, kind) for n in OUTPUTS)
                lines.append(f"| {row.runtime} | {row.backend} | {cells} |")
            lines.append("")
        lines += [
            f"Top-1 agreement on real audio (required: {VARIANTS[q].top1:.0%}) and speed:",
            "",
            "| runtime | head top-1 | YAMNet top-1 | ms per s of audio | ms, 5 s clip (median over clips) | ok |",
            "|---|---|---|---|---|---|",
        ]
        for row in rows:
            if row.error is not None:
                continue
            per_clip = sorted(ms for c, ms in row.ms_per_case.items() if _seconds(report, c) == 5.0)
            median = per_clip[len(per_clip) // 2] if per_clip else float("nan")
            (head_agree, head_total), (yam_agree, yam_total) = row.top1["clip_scores"], row.top1["yamnet"]
            lines.append(
                f"| {row.runtime} | {head_agree}/{head_total} | {yam_agree}/{yam_total} | "
                f"{row.ms_per_audio_second:.1f} | {median:.0f} | "
                f"{'yes' if row.ok else 'NO: ' + '; '.join(row.failures)} |"
            )
        lines.append("")
    webgl = [row.info.get("webgl_renderer") for row in record.rows if row.runtime == "chromium-webgl"]
    lines += [
        f"Python (TensorFlow, 2 cores): {record.python_ms_per_audio_second:.1f} ms per second of audio.",
        "",
        "## What limits the agreement",
        "",
        "- The front end is a matmul DFT in every runtime (TF.js has no fast or wasm RFFT), so the log-mel",
        "  differences are float32 summation order (~1e-5; worst near-empty mel bins, where",
        "  `log(mel + 0.001)` magnifies them). Network outputs then differ by accumulated float32 rounding of",
        "  different kernels (TF's Eigen vs TF.js's JS/XNNPACK/GLSL): ~1e-5 on embeddings, ~1e-6 on probabilities.",
        "- WebGL here is " + (webgl[0] if webgl and webgl[0] else "software-rendered") + ": full float32, so it",
        "  agrees as closely as wasm. GPUs without float32 render targets make TF.js use float16 textures",
        "  (`WEBGL_RENDER_FLOAT32_ENABLED` false): not measurable on this machine, expect far larger differences",
        "  there and prefer wasm (`?backend=wasm`).",
        "- Quantized variants are compared with the float32 Python model, so their bounds measure the",
        "  quantization (network weights only): log_mel keeps its float32 bound, which shows the front end",
        "  (DFT table, mel matrix) was not quantized. uint8 moves probabilities by up to ~0.2 and can flip",
        "  near-tie clips, hence its lower top-1 requirement; see docs/quantization.md for the accuracy effect.",
        "",
    ]
    return "\n".join(lines)


def _seconds(report: dict, case: str) -> float:
    return next(c["seconds"] for c in report["cases"] if c["name"] == case)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export", nargs="?", default=str(REPO / "exported" / "esc50"))
    parser.add_argument("--clips", type=int, default=5)
    args = parser.parse_args()
    report = run_parity(
        args.export,
        n_clips=args.clips,
        runtimes=None,
        quantizations=("float32", "float16", "uint8"),
        on_message=print,
        write=False,
    )
    report["load_average"] = os.getloadavg()
    (DOCS / "parity.json").write_text(json.dumps(report, indent=2) + "\n")
    # Firefox and WebKit are opt-in runtimes with their own bench; keep the section it wrote.
    (DOCS / "parity.md").write_text(render(report) + kept_section(DOCS / "parity.md"))
    print(f"wrote {DOCS / 'parity.md'} (ok={report['ok']})")


if __name__ == "__main__":
    main()
