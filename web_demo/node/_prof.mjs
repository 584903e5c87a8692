import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { initBackend } from '../src/model.js';
import { fileHandler } from './run_model.mjs';
const [modelDir, wavFile, backendName] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const wasmPath = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
await initBackend(tf, [backendName || 'wasm'], { wasmPath, setWasmPaths });
const model = await tf.loadGraphModel(fileHandler(modelDir));
const buf = fs.readFileSync(wavFile);
const wave = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
const input = tf.tensor1d(wave);
const outs = () => { const o = model.execute(input); (Array.isArray(o) ? o : [o]).forEach((t) => t.dataSync()); return o; };
outs(); outs();
let t0 = performance.now(); for (let i = 0; i < 5; i++) { const o = outs(); tf.dispose(o); } 
const ms = (performance.now() - t0) / 5;
console.log(`backend ${tf.getBackend()} ${ms.toFixed(1)} ms per call, ${(ms / (wave.length / 16000)).toFixed(2)} ms per s of audio`);
const info = await tf.profile(() => { const o = outs(); return o; });
const agg = {};
for (const k of info.kernels) { const n = k.name; agg[n] = agg[n] || { ms: 0, n: 0 }; agg[n].ms += (typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0); agg[n].n += 1; }
const total = Object.values(agg).reduce((a, b) => a + b.ms, 0);
console.log(`kernels total ${total.toFixed(1)} ms (${info.kernels.length} kernels)`);
for (const [n, v] of Object.entries(agg).sort((a, b) => b[1].ms - a[1].ms).slice(0, 15)) console.log(`${v.ms.toFixed(2).padStart(8)} ms ${String(v.n).padStart(4)}x ${n}`);
