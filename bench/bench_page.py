"""The demo page's main thread and memory, in headless Chromium -> docs/page.md.

    .venv/bin/python bench/bench_page.py exported/esc50 [--seconds 30] [--hours 1]

1. **Long tasks**: the page classifies a real ESC-50 clip played by Chromium's fake microphone on the
   wasm backend, once with inference on the main thread (``?worker=0``, the page before the worker)
   and once in the Web Worker; a ``PerformanceObserver('longtask')`` installed before the page's own
   scripts records every main-thread task over 50 ms during ``--seconds`` of live classification
   (counted from the third window, so model loading and warm-up are not in it).
2. **A long file**: a ``--hours`` WAV (16 kHz mono 16-bit, real ESC-50 clips back to back) dropped on
   the page (worker on). While it is decoded and classified chunk by chunk, the page's JS heap is
   sampled through CDP ``Performance.getMetrics`` (``JSHeapUsedSize``; the main thread's V8 heap,
   without ArrayBuffer contents) and the renderer processes' resident memory through /proc (VmRSS,
   and VmHWM for the peak: this counts the decoded AudioBuffer, the worker and its wasm memory).

Writes ``bench/results/page.json`` and the table between the ``bench:page`` markers of docs/page.md.
Chromium is launched once per measurement; nothing else heavy should run beside it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
from playwright.sync_api import Error as PlaywrightError

from bench.doc_tables import markdown_table, replace_between_markers
from pipeline.audio import load_audio
from pipeline.constants import SAMPLE_RATE
from pipeline.js.browser import fake_microphone_wav, launch_chromium
from pipeline.js.site import build_site, make_server

REPO = Path(__file__).resolve().parents[1]
ESC50 = REPO.parent / "shared" / "datasets" / "esc50"
MIC_CLIP = "1-211527-C-20.flac"

LONGTASK_OBSERVER = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longTasks.push({start: e.startTime, ms: e.duration});
}).observe({type: 'longtask', buffered: true});
"""


def measure_long_tasks(page, seconds: float) -> dict:
    """Start the microphone on an open, ready page; long tasks over ``seconds`` after the third window."""
    page.click('[data-testid="start-mic"]')
    page.wait_for_function("yamnetDemo.stats.windows >= 3", timeout=60_000)
    t0 = page.evaluate("performance.now()")
    w0 = page.evaluate("yamnetDemo.stats.windows")
    page.wait_for_timeout(seconds * 1000)
    got = page.evaluate(
        "(t0) => ({tasks: window.__longTasks.filter((t) => t.start >= t0), stats: {...yamnetDemo.stats},"
        " now: performance.now(), inference: yamnetDemo.inference, backend: yamnetDemo.backend})",
        t0,
    )
    page.click('[data-testid="stop-mic"]')
    durations = [t["ms"] for t in got["tasks"]]
    return {
        "inference": got["inference"],
        "backend": got["backend"],
        "seconds": round((got["now"] - t0) / 1000, 1),
        "windows": got["stats"]["windows"] - w0,
        "skipped": got["stats"]["skipped"],
        "mean_window_ms": round(got["stats"]["meanMs"], 1),
        "long_tasks": len(durations),
        "long_task_max_ms": round(max(durations), 1) if durations else 0.0,
        "long_task_total_ms": round(sum(durations), 1),
    }


