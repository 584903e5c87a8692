"""Sound events: the hysteresis rules on hand-made decision sequences, and events.js (the page) giving
exactly the events pipeline.sound_events gives on the same long random sequences (run in real Node)."""

from __future__ import annotations

import numpy as np

from pipeline.sound_events import SILENT, UNKNOWN, Event, EventRules, clock, patch_events, track

RULES = EventRules(on_windows=2, off_windows=2, cooldown_windows=1)


def events_of(labels: list[int], rules: EventRules = RULES) -> list[tuple[int, float, float]]:
    starts = [0.5 * i for i in range(len(labels))]
    return [(e.label, e.start, e.end) for e in track(labels, starts, 1.0, rules)]


def test_a_class_needs_on_windows_to_start_and_off_windows_to_end():
    assert events_of([0]) == []  # one window is a flicker
    assert events_of([0, 0]) == [(0, 0.0, 1.5)]
    # one stray window inside an event does not end it; two do
    assert events_of([0, 0, 1, 0, 0]) == [(0, 0.0, 3.0)]
    assert events_of([0, 0, SILENT, UNKNOWN, 0, 0]) == [(0, 0.0, 1.5), (0, 2.0, 3.5)]
    # cooldown: after an event ends, its class waits that many windows before it can start again
    quick = EventRules(on_windows=1, off_windows=2, cooldown_windows=1)
    assert events_of([0, SILENT, SILENT, 0], quick) == [(0, 0.0, 1.0)]
    assert events_of([0, SILENT, SILENT, 0], EventRules(1, 2, 0)) == [(0, 0.0, 1.0), (0, 1.5, 2.5)]
    assert events_of([0, SILENT, SILENT, 1], quick) == [(0, 0.0, 1.0), (1, 1.5, 2.5)]  # other classes need not wait
    # a new class holding for on_windows ends the open event and starts its own where its run began
    assert events_of([0, 0, 0, 1, 1, 1]) == [(0, 0.0, 2.0), (1, 1.5, 3.5)]
    assert events_of([UNKNOWN] * 5 + [SILENT] * 5) == []
    assert events_of([2, 2, 2], EventRules(on_windows=3)) == [(2, 0.0, 2.0)]


def test_clock_and_description():
    assert clock(0) == "00:00.0" and clock(12.44) == "00:12.4" and clock(75.25) == "01:15.2"
    assert Event(1, 12.4, 15.3).describe(["dog", "rooster"]) == "rooster 00:12.4-00:15.3"
    assert EventRules.from_json({"on_windows": 3, "unknown_key": 1}) == EventRules(on_windows=3)
    assert EventRules.from_json(None) == EventRules()


def test_silent_patches_count_as_silence():
    sr, hop = 16000, 7680
    wave = np.zeros(hop * 9 + 15600, np.float32)
    wave[: hop * 5] = 0.1  # patch i spans [i*hop, i*hop + 15600): patches 0-4 hear it, 5-9 are silent
    labels = np.zeros(10, int)  # the head says class 0 everywhere
    events = patch_events(wave, labels, RULES)
    assert [(e.label, e.start) for e in events] == [(0, 0.0)]
    assert events[0].end == round(4 * hop / sr + 15600 / sr, 3)


def test_events_js_matches_python_on_random_sequences(tmp_path):
    from tests.support import run_web_module

    rng = np.random.default_rng(3)
    cases = []
    for _ in range(40):
        # sticky sequences (runs of a label), so events start and end often
        labels, current = [], 0
        for _ in range(200):
            if rng.uniform() < 0.3:
                current = int(rng.choice([SILENT, UNKNOWN, 0, 1, 2, 3]))
            labels.append(current)
        rules = EventRules(int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(0, 4)))
        starts = list(np.round(np.arange(200) * 0.48 + rng.uniform(0, 0.04, 200), 4))
        expected = [[e.label, e.start, e.end] for e in track(labels, starts, 0.975, rules)]
        cases.append(
            {"labels": labels, "starts": [float(s) for s in starts], "rules": rules.to_json(), "expected": expected}
        )
    got = run_web_module(
        tmp_path, "events.js", "track", cases,
        "data.map((c) => track(c.labels, c.starts, 0.975, c.rules).map((e) => [e.label, e.start, e.end]))",
    )  # fmt: skip
    assert sum(len(c["expected"]) for c in cases) > 200  # the sequences do make events
    for case, events in zip(cases, got, strict=True):
        assert [e[0] for e in events] == [e[0] for e in case["expected"]]
        np.testing.assert_allclose([e[1:] for e in events], [e[1:] for e in case["expected"]], rtol=0, atol=1e-9)
