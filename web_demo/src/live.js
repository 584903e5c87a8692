/**
 * The microphone, behind one small interface: `start()`, `stop()`, and `onWindow(wave, info)` called
 * with the latest window of 16 kHz audio every hop (the way tfjs-models' speech-commands keeps its
 * feature extractor behind one interface).
 *
 * Chain: getUserMedia -> AudioWorklet (mono chunks at the device's rate, transferred, not copied) ->
 * Resampler (anti-aliased, to the model's rate) -> RingBuffer -> HopScheduler, which says "classify
 * now" every hop unless the previous `onWindow` is still running: a slow model skips hops instead of
 * building a backlog. The AudioContext runs at the device's own rate (Firefox refuses to connect
 * nodes of different rates), so resampling is ours.
 *
 * @module live
 */
import {Resampler} from './resample.js';
import {RingBuffer} from './ring-buffer.js';
import {HopScheduler} from './scheduler.js';

/**
 * @typedef {object} WindowInfo
 * @property {number} end where the window ends, in samples received (at the model's rate): on the grid
 *   windowSamples + k * hop, like the offline patches of the same audio
 * @property {number} newSamples samples that arrived since the previous window
 * @property {number} received samples received so far (the ring zero-fills before the first one)
 */

/**
 * @typedef {object} LiveOptions
 * @property {number} sampleRate the model's rate (metadata.sample_rate)
 * @property {number} windowSeconds length of each window
 * @property {number} hopSeconds new audio between windows
 * @property {number} maxWindowSeconds longest window `windowSeconds` may be set to (sizes the ring)
 * @property {(wave: Float32Array, info: WindowInfo) => Promise<void>} onWindow classify one window
 * @property {(rms: number) => void} [onLevel] input level of each chunk (for a meter)
 * @property {() => void} [onEnded] the device went away (unplugged, permission revoked)
 */

/** The browser cannot capture audio here; the message says why and what still works. */
export class CaptureError extends Error {
  name = 'CaptureError';
}

export class LiveCapture {
  /** @param {LiveOptions} options */
  constructor(options) {
    this.options = options;
    this.windowSeconds = options.windowSeconds;
    this.running = false;
    this.deviceRate = null;
  }

  /** Windows started and hops skipped because the previous window was still being classified. */
  get stats() {
    return {windows: this.scheduler?.started ?? 0, skipped: this.scheduler?.skipped ?? 0};
  }

  /** Ask for the microphone and start delivering windows (call from a user gesture: Safari needs one). */
  async start() {
    if (this.running) return;
    if (!navigator.mediaDevices?.getUserMedia) {
      throw new CaptureError(
        window.isSecureContext
          ? 'This browser cannot capture audio (no getUserMedia). Files still work.'
          : 'The microphone needs a secure page: open it over https or from localhost / 127.0.0.1.',
      );
    }
    if (typeof AudioWorkletNode === 'undefined') {
      throw new CaptureError('This browser has no AudioWorklet, which live audio needs. Use a current Chrome, Firefox or Safari; files still work.');
    }
    // Raw audio: echo cancellation, noise suppression and auto gain are tuned for speech calls and
    // would remove exactly the non-speech sounds YAMNet classifies.
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false},
    });
    const ctx = new AudioContext();
    try {
      await ctx.audioWorklet.addModule(new URL('./audio-worklet.js', import.meta.url));
      await ctx.resume();
    } catch (err) {
      stream.getTracks().forEach((t) => t.stop());
      await ctx.close();
      throw err;
    }
    const {sampleRate, hopSeconds, maxWindowSeconds} = this.options;
    this.stream = stream;
    this.ctx = ctx;
    this.deviceRate = ctx.sampleRate;
    this.source = ctx.createMediaStreamSource(stream);
    this.node = new AudioWorkletNode(ctx, 'capture-processor', {numberOfOutputs: 0, processorOptions: {chunkFrames: 2048}});
    this.resampler = new Resampler(ctx.sampleRate, sampleRate);
    // Room for the longest window plus one hop: a window is taken ending on its grid point, up to a hop ago.
    this.ring = new RingBuffer(Math.ceil((maxWindowSeconds + hopSeconds) * sampleRate));
    const hopSamples = Math.round(hopSeconds * sampleRate);
    const windowSamples = Math.round(this.windowSeconds * sampleRate);
    // Windows end on the grid windowSamples + k * hop, where the offline patches of the same audio end
    // (`predict --events` agrees with the page); the first one comes once >= 0.25 s has arrived.
    const firstEnd = windowSamples - hopSamples * Math.floor((windowSamples - 0.25 * sampleRate) / hopSamples);
    this.scheduler = new HopScheduler({hopSamples, minSamples: firstEnd});
    this.lastEnd = 0;
    this.running = true;
    this.node.port.onmessage = (event) => this.onChunk(event.data);
    this.source.connect(this.node);
    stream.getAudioTracks()[0]?.addEventListener('ended', () => {
      this.stop();
      this.options.onEnded?.();
    });
  }

  /** Stop capturing and release the device. Safe to call twice. */
  stop() {
    if (!this.running) return;
    this.running = false;
    this.node.port.postMessage('stop');
    this.source.disconnect();
    this.stream.getTracks().forEach((t) => t.stop());
    this.ctx.close();
  }

  /** A chunk from the worklet: resample, buffer, maybe hand a window to `onWindow` (never two at once). */
  onChunk(chunk) {
    if (!this.running) return;
    const samples = this.resampler.process(chunk);
    this.ring.push(samples);
    if (this.options.onLevel) {
      let s = 0;
      for (let i = 0; i < chunk.length; i++) s += chunk[i] * chunk[i];
      this.options.onLevel(Math.sqrt(s / Math.max(1, chunk.length)));
    }
    if (this.scheduler.push(samples.length)) this.deliver();
  }

  async deliver() {
    const windowSamples = Math.round(this.windowSeconds * this.options.sampleRate);
    const overshoot = this.scheduler.overshoot; // samples that arrived past the grid point
    const wave = overshoot ? this.ring.latest(windowSamples + overshoot).slice(0, windowSamples) : this.ring.latest(windowSamples);
    const end = this.ring.totalWritten - overshoot;
    const info = {end, newSamples: end - this.lastEnd, received: end};
    this.lastEnd = end;
    this.scheduler.begin();
    try {
      await this.options.onWindow(wave, info);
    } finally {
      this.scheduler.end();
    }
  }
}