def long_recording(path: Path, hours: float, esc50: Path = ESC50) -> Path:
    """A ``hours`` long 16 kHz mono 16-bit WAV of real ESC-50 clips back to back (cycled)."""
    import soundfile as sf

    with open(esc50 / "meta" / "esc50.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    clips = [load_audio(esc50 / "audio" / (Path(r["filename"]).stem + ".flac")) for r in rows[:: len(rows) // 40][:40]]
    need = int(hours * 3600 * SAMPLE_RATE)
    with sf.SoundFile(str(path), "w", SAMPLE_RATE, 1, subtype="PCM_16", format="WAV") as out:
        written, i = 0, 0
        while written < need:
            clip = clips[i % len(clips)][: need - written]
            out.write(np.clip(clip, -1, 1))
            written += len(clip)
            i += 1
    return path


def _renderer_pids(marker: str) -> list[int]:
    """Renderer processes of the Chromium whose browser process carries ``marker`` on its command line."""
    parents, cmdlines = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdlines[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    roots = {pid for pid, cmd in cmdlines.items() if marker in cmd}

    def descends(pid: int) -> bool:
        while pid > 1:
            if pid in roots:
                return True
            pid = parents.get(pid, 0)
        return False

    return [pid for pid, cmd in cmdlines.items() if "--type=renderer" in cmd and descends(pid)]


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure_long_file(url: str, wav: Path, timeout: float = 900) -> dict:
    """Drop ``wav`` on the page (worker on, wasm); peak JS heap and renderer memory while it is classified."""
    marker = f"--yamnet-bench={uuid.uuid4().hex}"
    with launch_chromium(extra_args=[marker]) as browser:
        context = browser.new_context()
        page = context.new_page()
        page.goto(url + "?backend=wasm")
        page.wait_for_selector("body[data-ready=true]", timeout=120_000)
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        pids = _renderer_pids(marker)

        def sample() -> tuple[float, float]:
            metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            rss = sum(_status_kb(pid, "VmRSS") for pid in pids) / 1024
            return metrics["JSHeapUsedSize"] / 2**20, rss

        heap0, rss0 = sample()
        page.set_input_files('[data-testid="file-input"]', str(wav))
        t0 = time.perf_counter()
        heap_peak, rss_peak, progress_seen = heap0, rss0, set()
        heap_end = rss_end = hwm = float("nan")
        try:
            while time.perf_counter() - t0 < timeout:
                heap, rss = sample()
                heap_peak, rss_peak = max(heap_peak, heap), max(rss_peak, rss)
                hwm = sum(_status_kb(pid, "VmHWM") for pid in pids) / 1024
                status = page.text_content('[data-testid="status"]') or ""
                failed = page.get_attribute('[data-testid="status"]', "data-kind") == "error"
                if status.startswith("Classified") or failed:
                    break
                bar = page.query_selector('[data-testid="file-progress"]')  # absent on the page before chunks
                if bar is not None:
                    progress_seen.add(round(float(bar.evaluate("b => b.value")), 2))
                page.wait_for_timeout(500)
            seconds = time.perf_counter() - t0
            heap_end, rss_end = sample()
            hwm = sum(_status_kb(pid, "VmHWM") for pid in pids) / 1024  # the peak, read last
            result = page.evaluate(
                "({status: document.querySelector('[data-testid=status]').textContent, file: yamnetDemo.file &&"
                " {duration: yamnetDemo.file.duration, chunks: yamnetDemo.file.chunks ?? 1,"
                " patches: yamnetDemo.file.out.scores.shape[0]}, inference: yamnetDemo.inference ?? 'main thread'})"
            )
        except PlaywrightError as err:  # the renderer crashed (out of memory)
            seconds = time.perf_counter() - t0
            result = {"status": f"page crashed: {str(err).splitlines()[0]}", "file": None, "inference": None}
        context.close()
    return {
        **result,
        "file_mb": round(wav.stat().st_size / 2**20, 1),
        "seconds": round(seconds, 1),
        "js_heap_before_mb": round(heap0, 1),
        "js_heap_peak_mb": round(heap_peak, 1),
        "js_heap_after_mb": round(heap_end, 1),
        "renderer_rss_before_mb": round(rss0, 1),
        "renderer_rss_peak_sampled_mb": round(rss_peak, 1),
        "renderer_rss_after_mb": round(rss_end, 1),
        "renderer_peak_vmhwm_mb": round(hwm, 1),
        "progress_values_seen": len(progress_seen),
    }


def _serve_old_page(export: Path, rev: str, tmp: Path) -> str:
    """Build the site with the page sources of git revision ``rev`` (same model, same TF.js) and serve it."""
    import subprocess

    archive = subprocess.run(["git", "archive", rev, "web_demo"], cwd=REPO, capture_output=True, check=True).stdout
    old = tmp / "old"
    old.mkdir()
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
    (old / "web_demo" / "node_modules").symlink_to((REPO / "web_demo" / "node_modules").resolve())
    site = build_site(export, tmp / "old-site", web=old / "web_demo")
    server = make_server(site, 0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/"


def _file_row(what: str, f: dict) -> str:
    if f["file"]:
        done = f"{f['file']['chunks']} chunk(s), classified in {f['seconds']:.0f} s"
    else:
        done = f"{f['status']} after {f['seconds']:.0f} s"
    heap = f"{f['js_heap_before_mb']:.0f} → {f['js_heap_peak_mb']:.0f} MB"
    # VmHWM (peak RSS) or the highest 0.5 s sample: a renderer that exits takes its VmHWM with it.
    peak = max(f["renderer_peak_vmhwm_mb"], f["renderer_rss_peak_sampled_mb"])
    rss = f"{f['renderer_rss_before_mb']:.0f} → {peak:.0f} MB"
    return f"| {what} | {done} | - | - | - | {heap} | {rss} |"


def render_table(result: dict) -> str:
    """docs/page.md's table: one row per live run, one per long-file run."""
    rows = []
    for r in result["long_tasks"]:
        over = f"{r['seconds']:.0f} s, {r['windows']} windows, {r['mean_window_ms']:.0f} ms each"
        rows.append(
            f"| live, inference on the {r['inference']} | {over} | {r['long_tasks']} "
            f"| {r['long_task_max_ms']:.0f} ms | {r['long_task_total_ms']:.0f} ms | - | - |"
        )
    if result.get("long_file"):
        f = result["long_file"]
        what = f"{f['file']['duration'] / 3600:.2f} h WAV ({f['file_mb']:.0f} MB) dropped, worker, 60 s chunks"
        rows.append(_file_row(what, f))
    if result.get("long_file_before"):
        what = "same file, page before this change (one call over the whole file)"
        rows.append(_file_row(what, result["long_file_before"]))
    header = ["run (wasm)", "measured over", "long tasks", "longest", "total", "page JS heap", "renderer RSS (peak)"]
    return markdown_table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path, help="an export folder (exported/NAME) or a built site")
    parser.add_argument("--seconds", type=float, default=30.0, help="live classification measured per run")
    parser.add_argument("--hours", type=float, default=1.0, help="length of the long file (0: skip)")
    parser.add_argument("--esc50", type=Path, default=ESC50)
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "page.md")
    parser.add_argument("--before", metavar="REV", help="also drop the long file on the page of git revision REV")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        site = build_site(args.export, tmp / "site")
        server = make_server(site, 0, quiet=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        mic = fake_microphone_wav(load_audio(args.esc50 / "audio" / MIC_CLIP), SAMPLE_RATE, tmp / "mic.wav")
        result: dict = {"long_tasks": []}
        for worker in ("0", "1"):
            with launch_chromium(fake_audio=mic) as browser:
                context = browser.new_context(permissions=["microphone"])
                page = context.new_page()
                page.add_init_script(LONGTASK_OBSERVER)
                page.goto(url + f"?backend=wasm&worker={worker}")
                page.wait_for_selector("body[data-ready=true]", timeout=120_000)
                run = measure_long_tasks(page, args.seconds)
                context.close()
            print(json.dumps(run))
            result["long_tasks"].append(run)
        if args.hours > 0:
            wav = long_recording(tmp / "long.wav", args.hours, args.esc50)
            result["long_file"] = measure_long_file(url, wav)
            print(json.dumps(result["long_file"]))
            if args.before:
                old_url = _serve_old_page(args.export, args.before, tmp)
                result["long_file_before"] = measure_long_file(old_url, wav)
                print(json.dumps(result["long_file_before"]))
        server.shutdown()

    out = REPO / "bench" / "results" / "page.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    table = render_table(result)
    print(table)
    if not replace_between_markers(args.doc, "page", table):
        print(f"{args.doc}: no <!-- bench:page --> markers; table not written")


if __name__ == "__main__":
    main()
