/**
 * AudioWorkletProcessor that hands microphone audio to the page.
 *
 * Runs on the audio rendering thread, so it does the least possible: average the channels to mono
 * and post fixed-size chunks (at the AudioContext's own rate) to the main thread, transferring the
 * buffer instead of copying it. Resampling, buffering and inference all happen on the main thread,
 * so a slow model can never glitch the audio thread.
 */
class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    /** Frames per posted chunk: 2048 is ~43-46 ms at 44.1/48 kHz, a few messages per hop. */
    this.chunkFrames = options?.processorOptions?.chunkFrames ?? 2048;
    this.chunk = new Float32Array(this.chunkFrames);
    this.filled = 0;
    this.running = true;
    this.port.onmessage = (event) => {
      if (event.data === 'stop') this.running = false;
    };
  }

  /**
   * @param {Float32Array[][]} inputs inputs[0] is the microphone: one Float32Array per channel
   * @returns {boolean} false once stopped, so the node can be collected
   */
  process(inputs) {
    const channels = inputs[0];
    if (!this.running) return false;
    if (!channels || channels.length === 0) return true; // not connected yet
    const frames = channels[0].length;
    const scale = 1 / channels.length;
    for (let i = 0; i < frames; i++) {
      let v = 0;
      for (let c = 0; c < channels.length; c++) v += channels[c][i];
      this.chunk[this.filled++] = v * scale;
      if (this.filled === this.chunkFrames) {
        this.port.postMessage(this.chunk, [this.chunk.buffer]);
        this.chunk = new Float32Array(this.chunkFrames);
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor('capture-processor', CaptureProcessor);
