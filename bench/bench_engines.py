"""Parity in every browser engine (Chromium, Firefox, WebKit) -> a section of docs/parity.md.

    .venv/bin/python bench/bench_engines.py EXPORT [--clips 3] [--data ../shared/datasets/esc50]

Runs ``pipeline.parity.run_parity`` (the code behind ``yamnet-tfjs parity -r ...``) for the float32
model on each engine's wasm and cpu backends (Node wasm as the reference point), and writes the
result between :data:`BEGIN` and :data:`END` in ``docs/parity.md`` (raw: ``docs/parity-engines.json``).
It is a separate bench because Firefox and WebKit are opt-in runtimes: ``bench_parity.py`` regenerates
the rest of the page and keeps this section (:func:`kept_section`).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from pipeline.layout import OUTPUTS, VARIANTS, parity_record
from pipeline.parity import run_parity

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
BEGIN = "<!-- engines: written by bench/bench_engines.py -->"
END = "<!-- /engines -->"
RUNTIMES = ("node-wasm", "chromium-wasm", "firefox-wasm", "firefox-cpu", "webkit-wasm", "webkit-cpu")


def render(report: dict) -> str:
    """The section, from a float32 parity report."""
    record = parity_record(report)
    bounds = VARIANTS["float32"].bounds
    real = sum(c["kind"] == "clip" for c in record.cases)
    lines = [
        BEGIN,
        "## Every browser engine (float32, opt-in runtimes)",
        "",
        "`yamnet-tfjs parity EXPORT -r firefox,webkit` (or `-r all`) runs the same harness page in Debian's",
        "Firefox ESR (headless, WebDriver BiDi via puppeteer-core) and WebKitGTK's MiniBrowser (WebKitWebDriver",
        "via Selenium, on a private Xvfb display). They are not in the default set; a runtime whose browser is",
        "not installed is skipped with what to install. Measured once by `bench/bench_engines.py` on",
        f"`{Path(report['export']).name}` (the tests' 4-class head) with {real} real-audio cases (ESC-50 clips, a",
        "0.5 s cut, 30 s) and the synthetic edge cases; max abs difference vs Python, real audio / synthetic:",
        "",
        "| runtime | browser | " + " | ".join(f"{n} (bound {bounds['clip'][n]:.0e})" for n in OUTPUTS) + " |",
        "|---|---|" + "---|" * len(OUTPUTS),
    ]
    for row in record.rows:
        if row.skipped is not None or row.error is not None:
            lines.append(f"| {row.runtime} | {row.skipped or row.error} |" + " |" * len(OUTPUTS))
            continue
        cells = " | ".join(" / ".join(_max(row.measured[n], k) for k in ("clip", "synthetic")) for n in OUTPUTS)
        lines.append(f"| {row.runtime} | {row.info.get('browser', 'node')} | {cells} |")
    lines += [
        "",
        "| runtime | head top-1 | YAMNet top-1 | ms per s of audio | SIMD | ok |",
        "|---|---|---|---|---|---|",
    ]
    for row in record.rows:
        if row.skipped is not None or row.error is not None:
            continue
        (head_agree, head_total), (yam_agree, yam_total) = row.top1["clip_scores"], row.top1["yamnet"]
        simd = row.info.get("flags", {}).get("WASM_HAS_SIMD_SUPPORT")
        lines.append(
            f"| {row.runtime} | {head_agree}/{head_total} | {yam_agree}/{yam_total} | {row.ms_per_audio_second:.1f}"
            f" | {'-' if simd is None else 'yes' if simd else 'no'} | {'yes' if row.ok else 'NO'} |"
        )
    lines += [
        "",
        "- Every engine runs the same TF.js kernels per backend (XNNPACK in wasm, plain JS on cpu), so on one",
        "  backend the differences from Python should match across engines to the digits shown; the engine",
        "  changes only the speed. Compare the rows above to check that on a given machine.",
        "- No WebGL runtime: headless Firefox has no WebGL, and WebKitGTK's WebGL here is llvmpipe (it reports",
        '  its renderer as "Apple GPU"; the page treats that name off Apple hardware as software and picks wasm),',
        "  which took ~7.5 s per 5 s clip against ~0.22 s on wasm when probed (not a parity runtime).",
        f"- Speeds are one run side by side on a shared 2-core machine (load average {_load(report)}): compare",
        "  them as ratios.",
        END,
    ]
    return "\n".join(lines)


def _max(measured: dict, kind: str) -> str:
    return f"{measured[kind]['max']:.1e}" if kind in measured else "-"


def _load(report: dict) -> str:
    return ", ".join(f"{x:.1f}" for x in report.get("load_average", ())) or "unknown"


def kept_section(path: Path) -> str:
    """The engines section of an existing docs/parity.md ('' when there is none), for bench_parity.py."""
    text = path.read_text() if path.is_file() else ""
    start, end = text.find(BEGIN), text.find(END)
    return text[start : end + len(END)] + "\n" if start >= 0 and end > start else ""


def write_section(path: Path, section: str) -> None:
    """Replace the engines section of ``path`` with ``section`` (appended when absent)."""
    text = path.read_text() if path.is_file() else ""
    old = kept_section(path)
    text = text.replace(old, section + "\n") if old else text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export")
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--data", default=None, help="Data set for the real clips (default: report.json's).")
    args = parser.parse_args()
    report = run_parity(
        args.export, n_clips=args.clips, runtimes=RUNTIMES, data=args.data, on_message=print, write=False
    )
    report["load_average"] = os.getloadavg()
    (DOCS / "parity-engines.json").write_text(json.dumps(report, indent=2) + "\n")
    write_section(DOCS / "parity.md", render(report))
    print(f"wrote {DOCS / 'parity.md'} (ok={report['ok']})")


if __name__ == "__main__":
    main()
