/**
 * Fixed-size ring buffer of audio samples: the microphone writes at its own pace, the classifier
 * reads "the last N samples" whenever it is ready. Memory stays constant however long the page
 * listens. Pure JavaScript (tested under `node --test`).
 *
 * @module ring-buffer
 */

export class RingBuffer {
  /** @param {number} capacity samples kept (the longest window that will ever be read) */
  constructor(capacity) {
    if (!(Number.isInteger(capacity) && capacity > 0)) throw new RangeError(`capacity must be a positive integer`);
    this.data = new Float32Array(capacity);
    this.capacity = capacity;
    this.clear();
  }

  /** Drop everything written so far. */
  clear() {
    this.data.fill(0);
    this.writeIndex = 0; // where the next sample goes
    this.totalWritten = 0; // samples ever written (not capped)
  }

  /** Samples currently held: min(totalWritten, capacity). */
  get size() {
    return Math.min(this.totalWritten, this.capacity);
  }

  /**
   * Append samples, overwriting the oldest when full.
   * @param {Float32Array} samples
   */
  push(samples) {
    let src = samples;
    if (src.length > this.capacity) src = src.subarray(src.length - this.capacity);
    const first = Math.min(src.length, this.capacity - this.writeIndex);
    this.data.set(src.subarray(0, first), this.writeIndex);
    if (first < src.length) this.data.set(src.subarray(first), 0);
    this.writeIndex = (this.writeIndex + src.length) % this.capacity;
    this.totalWritten += samples.length;
  }

  /**
   * The most recent `n` samples, oldest first, in a new array. When fewer than `n` were ever
   * written, the start is zero-filled (silence before the microphone started).
   * @param {number} n
   * @returns {Float32Array}
   */
  latest(n) {
    if (n > this.capacity) throw new RangeError(`asked for ${n} samples, buffer holds ${this.capacity}`);
    const out = new Float32Array(n);
    const have = Math.min(n, this.size);
    const start = (this.writeIndex - have + this.capacity) % this.capacity;
    const first = Math.min(have, this.capacity - start);
    out.set(this.data.subarray(start, start + first), n - have);
    if (first < have) out.set(this.data.subarray(0, have - first), n - have + first);
    return out;
  }
}
