import assert from 'node:assert/strict';
import {test} from 'node:test';

import {isSoftwareRenderer} from '../src/model.js';

const SAFARI_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15';
const WEBKITGTK = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/60.5 Safari/605.1.15';
const CHROMIUM = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

test('software renderers by name, whatever the browser', () => {
  assert.equal(isSoftwareRenderer('ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero)), SwiftShader driver)', CHROMIUM), true);
  assert.equal(isSoftwareRenderer('llvmpipe (LLVM 19.1.7, 256 bits)', CHROMIUM), true);
  assert.equal(isSoftwareRenderer('ANGLE (NVIDIA, NVIDIA GeForce RTX 3060 Direct3D11 vs_5_0 ps_5_0)', CHROMIUM), false);
  assert.equal(isSoftwareRenderer(null, CHROMIUM), false);
});

test("WebKit's masked 'Apple GPU' is a GPU on Apple hardware and unknown (so software) elsewhere", () => {
  assert.equal(isSoftwareRenderer('Apple GPU', SAFARI_MAC), false);
  assert.equal(isSoftwareRenderer('Apple GPU', WEBKITGTK), true);
  assert.equal(isSoftwareRenderer('Apple M2', WEBKITGTK), false);
});
