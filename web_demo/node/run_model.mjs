#!/usr/bin/env node
// Run a converted yamnet-tfjs graph model in Node with pure @tensorflow/tfjs (cpu) or the wasm backend,
// through the same web_demo/src/model.js the web page uses. Used by `pipeline/node.py` (tests, parity,
// benchmarks); never uses tfjs-node, so it measures what browsers run.
//
//   node run_model.mjs --model DIR --out OUT [--backend cpu|wasm] [--repeats N] [--mode classifier|hub] A.f32 B.f32 ...
//
// Inputs are raw little-endian float32 16 kHz waveforms. For each input i and output NAME it writes
// OUT/i.NAME.f32, and OUT/result.json: backend actually in use, load time, per-input shapes and ms per
// call (after one warm-up call). --mode hub runs TF Hub's documented line instead of model.js:
//   const [scores, embeddings, spectrogram] = model.predict(waveform)
// (to check a YAMNet-only export is a drop-in for TF Hub's TF.js YAMNet).

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { initBackend, loadClassifier, openSetDecision } from '../src/model.js';

const HUB_OUTPUTS = ['scores', 'embeddings', 'spectrogram'];

function parseArgs(argv) {
  const opts = { backend: 'cpu', repeats: 1, mode: 'classifier', inputs: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--model') opts.model = value();
    else if (arg === '--out') opts.out = value();
    else if (arg === '--backend') opts.backend = value();
    else if (arg === '--repeats') opts.repeats = Math.max(1, parseInt(value(), 10));
    else if (arg === '--mode') opts.mode = value();
    else if (arg.startsWith('--')) throw new Error(`unknown option ${arg}`);
    else opts.inputs.push(arg);
  }
  if (!opts.model || !opts.out) throw new Error('usage: run_model.mjs --model DIR --out OUT [--backend cpu|wasm] A.f32 ...');
  if (!['cpu', 'wasm'].includes(opts.backend)) throw new Error(`backend must be cpu or wasm, got ${opts.backend}`);
  if (!['classifier', 'hub'].includes(opts.mode)) throw new Error(`mode must be classifier or hub, got ${opts.mode}`);
  return opts;
}

/** A TF.js IOHandler reading model.json and its shards from a folder on disk. */
export function fileHandler(dir) {
  return {
    load: async () => {
      const modelJson = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
      return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const specs = [];
        const buffers = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
        }
        const all = Buffer.concat(buffers);
        return [specs, all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength)];
      });
    },
  };
}

/**
 * Where the wasm binaries are: beside this file when it is the bundled runner (vendor/, as installed
 * with the Python package), else in node_modules (a checkout).
 */
function wasmDir() {
  const here = path.dirname(fileURLToPath(import.meta.url));
  if (fs.existsSync(path.join(here, 'tfjs-backend-wasm.wasm'))) return here;
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
}

function readWaveform(file) {
  const buf = fs.readFileSync(file);
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

function writeFloat32(file, data) {
  const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
  fs.writeFileSync(file, Buffer.from(f32.buffer, f32.byteOffset, f32.byteLength));
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Load a model and return `run(waveform) -> {name: {data, shape}}` for the chosen mode. */
async function makeRunner(opts) {
  if (opts.mode === 'hub') {
    const model = await tf.loadGraphModel(fileHandler(opts.model));
    return async (waveform) => {
      const input = tf.tensor1d(waveform);
      // The exact line from TF Hub's YAMNet documentation.
      const [scores, embeddings, spectrogram] = model.predict(input);
      const result = {};
      for (const [name, t] of Object.entries({ scores, embeddings, spectrogram })) {
        result[name] = { data: await t.data(), shape: t.shape.slice() };
        t.dispose();
      }
      input.dispose();
      return result;
    };
  }
  const metadata = JSON.parse(fs.readFileSync(path.join(opts.model, 'metadata.json'), 'utf8'));
  const classifier = await loadClassifier(tf, fileHandler(opts.model), { metadata });
  const run = (waveform) => classifier.run(waveform);
  // The file-level "none of my classes" decision, by the page's own code (parity compares it with Python's).
  if (metadata.open_set) run.decide = (outputs) => openSetDecision(outputs, metadata.open_set, false);
  return run;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const backend = await initBackend(tf, [opts.backend], {wasmPath: wasmDir() + path.sep, setWasmPaths});
  fs.mkdirSync(opts.out, { recursive: true });
  const t0 = performance.now();
  const run = await makeRunner(opts);
  const loadMs = performance.now() - t0;
  const results = [];
  for (const [i, file] of opts.inputs.entries()) {
    const waveform = readWaveform(file);
    let outputs = await run(waveform); // warm-up (also compiles kernels); its outputs are the ones saved
    const ms = [];
    for (let r = 0; r < opts.repeats; r++) {
      const start = performance.now();
      outputs = await run(waveform);
      ms.push(performance.now() - start);
    }
    const entry = { input: file, samples: waveform.length, ms, median_ms: median(ms), outputs: {} };
    if (run.decide) entry.decision = run.decide(outputs);
    for (const [name, { data, shape }] of Object.entries(outputs)) {
      const outFile = path.join(opts.out, `${i}.${name}.f32`);
      writeFloat32(outFile, data);
      entry.outputs[name] = { shape, file: outFile };
    }
    results.push(entry);
  }
  const summary = {
    backend,
    mode: opts.mode,
    tfjs_version: tf.version.tfjs,
    load_ms: loadMs,
    num_tensors: tf.memory().numTensors,
    results,
  };
  fs.writeFileSync(path.join(opts.out, 'result.json'), JSON.stringify(summary, null, 2));
}

// Run as a script (also through a symlinked path, e.g. the installed package's pipeline/web/node/),
// not when imported.
if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(path.resolve(process.argv[1]))) {
  main().catch((err) => {
    process.stderr.write(`error: ${err?.message ?? err}\n`);
    process.exit(1);
  });
}

export { HUB_OUTPUTS };
