import assert from 'node:assert/strict';
import {test} from 'node:test';

import {RingBuffer} from '../src/ring-buffer.js';

const seq = (a, b) => Float32Array.from({length: b - a}, (_, i) => a + i);

test('latest() zero-fills before the first sample', () => {
  const rb = new RingBuffer(8);
  rb.push(seq(1, 4));
  assert.deepEqual(Array.from(rb.latest(5)), [0, 0, 1, 2, 3]);
  assert.equal(rb.size, 3);
});

test('wraps around and keeps the newest samples in order', () => {
  const rb = new RingBuffer(5);
  rb.push(seq(0, 3));
  rb.push(seq(3, 7));
  assert.deepEqual(Array.from(rb.latest(5)), [2, 3, 4, 5, 6]);
  assert.deepEqual(Array.from(rb.latest(2)), [5, 6]);
  assert.equal(rb.totalWritten, 7);
  assert.equal(rb.size, 5);
});

test('a push larger than the capacity keeps its tail', () => {
  const rb = new RingBuffer(4);
  rb.push(seq(0, 10));
  assert.deepEqual(Array.from(rb.latest(4)), [6, 7, 8, 9]);
});

test('many small pushes equal the last samples of the stream', () => {
  const rb = new RingBuffer(1000);
  let next = 0;
  for (let i = 0; i < 500; i++) {
    const n = (i * 37) % 128;
    rb.push(seq(next, next + n));
    next += n;
  }
  assert.deepEqual(Array.from(rb.latest(1000)), Array.from(seq(next - 1000, next)));
});

test('clear() and bad sizes', () => {
  const rb = new RingBuffer(3);
  rb.push(seq(1, 3));
  rb.clear();
  assert.deepEqual(Array.from(rb.latest(3)), [0, 0, 0]);
  assert.throws(() => rb.latest(4), RangeError);
  assert.throws(() => new RingBuffer(0), RangeError);
});
