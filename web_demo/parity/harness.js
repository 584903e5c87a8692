// Parity harness for every browser engine: the same model.js the demo page uses, driven by
// pipeline/parity.py through pipeline/js/engines.py (`await window.runParity({...})`).
import {initBackend, loadClassifier, openSetDecision, webglRenderer} from '../src/model.js';

/** Float32Array -> base64 of its little-endian bytes (compact to hand back to Python). */
function toBase64(f32) {
  const bytes = new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength);
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

/**
 * Run every input (URL of a raw float32 16 kHz waveform) through the model on `backend`.
 * One warm-up call per input (kernel/shader compilation), then `repeats` timed calls.
 */
window.runParity = async ({backend, model, inputs, repeats = 1}) => {
  const used = await initBackend(tf, [backend], {wasmPath: new URL('../vendor/', location.href).href});
  const t0 = performance.now();
  const classifier = await loadClassifier(tf, new URL(model, location.href).href);
  const loadMs = performance.now() - t0;
  const results = [];
  for (const url of inputs) {
    const wave = new Float32Array(await (await fetch(url)).arrayBuffer());
    let out = await classifier.run(wave);
    const ms = [];
    for (let r = 0; r < repeats; r++) {
      const start = performance.now();
      out = await classifier.run(wave);
      ms.push(performance.now() - start);
    }
    const outputs = {};
    for (const [name, {data, shape}] of Object.entries(out)) outputs[name] = {shape, b64: toBase64(data)};
    const openSet = classifier.metadata.open_set;
    const decision = openSet && out.clip_scores ? openSetDecision(out, openSet, false) : null;
    results.push({input: url, samples: wave.length, ms, outputs, decision});
  }
  const flags = {};
  if (used === 'webgl') {
    for (const f of ['WEBGL_VERSION', 'WEBGL_RENDER_FLOAT32_ENABLED', 'WEBGL_PACK']) flags[f] = tf.env().get(f);
  }
  if (used === 'wasm') flags.WASM_HAS_SIMD_SUPPORT = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  classifier.dispose();
  return {
    backend: used,
    tfjs_version: tf.version.tfjs,
    user_agent: navigator.userAgent,
    webgl_renderer: used === 'webgl' ? webglRenderer(document) : null,
    flags,
    load_ms: loadMs,
    results,
  };
};
document.querySelector('[data-testid=status]').textContent = 'ready';
