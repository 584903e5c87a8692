import assert from 'node:assert/strict';
import {test} from 'node:test';

import {designResampler, gcd, mixToMono, resample, Resampler} from '../src/resample.js';

/** A sine of `hz` at `rate`, `seconds` long, amplitude `amp`. */
function tone(hz, rate, seconds, amp = 0.5) {
  const n = Math.round(rate * seconds);
  return Float32Array.from({length: n}, (_, i) => amp * Math.sin((2 * Math.PI * hz * i) / rate));
}

/** RMS of the middle of a signal (edges excluded, where the filter sees the start/end). */
function rmsMiddle(x, margin = 0.1) {
  const a = Math.floor(x.length * margin);
  const b = Math.ceil(x.length * (1 - margin));
  let s = 0;
  for (let i = a; i < b; i++) s += x[i] * x[i];
  return Math.sqrt(s / (b - a));
}

test('gcd reduces common rate pairs', () => {
  assert.equal(gcd(44100, 16000), 100);
  assert.equal(gcd(48000, 16000), 16000);
  const d = designResampler(44100, 16000);
  assert.deepEqual([d.up, d.down], [160, 441]);
  for (const k of d.kernels) assert.ok(Math.abs(k.reduce((a, b) => a + b, 0) - 1) < 1e-5, 'unit DC gain per phase');
});

test('output length follows ceil(n * out / in)', () => {
  for (const [inRate, n] of [[44100, 44100], [48000, 48001], [44100, 1], [22050, 12345]]) {
    assert.equal(resample(new Float32Array(n), inRate, 16000).length, Math.ceil((n * 16000) / inRate));
  }
});

for (const inRate of [44100, 48000]) {
  test(`${inRate} Hz -> 16 kHz keeps a 1 kHz tone in phase and at level`, () => {
    const x = tone(1000, inRate, 1);
    const y = resample(x, inRate, 16000);
    const want = tone(1000, 16000, 1);
    let maxErr = 0;
    for (let i = 200; i < y.length - 200; i++) maxErr = Math.max(maxErr, Math.abs(y[i] - want[i]));
    assert.ok(maxErr < 1e-3, `max error ${maxErr}`);
  });

  test(`${inRate} Hz -> 16 kHz removes a 12 kHz tone instead of aliasing it to 4 kHz`, () => {
    const y = resample(tone(12000, inRate, 1), inRate, 16000);
    const level = rmsMiddle(y) / (0.5 / Math.SQRT2);
    assert.ok(level < 1e-3, `12 kHz leaks at ${(20 * Math.log10(level)).toFixed(1)} dB`);
  });
}

test('passband edge (7 kHz) passes, stopband from 8.8 kHz is attenuated', () => {
  const pass = rmsMiddle(resample(tone(7000, 48000, 1), 48000, 16000)) / (0.5 / Math.SQRT2);
  const stop = rmsMiddle(resample(tone(8800, 48000, 1), 48000, 16000)) / (0.5 / Math.SQRT2);
  assert.ok(pass > 0.98 && pass < 1.02, `7 kHz gain ${pass}`);
  assert.ok(stop < 1e-3, `8.8 kHz gain ${stop}`);
});

test('streaming in odd chunk sizes equals one-shot resampling', () => {
  const x = tone(440, 44100, 0.5);
  const oneShot = resample(x, 44100, 16000);
  const r = new Resampler(44100, 16000);
  const parts = [];
  let i = 0;
  for (const size of [1, 127, 128, 1000, 3, 4096]) {
    parts.push(r.process(x.subarray(i, i + size)));
    i += size;
  }
  while (i < x.length) {
    parts.push(r.process(x.subarray(i, i + 128)));
    i += 128;
  }
  parts.push(r.flush());
  const streamed = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    streamed.set(p, o);
    o += p.length;
  }
  assert.ok(streamed.length >= oneShot.length);
  for (let j = 0; j < oneShot.length; j++) assert.equal(streamed[j], oneShot[j]);
});

test('same rate is a copy; mono mix averages channels', () => {
  const x = Float32Array.from([0.1, -0.2, 0.3]);
  assert.deepEqual(Array.from(resample(x, 16000, 16000)), Array.from(x));
  const mono = mixToMono([Float32Array.from([1, 0.5]), Float32Array.from([0, 0.5])]);
  assert.deepEqual(Array.from(mono), [0.5, 0.5]);
});

test('rejects non-integer rates', () => {
  assert.throws(() => designResampler(44100.5, 16000), RangeError);
});
