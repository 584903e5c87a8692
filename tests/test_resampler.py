"""The page's own resampler (web_demo/src/resample.js, run in Node) against soxr, the resampler of
`predict`/`train`, on real clips at 44.1 and 48 kHz: the 16 kHz results differ only where the two
anti-aliasing filters differ (the top of the band), and YAMNet hears the same thing in both.

The shared ESC-50 copy is 16 kHz, so the 44.1/48 kHz inputs are real clips brought to those rates by soxr,
alone (band-limited to 8 kHz) and with full-band hiss added at the high rate (what a microphone adds up to
22-24 kHz, which each resampler must keep from folding into YAMNet's band). The bounds are stated in
docs/parity.md ("The page's resampler"); measured values are 2.5-10x below them.
"""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from pipeline.audio import RESAMPLE_QUALITY, load_audio
from pipeline.constants import SAMPLE_RATE
from tests.conftest import esc50_clips_of
from tests.support import run_web_module

CATEGORIES = ("dog", "rain", "church_bells", "crying_baby")
BOUNDS = {"log_mel_max": 0.05, "log_mel_mean": 0.002, "scores_max": 0.005, "embeddings_max": 0.01}
"""Largest measured (8 clips x 2 rates x with/without hiss): log-mel 0.020 (mean 1e-4), scores 7e-4,
embeddings 2.8e-3."""


@pytest.mark.parametrize("hiss", [False, True], ids=["band-limited", "full-band-hiss"])
@pytest.mark.parametrize("rate", [44100, 48000])
def test_page_resampler_matches_soxr_through_yamnet(yamnet, tmp_path, rate, hiss):
    rng = np.random.default_rng(rate)
    clips = [load_audio(esc50_clips_of(cat, 1, fold=2)[0]) for cat in CATEGORIES]
    high = [soxr.resample(c, SAMPLE_RATE, rate, quality="VHQ") for c in clips]
    high = [(h + (rng.uniform(-0.03, 0.03, len(h)) if hiss else 0)).astype(np.float32) for h in high]
    page = run_web_module(
        tmp_path, "resample.js", "resample", {"rate": rate, "clips": [h.tolist() for h in high]},
        "data.clips.map((c) => Array.from(resample(Float32Array.from(c), data.rate, 16000)))",
    )  # fmt: skip
    for clip, h, js in zip(clips, high, page, strict=True):
        ours = soxr.resample(h, rate, SAMPLE_RATE, quality=RESAMPLE_QUALITY).astype(np.float32)
        js = np.asarray(js, np.float32)
        assert abs(len(js) - len(ours)) <= 1
        n = min(len(js), len(ours))
        a, b = yamnet(ours[:n]), yamnet(js[:n])
        mel_diff = np.abs(a.log_mel - b.log_mel)
        assert mel_diff.mean() <= BOUNDS["log_mel_mean"], mel_diff.mean()
        assert mel_diff.max() <= BOUNDS["log_mel_max"], mel_diff.max()
        assert np.abs(a.scores - b.scores).max() <= BOUNDS["scores_max"]
        assert np.abs(a.embeddings - b.embeddings).max() <= BOUNDS["embeddings_max"]
        assert a.scores.mean(0).argmax() == b.scores.mean(0).argmax()
        if not hiss:  # and the page's 16 kHz audio is the original clip itself, up to the filters
            assert np.corrcoef(js[:n], clip[:n])[0, 1] > 0.99
