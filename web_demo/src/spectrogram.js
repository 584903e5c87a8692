/**
 * Draws log-mel frames (the model's own `log_mel` output, so the picture is exactly what YAMNet
 * sees) on a canvas: a scrolling view for the microphone and a whole-file view for files.
 * Low frequencies at the bottom; colours from a perceptual "magma"-like map.
 *
 * @module spectrogram
 */

/** Colour stops (value in [0, 1] -> RGB) interpolated into a 256-entry lookup table. */
const STOPS = [
  [0.0, [0, 0, 4]],
  [0.25, [59, 15, 112]],
  [0.5, [140, 41, 129]],
  [0.7, [222, 73, 104]],
  [0.85, [254, 159, 109]],
  [1.0, [252, 253, 191]],
];

/** @returns {Uint8ClampedArray} 256 RGB triples */
function buildLut() {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const v = i / 255;
    let j = 0;
    while (j < STOPS.length - 2 && v > STOPS[j + 1][0]) j++;
    const [v0, c0] = STOPS[j];
    const [v1, c1] = STOPS[j + 1];
    const t = (v - v0) / (v1 - v0);
    for (let k = 0; k < 3; k++) lut[i * 3 + k] = c0[k] + t * (c1[k] - c0[k]);
  }
  return lut;
}
const LUT = buildLut();

export class Spectrogram {
  /**
   * @param {HTMLCanvasElement} canvas where to draw (its CSS size is kept; the bitmap is frames x bins)
   * @param {object} [opts]
   * @param {number} [opts.columns=400] frames shown by the scrolling view (400 x 10 ms = 4 s)
   * @param {number} [opts.bins=64] mel bands per frame
   * @param {number} [opts.floor=-6.9] log-mel value drawn black (log of YAMNet's 0.001 offset = silence)
   * @param {number} [opts.ceiling=2.5] log-mel value drawn white
   */
  constructor(canvas, {columns = 400, bins = 64, floor = -6.9, ceiling = 2.5} = {}) {
    this.canvas = canvas;
    this.bins = bins;
    this.floor = floor;
    this.ceiling = ceiling;
    this.resize(columns);
  }

  /** Set the number of frames across the canvas and blank it. */
  resize(columns) {
    this.canvas.width = columns;
    this.canvas.height = this.bins;
    this.ctx = this.canvas.getContext('2d');
    this.image = this.ctx.createImageData(columns, this.bins);
    this.clear();
  }

  /** Blank (black) canvas. */
  clear() {
    const px = this.image.data;
    for (let i = 0; i < px.length; i += 4) {
      px[i] = LUT[0];
      px[i + 1] = LUT[1];
      px[i + 2] = LUT[2];
      px[i + 3] = 255;
    }
    this.ctx.putImageData(this.image, 0, 0);
  }

  /** Paint frame `f` of `logMel` ([frames, bins], row-major) into image column `x`. */
  paintColumn(logMel, f, x) {
    const px = this.image.data;
    const w = this.image.width;
    const span = this.ceiling - this.floor;
    for (let b = 0; b < this.bins; b++) {
      const v = (logMel[f * this.bins + b] - this.floor) / span;
      const idx = Math.max(0, Math.min(255, Math.round(v * 255))) * 3;
      const o = ((this.bins - 1 - b) * w + x) * 4;
      px[o] = LUT[idx];
      px[o + 1] = LUT[idx + 1];
      px[o + 2] = LUT[idx + 2];
    }
  }

  /**
   * Scroll left and append the last `count` frames of a window's log-mel.
   * @param {Float32Array} logMel [frames, bins] row-major
   * @param {number} count new frames to show (frames that arrived since the previous window)
   */
  append(logMel, count) {
    const frames = logMel.length / this.bins;
    const w = this.image.width;
    count = Math.max(0, Math.min(count, frames, w));
    if (count === 0) return;
    const px = this.image.data;
    // Shift every row left by `count` pixels.
    for (let y = 0; y < this.bins; y++) {
      const row = y * w * 4;
      px.copyWithin(row, row + count * 4, row + w * 4);
    }
    for (let i = 0; i < count; i++) this.paintColumn(logMel, frames - count + i, w - count + i);
    this.ctx.putImageData(this.image, 0, 0);
  }

  /**
   * Show a whole file: one column per frame (the canvas is resized to the file's frame count).
   * @param {Float32Array} logMel [frames, bins] row-major
   */
  showAll(logMel) {
    const frames = Math.max(1, logMel.length / this.bins);
    this.resize(frames);
    for (let f = 0; f < frames; f++) this.paintColumn(logMel, f, f);
    this.ctx.putImageData(this.image, 0, 0);
  }
}
