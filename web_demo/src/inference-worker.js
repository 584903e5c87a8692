/**
 * Web Worker that runs the model off the page's main thread (started by worker-client.js).
 *
 * A classic worker on purpose: the vendored TF.js bundles (vendor/tf.min.js and the wasm backend)
 * are UMD scripts, which `importScripts` loads as the page's <script> tags do; the shared inference
 * module model.js is an ES module and comes in through a dynamic `import()`, so the worker runs the
 * model exactly as the page's main thread, the Node runner and the parity check do.
 *
 * Messages in:  {type: 'init', vendorUrl, modelUrl, metadata, backends}
 *               {type: 'run', id, wave: ArrayBuffer}   (a Float32Array's buffer, transferred)
 * Messages out: {type: 'ready', backend} | {type: 'init-error', message}
 *               {id, out: {name: {data, shape}}}       (every output's buffer transferred back)
 *               {id, error: message}
 *
 * Runs are answered one at a time, in order (TF.js would interleave two awaiting runs).
 */
/* global importScripts */

let classifier = null;
let queue = Promise.resolve();

async function init({vendorUrl, modelUrl, metadata, backends}) {
  importScripts(new URL('tf.min.js', vendorUrl).href, new URL('tf-backend-wasm.min.js', vendorUrl).href);
  const {initBackend, loadClassifier} = await import('./model.js');
  const tf = self.tf;
  // webgl needs OffscreenCanvas in a worker; TF.js uses it when present and fails (next backend) when not.
  const wanted = backends.filter((b) => b !== 'webgl' || typeof OffscreenCanvas !== 'undefined');
  const backend = await initBackend(tf, wanted, {wasmPath: vendorUrl});
  classifier = await loadClassifier(tf, modelUrl, {metadata});
  return backend;
}

async function run(id, buffer) {
  const out = await classifier.run(new Float32Array(buffer));
  const transfer = new Set();
  for (const value of Object.values(out)) {
    // A view on a larger buffer (or one two outputs share) would move more than asked: copy it.
    if (value.data.byteOffset !== 0 || value.data.byteLength !== value.data.buffer.byteLength || transfer.has(value.data.buffer)) {
      value.data = value.data.slice();
    }
    transfer.add(value.data.buffer);
  }
  self.postMessage({id, out}, [...transfer]);
}

self.onmessage = (event) => {
  const msg = event.data;
  if (msg.type === 'init') {
    init(msg).then(
      (backend) => self.postMessage({type: 'ready', backend}),
      (err) => self.postMessage({type: 'init-error', message: String(err?.message ?? err)}),
    );
  } else if (msg.type === 'run') {
    queue = queue
      .then(() => run(msg.id, msg.wave))
      .catch((err) => self.postMessage({id: msg.id, error: String(err?.message ?? err)}));
  }
};
