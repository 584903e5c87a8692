"""The web demo in a real browser: headless Debian Chromium driven by Playwright.

One real export (a small head trained on real ESC-50 YAMNet features + YAMNet, exported and
converted by the real pipeline), one built site deployed to a different folder and served from a
sub-path by the standard library's plain static server (as `python -m http.server` would), and one
Chromium whose fake microphone plays a real ESC-50 clip. The browser's labels must equal what the
exported SavedModel predicts in Python for the same clip.

Inference runs in the page's Web Worker unless a test asks for `?worker=0`; the main thread must then
have no long task (> 50 ms) during live classification, and a 10-minute file classified in chunks
must give the SavedModel's one-shot scores.

Also runs the page's JavaScript unit tests (resampler, ring buffer, scheduler) with `node --test`.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline.audio import load_audio
from pipeline.constants import SAMPLE_RATE
from pipeline.js.browser import fake_microphone_wav, launch_chromium
from pipeline.js.site import build_site
from tests.conftest import esc50_clip, esc50_rows

REPO = Path(__file__).resolve().parents[1]

MIC_CLIP = esc50_clip("1-211527-C-20.wav")
"""Crying baby, sound in every patch (no digital silence): head and YAMNet agree on every patch."""
FILE_CLIP = esc50_clip("1-54958-A-10.wav")
"""Rain: the head says rain in every patch; not one of the clips the test head was trained on."""

pytestmark = pytest.mark.slow


def test_javascript_unit_tests_pass() -> None:
    """Resampler (anti-aliasing, streaming == one-shot), ring buffer and hop scheduler, in Node."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (needed for the web demo); see README set-up")
    run = subprocess.run([node, "--test", "test/"], cwd=REPO / "web_demo", capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert re.search(r"# fail 0", run.stdout)


# --- fixtures: export -> site -> server -> browser ------------------------------------------


@pytest.fixture(scope="session")
def web_export(classifier_export: Path) -> Path:
    """The session's real export (YAMNet + a small trained head), made by the export stage."""
    return classifier_export


@pytest.fixture(scope="session")
def python_predictions(web_export: Path) -> dict[str, dict[str, Any]]:
    """What the exported SavedModel predicts in Python for the two test clips."""
    from pipeline.tfenv import tf

    tfm = tf()
    serve = tfm.saved_model.load(str(web_export / "saved_model")).signatures["serving_default"]
    metadata = json.loads((web_export / "metadata.json").read_text())
    labels, names = metadata["labels"], metadata["yamnet_class_names"]
    result = {}
    for clip in (MIC_CLIP, FILE_CLIP):
        out = {k: v.numpy() for k, v in serve(waveform=tfm.constant(load_audio(clip))).items()}
        result[clip.name] = {
            "label": labels[int(out["clip_scores"].argmax())],
            "score": float(out["clip_scores"].max()),
            "yamnet_label": names[int(out["yamnet_scores"].mean(axis=0).argmax())],
            "patch_labels": [labels[i] for i in out["scores"].argmax(axis=1)],
            "clip_scores": out["clip_scores"],
            "yamnet_patch_labels": [names[i] for i in out["yamnet_scores"].argmax(axis=1)],
        }
    return result


@pytest.fixture(scope="session")
def site_url(web_export: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Build the site, move it to an unrelated folder, serve that folder's parent with the stdlib's
    plain static handler, and return the page's URL under a sub-path (like GitHub Pages' /repo/)."""
    built = build_site(web_export, tmp_path_factory.mktemp("build") / "site")
    host_root = tmp_path_factory.mktemp("elsewhere")
    deployed = host_root / "deploy" / "demo"
    shutil.copytree(built, deployed)
    shutil.rmtree(built)  # nothing may still point at the build folder

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(host_root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/deploy/demo/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    """One headless Chromium for this module (closed after it: Playwright's sync API allows one
    running instance per thread, and parity starts its own); its fake microphone loops MIC_CLIP."""
    wav = fake_microphone_wav(load_audio(MIC_CLIP), SAMPLE_RATE, tmp_path_factory.mktemp("mic") / "mic.wav")
    with launch_chromium(fake_audio=wav) as b:
        yield b


def _open(browser, url: str, microphone: bool = True):
    context = browser.new_context(
        permissions=["microphone"] if microphone else [], viewport={"width": 1200, "height": 900}
    )
    page = context.new_page()
    page.goto(url)
    return context, page


def _text(page, testid: str) -> str:
    return (page.text_content(f'[data-testid="{testid}"]') or "").strip()


def _wait_ready(page) -> None:
    page.wait_for_selector("body[data-ready=true]", timeout=90_000)


# --- tests -------------------------------------------------------------------------------


def test_python_reference_is_unambiguous(python_predictions: dict[str, dict[str, Any]]) -> None:
    """Guard the test clips themselves: every patch has the same top class, so any window agrees."""
    mic, file = python_predictions[MIC_CLIP.name], python_predictions[FILE_CLIP.name]
    assert set(mic["patch_labels"]) == {mic["label"]} and mic["score"] > 0.9
    assert set(mic["yamnet_patch_labels"]) == {mic["yamnet_label"]}
    assert set(file["patch_labels"]) == {file["label"]} and file["score"] > 0.9


def test_microphone_top_label_matches_python(browser, site_url: str, python_predictions) -> None:
    expected = python_predictions[MIC_CLIP.name]
    context, page = _open(browser, site_url + "?backend=wasm")
    try:
        _wait_ready(page)
        assert _text(page, "backend") == "wasm"
        assert _text(page, "inference-thread") == "worker"
        assert page.evaluate("yamnetDemo.inference") == "worker"
        page.click('[data-testid="start-mic"]')
        # Enough windows for the smoothed label to settle (hop 0.48 s; the fake mic loops the clip).
        page.wait_for_function("yamnetDemo.stats.windows >= 8", timeout=60_000)
        assert _text(page, "top-label") == expected["label"]
        score = float(_text(page, "top-score").rstrip("%")) / 100
        assert score > 0.5
        assert _text(page, "mic-rate") == "44.1 kHz → 16 kHz"
        stats = page.evaluate("({...yamnetDemo.stats})")
        assert stats["windows"] >= 8 and stats["lastMs"] > 0
        assert re.fullmatch(r"\d+ ms", _text(page, "latency"))

        page.click('[data-testid="labelset-yamnet"]')
        assert _text(page, "top-label") == expected["yamnet_label"]
        page.click('[data-testid="labelset-custom"]')

        page.click('[data-testid="stop-mic"]')
        assert _text(page, "status") == "Microphone stopped."
        assert page.is_enabled('[data-testid="start-mic"]')
    finally:
        context.close()


def test_file_upload_matches_python(browser, site_url: str, python_predictions) -> None:
    """On WebGL (forced: headless Chromium's WebGL is SwiftShader, which the page would avoid)."""
    expected = python_predictions[FILE_CLIP.name]
    context, page = _open(browser, site_url + "?backend=webgl")
    try:
        _wait_ready(page)
        assert _text(page, "backend") == "webgl"
        page.set_input_files('[data-testid="file-input"]', str(FILE_CLIP))
        page.wait_for_function("document.querySelector('[data-testid=status]').textContent.startsWith('Classified')")
        assert _text(page, "top-label") == expected["label"]
        assert _text(page, "top-score") == f"{expected['score'] * 100:.1f}%"
        # Same waveform (16 kHz FLAC, no resampling), so the numbers agree to float32 noise.
        js = np.asarray(page.evaluate("Array.from(yamnetDemo.file.out.clip_scores.data)"), dtype=np.float32)
        np.testing.assert_allclose(js, expected["clip_scores"], atol=1e-4)
        # Timeline: one segment (every patch is the same class), covering the whole clip.
        rows = page.locator('[data-testid="timeline-list"] li')
        assert rows.count() == 1
        assert expected["label"] in rows.first.inner_text()
        assert (
            rows.first.locator(".t").inner_text() == f"0.00–{(len(expected['patch_labels']) - 1) * 0.48 + 0.96:.2f} s"
        )
    finally:
        context.close()


def test_denied_microphone_permission_is_explained(browser, site_url: str) -> None:
    context, page = _open(browser, site_url, microphone=False)
    try:
        _wait_ready(page)
        # Default order is webgl, wasm, cpu, but software-rendered WebGL (SwiftShader here) -> wasm.
        assert _text(page, "backend") == "wasm"
        # Nothing asks for the microphone before the click (Safari needs a user gesture).
        assert _text(page, "status").startswith("Ready")
        page.click('[data-testid="start-mic"]')
        page.wait_for_selector('[data-testid="status"][data-kind="error"]', timeout=20_000)
        assert "Microphone permission was denied" in _text(page, "status")
        assert page.is_enabled('[data-testid="start-mic"]'), "the user can try again"
        assert page.is_disabled('[data-testid="stop-mic"]')
    finally:
        context.close()


def test_missing_model_is_explained(browser, site_url: str) -> None:
    context, page = _open(browser, site_url + "?model=nowhere/model.json&backend=cpu")
    try:
        page.wait_for_selector('[data-testid="status"][data-kind="error"]', timeout=30_000)
        status = _text(page, "status")
        assert status.startswith("Model not found")
        assert "nowhere/metadata.json" in status and "HTTP 404" in status
        assert page.is_disabled('[data-testid="start-mic"]')
    finally:
        context.close()


SILENT_MICROPHONE = """
navigator.mediaDevices.getUserMedia = async () => {
  // A live but digitally silent microphone: a zero-valued source through a MediaStream.
  const ctx = new AudioContext();
  const source = new ConstantSourceNode(ctx, {offset: 0});
  const sink = ctx.createMediaStreamDestination();
  source.connect(sink);
  source.start();
  return sink.stream;
};
"""


def test_silent_input_shows_no_signal_and_keeps_running(browser, site_url: str) -> None:
    """Also runs the longest window (3 s, set by URL) to show it is honoured."""
    context, page = _open(browser, site_url + "?backend=wasm&window=3")
    page.add_init_script(SILENT_MICROPHONE)
    page.reload()
    try:
        _wait_ready(page)
        page.click('[data-testid="start-mic"]')
        page.wait_for_function("yamnetDemo.stats.windows >= 3", timeout=30_000)
        assert _text(page, "top-label") == "No signal"
        assert page.evaluate("yamnetDemo.windowSeconds") == 3
        assert page.input_value('[data-testid="window-select"]') == "3"
        assert "no signal" in _text(page, "status")
        before = page.evaluate("yamnetDemo.stats.windows")
        page.wait_for_function(f"yamnetDemo.stats.windows >= {before + 2}", timeout=10_000)  # not frozen
    finally:
        context.close()


LONGTASK_OBSERVER = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longTasks.push({start: e.startTime, ms: e.duration});
}).observe({type: 'longtask', buffered: true});
"""

LIVE_SECONDS = 20


def test_live_classification_leaves_the_main_thread_free(browser, site_url: str) -> None:
    """~20 s of live wasm classification with the worker: no main-thread task over 50 ms."""
    context, page = _open(browser, site_url + "?backend=wasm")
    page.add_init_script(LONGTASK_OBSERVER)
    page.reload()
    try:
        _wait_ready(page)
        assert page.evaluate("yamnetDemo.inference") == "worker"
        assert page.evaluate("window.__longTasks !== undefined")
        page.click('[data-testid="start-mic"]')
        page.wait_for_function("yamnetDemo.stats.windows >= 3", timeout=60_000)
        t0, w0 = page.evaluate("[performance.now(), yamnetDemo.stats.windows]")
        page.wait_for_timeout(LIVE_SECONDS * 1000)
        tasks, windows, elapsed = page.evaluate(
            "(t0) => [window.__longTasks.filter((t) => t.start >= t0), yamnetDemo.stats.windows,"
            " performance.now() - t0]",
            t0,
        )
        # The page kept classifying all along (a hop is 0.48 s)...
        assert windows - w0 >= 0.6 * (elapsed / 1000) / 0.48, (windows - w0, elapsed)
        # ...and no main-thread task took longer than 50 ms (the browser reports only those).
        assert tasks == [], tasks
    finally:
        context.close()


def test_worker_failure_falls_back_to_the_main_thread(browser, site_url: str, python_predictions) -> None:
    """A browser where the worker cannot start still classifies, on the main thread, and says so."""
    expected = python_predictions[FILE_CLIP.name]
    context, page = _open(browser, site_url + "?backend=wasm", microphone=False)
    page.add_init_script("globalThis.Worker = class { constructor() { throw new Error('workers blocked'); } };")
    page.reload()
    try:
        _wait_ready(page)
        assert _text(page, "inference-thread") == "main thread"
        assert "the worker could not start: workers blocked" in _text(page, "backend-note")
        page.set_input_files('[data-testid="file-input"]', str(FILE_CLIP))
        page.wait_for_function("document.querySelector('[data-testid=status]').textContent.startsWith('Classified')")
        js = np.asarray(page.evaluate("Array.from(yamnetDemo.file.out.clip_scores.data)"), dtype=np.float32)
        np.testing.assert_allclose(js, expected["clip_scores"], atol=1e-4)
    finally:
        context.close()


LONG_FILE_MINUTES = 10


@pytest.fixture(scope="module")
def long_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 minutes of real ESC-50 clips back to back (120 clips, many categories): 16 kHz 16-bit WAV."""
    import soundfile as sf

    rows = esc50_rows()[::13][: LONG_FILE_MINUTES * 12]
    wave = np.concatenate([load_audio(esc50_clip(r["filename"])) for r in rows])
    assert len(wave) == LONG_FILE_MINUTES * 60 * SAMPLE_RATE
    path = tmp_path_factory.mktemp("long") / "ten-minutes.wav"
    sf.write(str(path), np.clip(wave, -1, 1), SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return path


@pytest.fixture(scope="module")
def long_file_python(web_export: Path, long_file: Path) -> dict[str, np.ndarray]:
    """The exported SavedModel on the whole 10-minute waveform in one call (as read back from the WAV)."""
    from pipeline.tfenv import tf

    tfm = tf()
    serve = tfm.saved_model.load(str(web_export / "saved_model")).signatures["serving_default"]
    out = serve(waveform=tfm.constant(load_audio(long_file)))
    return {name: out[name].numpy() for name in ("scores", "clip_scores", "yamnet_scores")}


def test_long_file_in_chunks_matches_python(browser, site_url: str, long_file: Path, long_file_python) -> None:
    """10 minutes in 60 s chunks (10 model calls) with a progress bar; scores equal the one-shot graph's."""
    context, page = _open(browser, site_url + "?backend=wasm", microphone=False)
    try:
        _wait_ready(page)
        page.set_input_files('[data-testid="file-input"]', str(long_file))
        # The progress bar and the status show part-way progress while the chunks are classified.
        page.wait_for_function(
            "(() => { const b = document.querySelector('[data-testid=file-progress]');"
            " const s = document.querySelector('[data-testid=status]').textContent;"
            " return !b.hidden && b.value > 0 && b.value < 1"
            " && /^Classifying ten-minutes\\.wav… \\d+ %$/.test(s); })()",
            timeout=120_000,
            polling=50,
        )
        page.wait_for_function(
            "document.querySelector('[data-testid=status]').textContent.startsWith('Classified')", timeout=300_000
        )
        assert page.is_hidden('[data-testid="file-progress"]')
        progress = page.evaluate("yamnetDemo.fileProgress")
        assert progress == pytest.approx([i / 10 for i in range(11)])  # 0, then one step per 60 s chunk
        got = page.evaluate(
            "({chunks: yamnetDemo.file.chunks, duration: yamnetDemo.file.duration,"
            " scores: Array.from(yamnetDemo.file.out.scores.data), shape: yamnetDemo.file.out.scores.shape,"
            " clip: Array.from(yamnetDemo.file.out.clip_scores.data),"
            " yamnet: Array.from(yamnetDemo.file.out.yamnet_scores.data), spec: yamnetDemo.file.out.log_mel.shape})"
        )
        assert got["chunks"] == 10 and got["duration"] == LONG_FILE_MINUTES * 60
        expected = long_file_python
        assert got["shape"] == list(expected["scores"].shape) == [1249, expected["clip_scores"].shape[0]]
        np.testing.assert_allclose(np.float32(got["clip"]), expected["clip_scores"], atol=1e-4)
        # Per patch, TF.js wasm and TF differ by float32 noise that YAMNet amplifies on a few patches (measured
        # here: 1.2e-4 on head scores, 1.4e-3 on one YAMNet score, the same patch run alone in the page gives the
        # same numbers); every patch's top class agrees.
        js_scores = np.float32(got["scores"]).reshape(got["shape"])
        js_yamnet = np.float32(got["yamnet"]).reshape(expected["yamnet_scores"].shape)
        np.testing.assert_allclose(js_scores, expected["scores"], atol=1e-3)
        np.testing.assert_allclose(js_yamnet, expected["yamnet_scores"], atol=5e-3)
        assert (js_scores.argmax(1) == expected["scores"].argmax(1)).all()
        assert (js_yamnet.argmax(1) == expected["yamnet_scores"].argmax(1)).all()
        # The chunks themselves change nothing: one call over the whole file in the same page (same model,
        # same backend) gives bit-identical patch scores.
        one_shot_diff = page.evaluate(
            """async () => {
              const file = document.querySelector('[data-testid=file-input]').files[0];
              const buffer = await new OfflineAudioContext(1, 1, 16000).decodeAudioData(await file.arrayBuffer());
              const out = await yamnetDemo.classifier.run(buffer.getChannelData(0).slice());
              let max = 0;
              for (const name of ['scores', 'yamnet_scores']) {
                const a = out[name].data, b = yamnetDemo.file.out[name].data;
                if (a.length !== b.length) return Infinity;
                for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
              }
              return max;
            }"""
        )
        assert one_shot_diff == 0
        # The spectrogram is averaged down to at most 2000 columns (60,000 log-mel rows here).
        assert got["spec"][1] == 64 and 1000 <= got["spec"][0] <= 2000
        labels = page.evaluate("yamnetDemo.metadata.labels")
        assert _text(page, "top-label") == labels[int(expected["clip_scores"].argmax())]
        assert "1249 patches" in _text(page, "file-meta")
    finally:
        context.close()
