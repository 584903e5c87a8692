/**
 * Decisions over time: live window decisions turned into sound events ("rooster 00:12.4-00:15.3").
 *
 * The JavaScript twin of `pipeline/sound_events.py` (same rules, same defaults from metadata.json's
 * `events`; `predict --events` applies them to a file, and a test checks the page's live events
 * against it): a class turns on after `on_windows` consecutive windows, off after `off_windows`
 * windows that are not it, and waits `cooldown_windows` windows before it can start again.
 *
 * @module events
 */

/** A window's label when its audio is silent. */
export const SILENT = -2;

/**
 * @typedef {object} EventRules
 * @property {number} on_windows
 * @property {number} off_windows
 * @property {number} cooldown_windows
 * @property {number} silence_rms
 */

/** The defaults (an export made before events has no `events` in metadata.json). */
export const DEFAULT_RULES = Object.freeze({on_windows: 3, off_windows: 2, cooldown_windows: 1, silence_rms: 1e-3});

/**
 * Rules from metadata.json, overridden by URL parameters `on`, `off`, `cooldown` (whole windows).
 * @param {Partial<EventRules>|undefined} fromMetadata
 * @param {URLSearchParams} [params]
 * @returns {EventRules}
 */
export function eventRules(fromMetadata, params) {
  const rules = {...DEFAULT_RULES, ...(fromMetadata ?? {})};
  for (const [key, name] of [['on_windows', 'on'], ['off_windows', 'off'], ['cooldown_windows', 'cooldown']]) {
    const v = Number.parseInt(params?.get(name) ?? '', 10);
    if (Number.isFinite(v) && v >= 0 && v <= 100) rules[key] = Math.max(key === 'cooldown_windows' ? 0 : 1, v);
  }
  return rules;
}

/** `mm:ss.d`, as `pipeline.sound_events.clock`. */
export function clock(seconds) {
  const s = Math.max(0, seconds);
  const minutes = Math.floor(s / 60);
  const rest = (s - 60 * minutes).toFixed(1).padStart(4, '0');
  return `${String(minutes).padStart(2, '0')}:${rest}`;
}

/** Feed windows in time order with `push`; closed events come back as they end. */
export class EventTracker {
  /** @param {EventRules} rules */
  constructor(rules) {
    this.rules = rules;
    this.active = null;
    this.activeStart = 0;
    this.activeEnd = 0;
    this.misses = 0;
    this.runLabel = null;
    this.runLength = 0;
    this.runStart = 0;
    /** @type {Map<number, number>} class -> windows it still has to wait */
    this.cooldown = new Map();
  }

  /**
   * One window's decision (class index, UNKNOWN or SILENT) over [start, end) seconds.
   * @returns {{label: number, start: number, end: number}[]} events that ended
   */
  push(label, start, end) {
    const closed = [];
    for (const [c, left] of [...this.cooldown]) {
      if (left - 1 <= 0) this.cooldown.delete(c);
      else this.cooldown.set(c, left - 1);
    }
    const isClass = label >= 0;
    if (isClass && label === this.runLabel) this.runLength += 1;
    else if (isClass) [this.runLabel, this.runLength, this.runStart] = [label, 1, start];
    else [this.runLabel, this.runLength, this.runStart] = [null, 0, start];
    if (this.active !== null) {
      if (label === this.active) {
        this.misses = 0;
        this.activeEnd = end;
      } else {
        this.misses += 1;
        if (this.misses >= this.rules.off_windows) closed.push(this.close());
      }
    }
    if (isClass && label !== this.active && this.runLength >= this.rules.on_windows && !this.cooldown.has(label)) {
      if (this.active !== null) closed.push(this.close());
      [this.active, this.activeStart, this.activeEnd, this.misses] = [label, this.runStart, end, 0];
    }
    return closed;
  }

  /** The open event so far (for a live "now" line), or null. */
  get open() {
    return this.active === null ? null : {label: this.active, start: this.activeStart, end: this.activeEnd};
  }

  /** Close the open event at the end of the audio. */
  finish() {
    return this.active === null ? [] : [this.close()];
  }

  close() {
    const event = {label: this.active, start: this.activeStart, end: this.activeEnd};
    this.cooldown.set(event.label, this.rules.cooldown_windows + 1);
    this.active = null;
    this.misses = 0;
    return event;
  }
}

/** Every event of a sequence of window decisions (labels[i] over [starts[i], starts[i] + windowSeconds)). */
export function track(labels, starts, windowSeconds, rules) {
  const tracker = new EventTracker(rules);
  const events = [];
  labels.forEach((label, i) => events.push(...tracker.push(label, starts[i], starts[i] + windowSeconds)));
  return events.concat(tracker.finish());
}
