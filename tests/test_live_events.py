"""Streaming equals offline: a 2-minute recording of real clips, silence and unknown sounds played
through the page's fake microphone gives the same events as `predict --events` on the file.

The page hears the recording through Chromium's fake capture device (16-bit WAV, delivered at 44.1 kHz
and resampled by the page), in real time, on wasm; Python runs the exported SavedModel on the file's
patches. Both decide each 0.975 s window with the open-set rule and apply the same hysteresis
(metadata.json's ``events``), so their events must agree: same labels, onsets within one hop (plus the
fake device's start-up delay). Both are also scored against the truth (the clips' sound spans).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from pipeline.constants import PATCH_HOP_SECONDS, SAMPLE_RATE
from pipeline.js.browser import fake_microphone_wav, launch_chromium
from pipeline.js.site import build_site, make_server
from pipeline.predict import file_events, load_exported
from pipeline.sound_events import Event, event_f1, match_events
from tests.support import long_recording

pytestmark = pytest.mark.slow

START_UP = 0.2
"""Seconds of silence the fake capture device may deliver before the file starts (toolchain notes)."""


@pytest.fixture(scope="module")
def events_export(yamnet, tmp_path_factory) -> Path:
    """A head trained by the product (``train``, defaults) on the test classes' clips of folds 1-4, exported
    (float32 TF.js only): the recording comes from fold 5, which neither the head nor its calibration saw."""
    from pipeline.datasets import load_dataset
    from pipeline.export import export_model
    from pipeline.training import TrainConfig, train
    from tests.conftest import ESC50_DIR
    from tests.support import CATEGORIES

    out = tmp_path_factory.mktemp("events") / "head"
    data = load_dataset(ESC50_DIR).subset(classes=list(CATEGORIES), folds=[1, 2, 3, 4])
    train(data, yamnet, out, TrainConfig(), cache_dir=tmp_path_factory.mktemp("cache"))
    export_model(out, yamnet, [])
    return out


@pytest.fixture(scope="module")
def recording(events_export: Path, tmp_path_factory) -> tuple[np.ndarray, list[Event], Path]:
    """The 2-minute recording of the export's classes (truth labels index its label list) and its WAV."""
    wave, truth = long_recording(tuple(load_exported(events_export).labels))
    wav = fake_microphone_wav(wave, SAMPLE_RATE, tmp_path_factory.mktemp("rec") / "recording.wav")
    return wave, truth, wav


def page_events(export: Path, wav: Path, seconds: float, tmp: Path) -> tuple[list[Event], dict]:
    """Play ``wav`` into the page's microphone on wasm; the events it lists once it has heard it all."""
    site = build_site(export, tmp / "site")
    server = make_server(site, port=0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with launch_chromium(fake_audio=wav) as browser:
            context = browser.new_context(permissions=["microphone"])
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/?backend=wasm")
            page.wait_for_selector("body[data-ready=true]", timeout=90_000)
            page.click('[data-testid="start-mic"]')
            needed = int((seconds + START_UP) * SAMPLE_RATE)
            page.wait_for_function(
                f"yamnetDemo.mic && yamnetDemo.mic.ring.totalWritten >= {needed}",
                timeout=int((seconds + 90) * 1000),
                polling=500,
            )
            page.click('[data-testid="stop-mic"]')
            raw = page.evaluate("yamnetDemo.events")
            listed = page.locator('[data-testid="events"] li').all_inner_texts()
            stats = page.evaluate("({...yamnetDemo.stats, decisions: yamnetDemo.decisions})")
            context.close()
    finally:
        server.shutdown()
        server.server_close()
    return [Event(e["label"], e["start"], e["end"]) for e in raw], {"listed": listed, **stats}


def test_live_events_equal_predict_events(events_export: Path, recording, tmp_path: Path) -> None:
    wave, truth, wav = recording
    seconds = len(wave) / SAMPLE_RATE
    assert seconds >= 120
    model = load_exported(events_export)
    offline = file_events(model, wave)
    live, info = page_events(events_export, wav, seconds, tmp_path)

    # the page skipped no hop (a skipped hop would shift its windows) and listed what it found
    assert info["skipped"] == 0 and info["windows"] >= seconds / PATCH_HOP_SECONDS - 5
    assert len(info["listed"]) == len(live)
    labels = model.labels
    assert all(text.split(" ")[0] in labels for text in info["listed"])

    # window by window, the page decides as Python does on the nearest patch (the page hears the file
    # resampled 16 -> 44.1 -> 16 kHz, on a grid offset by up to one audio chunk, so not every window)
    offline_labels = window_labels(model, wave)
    same = [w["label"] == offline_labels[round(w["start"] / PATCH_HOP_SECONDS)] for w in info["decisions"]
            if round(w["start"] / PATCH_HOP_SECONDS) < len(offline_labels)]  # fmt: skip
    assert np.mean(same) >= 0.85, np.mean(same)

    # streaming == offline: the events pair up (same label, onset within one hop + start-up); the few
    # that do not are the decisions that flipped with the resampled audio, at a sound's edges
    assert len(offline) >= 8, offline
    pairs = match_events(live, offline, collar=PATCH_HOP_SECONDS + START_UP)
    assert len(pairs) >= 0.85 * max(len(live), len(offline)), (live, offline)

    # and both find the sounds that are there
    for events in (offline, live):
        score = event_f1(events, truth, collar=1.0)
        assert score["recall"] >= 0.8 and score["f1"] >= 0.75, (score, events, truth)


def window_labels(model, wave: np.ndarray) -> np.ndarray:
    """Python's decision for each patch as one live window, silence included (what events are made of)."""
    from pipeline.predict import patch_outputs, window_decisions
    from pipeline.sound_events import with_silence

    return with_silence(wave, window_decisions(model, patch_outputs(model, wave)), model.event_rules)
