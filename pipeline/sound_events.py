"""Decisions over time: per-window labels turned into sound events ("rooster 00:12.4-00:15.3").

A window's decision (a class, "unknown", or silence) flickers: one bark is two or three windows, a
class can win one window by a hair in the middle of another sound. Events apply hysteresis, as
sound-event detectors do (e.g. the on/off thresholds and minimum durations of DCASE's post-processing):

* a class turns **on** once it is the decision of ``on_windows`` consecutive windows; the event starts
  where the first of them starts;
* it turns **off** once ``off_windows`` consecutive windows are not that class (another class, unknown,
  or silence); the event ends where its last window of that class ends;
* after an event ends, the same class must wait ``cooldown_windows`` windows before it can start again
  (a sound that fades in and out is one event, not three).

Only one event is open at a time: a new class turning on closes the open one first. The rules and their
defaults live here and ship in ``metadata.json`` (``"events"``); ``web_demo/src/events.js`` is the
JavaScript twin (the page's live list of events), and ``predict --events`` applies the same rules to a
file's patches, so streaming and offline agree (tested). Silence is judged per window by its RMS.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from .constants import MIN_WAVEFORM_SAMPLES, PATCH_HOP_SAMPLES, PATCH_HOP_SECONDS, SAMPLE_RATE
from .openset import UNKNOWN

SILENT = -2
"""A window's label when its audio is silent (RMS below :attr:`EventRules.silence_rms`)."""


@dataclass(frozen=True)
class EventRules:
    """The hysteresis. Defaults measured on a 2-minute recording (docs/events.md): 3 windows to start
    (~1.4 s of agreement at 0.48 s hops) removed the flicker events at sound boundaries that 2 let through."""

    on_windows: int = 3
    off_windows: int = 2
    cooldown_windows: int = 1
    silence_rms: float = 1e-3  # about -60 dBFS: the page's "no signal"

    def to_json(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict | None) -> EventRules:
        """Rules from metadata.json (defaults for anything missing, e.g. an export made before events)."""
        known = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class Event:
    """A class heard from ``start`` to ``end`` (seconds from the start of the audio)."""

    label: int
    start: float
    end: float

    def describe(self, labels: Sequence[str]) -> str:
        return f"{labels[self.label]} {clock(self.start)}-{clock(self.end)}"


def clock(seconds: float) -> str:
    """``mm:ss.d``, the way the page writes times."""
    minutes, rest = divmod(max(0.0, seconds), 60)
    return f"{int(minutes):02d}:{rest:04.1f}"


class EventTracker:
    """Feed windows in time order with :meth:`push`; closed events come back as they end."""

    def __init__(self, rules: EventRules) -> None:
        self.rules = rules
        self.active: int | None = None  # the class of the open event
        self.active_start = 0.0
        self.active_end = 0.0
        self.misses = 0  # consecutive windows of the open event not of its class
        self.run_label: int | None = None  # the class of the current streak of windows
        self.run_length = 0
        self.run_start = 0.0
        self.cooldown: dict[int, int] = {}  # class -> windows it still has to wait

    def push(self, label: int, start: float, end: float) -> list[Event]:
        """One window's decision (class index, ``UNKNOWN`` or ``SILENT``) over ``[start, end)`` seconds."""
        closed: list[Event] = []
        for c in list(self.cooldown):
            self.cooldown[c] -= 1
            if self.cooldown[c] <= 0:
                del self.cooldown[c]
        is_class = label >= 0
        if is_class and label == self.run_label:
            self.run_length += 1
        else:
            self.run_label, self.run_length, self.run_start = (label, 1, start) if is_class else (None, 0, start)
        if self.active is not None:
            if label == self.active:
                self.misses, self.active_end = 0, end
            else:
                self.misses += 1
                if self.misses >= self.rules.off_windows:
                    closed.append(self._close())
        if (
            is_class
            and label != self.active
            and self.run_length >= self.rules.on_windows
            and label not in self.cooldown
        ):
            if self.active is not None:
                closed.append(self._close())
            self.active, self.active_start, self.active_end, self.misses = label, self.run_start, end, 0
        return closed

    def finish(self) -> list[Event]:
        """Close the open event at the end of the audio."""
        return [self._close()] if self.active is not None else []

    def _close(self) -> Event:
        event = Event(int(self.active), float(self.active_start), float(self.active_end))
        self.cooldown[event.label] = self.rules.cooldown_windows + 1  # counted down before the next window
        self.active, self.misses = None, 0
        return event


def track(labels: Iterable[int], starts: Iterable[float], window_seconds: float, rules: EventRules) -> list[Event]:
    """Every event in a sequence of window decisions (what the page builds live, at once)."""
    tracker, events = EventTracker(rules), []
    for label, start in zip(labels, starts, strict=True):
        events += tracker.push(int(label), float(start), float(start) + window_seconds)
    return events + tracker.finish()


def window_rms(waveform: np.ndarray, patches: int) -> np.ndarray:
    """RMS of the samples under each patch (the span the page's window of one patch covers)."""
    out = np.zeros(patches)
    for i in range(patches):
        piece = np.asarray(waveform[i * PATCH_HOP_SAMPLES : i * PATCH_HOP_SAMPLES + MIN_WAVEFORM_SAMPLES], np.float64)
        out[i] = np.sqrt(np.mean(piece**2)) if len(piece) else 0.0
    return out


def with_silence(waveform: np.ndarray, window_labels: np.ndarray, rules: EventRules) -> np.ndarray:
    """Patch ``i``'s decision, or SILENT where its samples are below the page's silence level."""
    return np.where(window_rms(waveform, len(window_labels)) < rules.silence_rms, SILENT, window_labels)


def patch_events(waveform: np.ndarray, window_labels: np.ndarray, rules: EventRules) -> list[Event]:
    """Events of a file from its patches' decisions: patch ``i`` is the page's window ending at
    ``i * hop + window``; silent patches count as silence, as on the page."""
    return grid_events(with_silence(waveform, window_labels, rules), rules)


def grid_events(labels: np.ndarray, rules: EventRules) -> list[Event]:
    """Events of decisions on the patch grid whose silence is already marked (:func:`with_silence`):
    window ``i`` starts at ``i * hop`` and lasts one window."""
    starts = np.arange(len(labels)) * PATCH_HOP_SECONDS
    return track(labels, starts, MIN_WAVEFORM_SAMPLES / SAMPLE_RATE, rules)


def match_events(a: Sequence[Event], b: Sequence[Event], collar: float) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``: ``a[i]`` and ``b[j]`` have the same label and onsets within ``collar`` seconds
    (each event in at most one pair; nearest onsets first), as DCASE's event-based metrics match."""
    candidates = sorted(
        (abs(x.start - y.start), i, j)
        for i, x in enumerate(a)
        for j, y in enumerate(b)
        if x.label == y.label and abs(x.start - y.start) <= collar
    )
    used_a, used_b, pairs = set(), set(), []
    for _, i, j in candidates:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j))
    return sorted(pairs)


def event_f1(predicted: Sequence[Event], truth: Sequence[Event], collar: float = 1.0) -> dict[str, float]:
    """Event-based precision, recall and F1 (onset within ``collar`` seconds, same label)."""
    hits = len(match_events(predicted, truth, collar))
    precision = hits / len(predicted) if predicted else 1.0
    recall = hits / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "hits": hits}


__all__ = [
    "SILENT",
    "UNKNOWN",
    "Event",
    "EventRules",
    "EventTracker",
    "clock",
    "event_f1",
    "grid_events",
    "match_events",
    "patch_events",
    "track",
    "window_rms",
]
