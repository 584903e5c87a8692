/**
 * Sample-rate conversion with an anti-aliasing low-pass, in plain JavaScript.
 *
 * Why our own code: the microphone arrives at the AudioContext's rate (44.1 or 48 kHz) and YAMNet
 * wants 16 kHz. Chromium would resample for us if we opened a 16 kHz AudioContext, but Firefox
 * refuses to connect a MediaStreamSource to a context of a different rate, so the page captures at
 * the native rate and converts here. Dropping samples without a low-pass would fold everything
 * above 8 kHz back into the band YAMNet listens to.
 *
 * Method: rational polyphase resampling. The ratio outRate/inRate is reduced to up/down; each of
 * the `up` phases gets its own Kaiser-windowed sinc kernel (cutoff a little below the lower
 * Nyquist), normalised to unit DC gain. The kernel is symmetric around the output instant, so the
 * output is time-aligned with the input (no group delay to undo). Pure functions and one small
 * stateful class; no Web Audio, so it runs under `node --test`.
 *
 * @module resample
 */

/** Greatest common divisor of two non-negative integers. */
export function gcd(a, b) {
  a = Math.abs(a);
  b = Math.abs(b);
  while (b) [a, b] = [b, a % b];
  return a;
}

/** sin(pi x) / (pi x), with sinc(0) = 1. */
export function sinc(x) {
  if (x === 0) return 1;
  const px = Math.PI * x;
  return Math.sin(px) / px;
}

/** Zeroth-order modified Bessel function of the first kind (series; enough for Kaiser windows). */
export function besselI0(x) {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 64; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-16) break;
  }
  return sum;
}

/**
 * Design the polyphase low-pass kernels for converting `inRate` to `outRate`.
 *
 * @param {number} inRate input sample rate in Hz (integer)
 * @param {number} outRate output sample rate in Hz (integer)
 * @param {object} [opts]
 * @param {number} [opts.zeroCrossings=48] sinc zero crossings on each side of the centre; more is
 *   a steeper transition band and more work per output sample
 * @param {number} [opts.rolloff=0.97] cutoff as a fraction of the lower of the two Nyquist rates.
 *   With the defaults at 48 kHz -> 16 kHz: flat to ~7.3 kHz (YAMNet's mel bands stop at 7.5 kHz),
 *   under -80 dB from ~8.3 kHz, so nothing aliases into the bands YAMNet listens to.
 * @param {number} [opts.beta=8.6] Kaiser window shape (8.6 gives roughly 90 dB stopband)
 * @returns {{up: number, down: number, halfTaps: number, kernels: Float32Array[]}}
 *   `kernels[p][i]` weights input sample `base - halfTaps + 1 + i` for an output whose input-time
 *   is `base + p / up`.
 */
export function designResampler(inRate, outRate, {zeroCrossings = 48, rolloff = 0.97, beta = 8.6} = {}) {
  if (!(Number.isInteger(inRate) && Number.isInteger(outRate) && inRate > 0 && outRate > 0)) {
    throw new RangeError(`sample rates must be positive integers, got ${inRate} -> ${outRate}`);
  }
  const g = gcd(inRate, outRate);
  const up = outRate / g;
  const down = inRate / g;
  if (up > 4096) throw new RangeError(`rate ratio ${outRate}/${inRate} too fine for a polyphase table`);
  // Cutoff relative to the input rate, in cycles per input sample times two (sinc's argument scale).
  const scale = rolloff * Math.min(1, up / down);
  const halfTaps = Math.ceil(zeroCrossings / scale);
  const i0Beta = besselI0(beta);
  const kernels = [];
  for (let p = 0; p < up; p++) {
    const frac = p / up;
    const k = new Float32Array(2 * halfTaps);
    let sum = 0;
    for (let i = 0; i < 2 * halfTaps; i++) {
      const d = i - halfTaps + 1 - frac; // input sample time minus output time, in input samples
      const r = d / halfTaps;
      const w = Math.abs(r) >= 1 ? 0 : besselI0(beta * Math.sqrt(1 - r * r)) / i0Beta;
      const v = scale * sinc(scale * d) * w;
      k[i] = v;
      sum += v;
    }
    for (let i = 0; i < k.length; i++) k[i] /= sum;
    kernels.push(k);
  }
  return {up, down, halfTaps, kernels};
}

