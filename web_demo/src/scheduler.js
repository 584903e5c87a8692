/**
 * When to classify the sliding window: every `hopSamples` of new audio, but never while the
 * previous inference is still running. A hop that falls due during inference is skipped (counted,
 * not queued), so a slow backend lowers the update rate instead of building a backlog that would
 * make the display lag further and further behind the microphone.
 * Pure logic with no timers, so tests can drive it sample by sample.
 *
 * @module scheduler
 */

export class HopScheduler {
  /**
   * @param {object} opts
   * @param {number} opts.hopSamples new samples between windows
   * @param {number} [opts.minSamples=0] samples that must have arrived before the first window
   */
  constructor({hopSamples, minSamples = 0}) {
    if (!(hopSamples > 0)) throw new RangeError('hopSamples must be positive');
    this.hopSamples = hopSamples;
    this.minSamples = minSamples;
    this.reset();
  }

  /** Start over (new microphone session). */
  reset() {
    this.received = 0;
    this.sinceLast = 0;
    this.busy = false;
    this.started = 0;
    this.skipped = 0;
    this.overshoot = 0;
  }

  /**
   * Record `n` newly arrived samples.
   * @param {number} n
   * @returns {boolean} true when the caller should start an inference now (call `begin` then `end`)
   */
  push(n) {
    this.received += n;
    this.sinceLast += n;
    if (this.received < this.minSamples || this.sinceLast < this.hopSamples) return false;
    if (this.busy) {
      // Drop the hops that fell due while busy; keep the remainder so hops stay on the grid.
      this.skipped += Math.floor(this.sinceLast / this.hopSamples);
      this.sinceLast %= this.hopSamples;
      return false;
    }
    // The first window starts the grid; later ones keep the remainder so hops stay on it.
    // Windows sit on a fixed grid: minSamples + k * hopSamples. `overshoot` says how far past its grid
    // point this run starts (audio arrives in chunks), so the caller can take the window that ends
    // exactly on the grid, where `predict` puts its patches.
    const past = this.started === 0 ? this.received - this.minSamples : this.sinceLast;
    this.sinceLast = past % this.hopSamples;
    this.overshoot = this.sinceLast;
    return true;
  }

  /** Mark an inference as running. */
  begin() {
    this.busy = true;
    this.started += 1;
  }

  /** Mark the running inference as finished. */
  end() {
    this.busy = false;
  }
}
