import assert from 'node:assert/strict';
import {test} from 'node:test';

import {HopScheduler} from '../src/scheduler.js';

test('fires once per hop after the minimum has arrived', () => {
  const s = new HopScheduler({hopSamples: 100, minSamples: 250});
  const fired = [];
  for (let t = 1; t <= 600; t++) {
    if (s.push(1)) {
      fired.push(t);
      s.begin();
      s.end();
    }
  }
  assert.deepEqual(fired, [250, 350, 450, 550]);
});

test('inference slower than the hop skips hops instead of queueing them', () => {
  const s = new HopScheduler({hopSamples: 100});
  let running = 0; // samples until the current inference finishes
  const fired = [];
  for (let t = 1; t <= 1000; t++) {
    if (running > 0 && --running === 0) s.end();
    if (s.push(1)) {
      fired.push(t);
      s.begin();
      running = 250; // 2.5 hops per inference
    }
  }
  // Never two at once, and every start sits on the 100-sample grid.
  for (let i = 1; i < fired.length; i++) assert.ok(fired[i] - fired[i - 1] >= 250);
  for (const t of fired) assert.equal(t % 100, 0);
  assert.deepEqual(fired, [100, 400, 700, 1000]);
  assert.equal(s.started, 4);
  assert.equal(s.skipped, 6);
});

test('a large chunk triggers a single run, on the grid', () => {
  const s = new HopScheduler({hopSamples: 10});
  assert.equal(s.push(35), true);
  assert.equal(s.overshoot, 5); // the window to take ends at 30, the last grid point passed
  s.begin();
  assert.equal(s.push(1), false);
  s.end();
  assert.equal(s.push(3), false);
  assert.equal(s.push(4), true); // 43 samples: grid point 40 passed
  assert.equal(s.overshoot, 3);
});

test('chunked audio keeps the grid anchored at minSamples', () => {
  const s = new HopScheduler({hopSamples: 7680, minSamples: 7920});
  const ends = [];
  let received = 0;
  for (let i = 0; i < 100; i++) {
    received += 683; // 2048 frames at 44.1 kHz resampled to 16 kHz
    if (s.push(683)) {
      ends.push(received - s.overshoot);
      s.begin();
      s.end();
    }
  }
  assert.deepEqual(ends, [7920, 15600, 23280, 30960, 38640, 46320, 54000, 61680]);
});
