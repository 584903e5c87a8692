// Long files in chunks (src/file-chunks.js): the spans' patches are exactly the whole waveform's
// patches (as pipeline/chunks.py's chunk_spans), mono mixing equals mixToMono + clipping, and the
// spectrogram reducer averages rows into at most the asked number of columns.
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {SpectrogramReducer, chunkSpans, monoSlice, numPatches} from '../src/file-chunks.js';
import {mixToMono} from '../src/resample.js';

const META = {sample_rate: 16000, patch_hop_seconds: 0.48, min_samples: 15600};
const HOP = 7680;

test('numPatches follows the graph (pipeline.constants.num_patches)', () => {
  assert.equal(numPatches(0, META), 1);
  assert.equal(numPatches(15600, META), 1);
  assert.equal(numPatches(15601, META), 2);
  assert.equal(numPatches(5 * 16000, META), 10);
  assert.equal(numPatches(600 * 16000, META), 1249);
  assert.equal(numPatches(3600 * 16000, META), 7499);
});

test('chunk spans give every patch once, each framed as in the whole waveform', () => {
  for (const n of [1000, 15600, 80000, 600 * 16000, 600 * 16000 + 123, 3600 * 16000]) {
    for (const maxPatches of [1, 32, 125]) {
      const spans = chunkSpans(n, META, maxPatches);
      let next = 0;
      for (const {start, end, first} of spans) {
        assert.equal(first, next);
        assert.equal(start, first * HOP);
        const count = numPatches(end - start, META);
        // Each chunk holds whole patches only (the last may be shorter and is padded like the whole).
        assert.ok(count <= maxPatches);
        if (end < n) assert.equal(end - start, META.min_samples + (count - 1) * HOP);
        next += count;
      }
      assert.equal(next, numPatches(n, META), `n=${n} max=${maxPatches}`);
      assert.equal(spans.at(-1).end, n);
    }
  }
});

test('monoSlice equals mixToMono then clipping, on any range', () => {
  const n = 5000;
  const left = Float32Array.from({length: n}, (_, i) => Math.sin(i * 0.01) * 1.3);
  const right = Float32Array.from({length: n}, (_, i) => Math.cos(i * 0.003) * 0.7);
  for (const channels of [[left], [left, right]]) {
    const whole = mixToMono(channels).map((v) => Math.max(-1, Math.min(1, v)));
    assert.deepEqual(monoSlice(channels, 0, n), whole);
    assert.deepEqual(monoSlice(channels, 1234, 4321), whole.subarray(1234, 4321));
  }
  const source = Float32Array.from([0.5, 2, -3]);
  monoSlice([source], 0, 3);
  assert.deepEqual(source, Float32Array.from([0.5, 2, -3]), 'the decoded data is left untouched');
});

test('SpectrogramReducer averages rows into at most maxColumns columns', () => {
  const bins = 2;
  const frames = 1000;
  const reducer = new SpectrogramReducer(frames, bins, 300);
  const rows = Float32Array.from({length: frames * bins}, (_, i) => Math.floor(i / bins));
  reducer.push(rows.subarray(0, 401 * bins));
  reducer.push(rows.subarray(401 * bins));
  const {data, shape, framesPerColumn} = reducer.result();
  assert.equal(framesPerColumn, 4);
  assert.deepEqual(shape, [250, bins]);
  assert.equal(data[0], 1.5); // mean of frames 0..3
  assert.equal(data[249 * bins + 1], (996 + 997 + 998 + 999) / 4);
});