/**
 * Streaming resampler: feed chunks of any size with `process`, get the matching output chunks.
 * Output sample m is the input band-limited and evaluated at input time m * inRate / outRate.
 * It needs `halfTaps` input samples of look-ahead, so output lags input by that many samples
 * (about 1 ms at 44.1 kHz) until `flush` pads the end with silence.
 */
export class Resampler {
  /**
   * @param {number} inRate input sample rate (Hz)
   * @param {number} outRate output sample rate (Hz)
   * @param {object} [opts] passed to {@link designResampler}
   */
  constructor(inRate, outRate, opts = {}) {
    this.inRate = inRate;
    this.outRate = outRate;
    this.design = designResampler(inRate, outRate, opts);
    this.reset();
  }

  /** Forget all history (e.g. when the microphone restarts). */
  reset() {
    const {halfTaps} = this.design;
    // Pretend halfTaps zeros came before the first input sample: x[k < 0] = 0.
    this.buf = new Float32Array(halfTaps);
    this.bufStart = -halfTaps; // absolute input index of buf[0]
    this.next = 0; // index of the next output sample
  }

  /**
   * Convert one chunk.
   * @param {Float32Array} input samples at `inRate`
   * @returns {Float32Array} samples at `outRate` (may be empty for tiny chunks)
   */
  process(input) {
    const joined = new Float32Array(this.buf.length + input.length);
    joined.set(this.buf);
    joined.set(input, this.buf.length);
    const {up, down, halfTaps, kernels} = this.design;
    const available = this.bufStart + joined.length; // absolute index one past the last sample
    const out = [];
    let m = this.next;
    for (;;) {
      const pos = m * down; // output time in units of 1/up input samples
      const base = Math.floor(pos / up);
      const last = base + halfTaps; // last input sample the kernel touches
      if (last >= available) break;
      const kernel = kernels[pos - base * up];
      const first = base - halfTaps + 1 - this.bufStart;
      let acc = 0;
      for (let i = 0; i < kernel.length; i++) acc += kernel[i] * joined[first + i];
      out.push(acc);
      m++;
    }
    this.next = m;
    // Keep only what the next output still needs.
    const keepFrom = Math.floor((m * down) / up) - halfTaps + 1;
    const drop = Math.max(0, Math.min(joined.length, keepFrom - this.bufStart));
    this.buf = joined.slice(drop);
    this.bufStart += drop;
    return Float32Array.from(out);
  }

  /** Emit what the look-ahead held back, treating the input as followed by silence. */
  flush() {
    return this.process(new Float32Array(this.design.halfTaps + 1));
  }
}

/**
 * Resample a whole signal at once, output length ceil(n * outRate / inRate) (same convention as
 * soxr, which the Python side uses), time-aligned with the input.
 * @param {Float32Array} input
 * @param {number} inRate
 * @param {number} outRate
 * @param {object} [opts] passed to {@link designResampler}
 * @returns {Float32Array}
 */
export function resample(input, inRate, outRate, opts = {}) {
  if (inRate === outRate) return Float32Array.from(input);
  const r = new Resampler(inRate, outRate, opts);
  const head = r.process(input);
  const tail = r.flush();
  const length = Math.ceil((input.length * outRate) / inRate);
  const out = new Float32Array(length);
  out.set(head.subarray(0, length));
  if (head.length < length) out.set(tail.subarray(0, length - head.length), head.length);
  return out;
}

/**
 * Average the channels of an AudioBuffer-like object into one mono signal (as the Python loader
 * does: averaged, not summed, so a mono file keeps its level).
 * @param {Float32Array[]} channels
 * @returns {Float32Array}
 */
export function mixToMono(channels) {
  if (channels.length === 1) return Float32Array.from(channels[0]);
  const n = channels[0].length;
  const out = new Float32Array(n);
  for (const ch of channels) for (let i = 0; i < n; i++) out[i] += ch[i];
  for (let i = 0; i < n; i++) out[i] /= channels.length;
  return out;
}
