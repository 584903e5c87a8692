// The one JS inference module for yamnet-tfjs graph models: the web page, the Node runner
// (web_demo/node/run_model.mjs) and therefore the parity checks all run the model through this file,
// so parity tests the code users run.
//
// It never imports TF.js itself: the caller passes its `tf` namespace (browser: the vendored
// tf.min.js; Node: `@tensorflow/tfjs`), so one file works in both without a bundler.
//
// Outputs are read by graph node name with `model.execute(input, nodeNames)`, never through
// `model.predict`'s structured output names: TF.js 4.22 can pair those names with the wrong tensors.
// Node names and every YAMNet constant come from metadata.json (written by `yamnet-tfjs export`).

/**
 * @typedef {object} OutputSpec one output of the graph, as metadata.json lists it
 * @property {string} name e.g. 'clip_scores'
 * @property {string} node the graph node to pass to `model.execute`, e.g. 'Identity:0'
 * @property {number[]} shape -1 for the patch (or frame) axis
 */

/**
 * @typedef {object} Metadata metadata.json, written by `yamnet-tfjs export` (docs/contracts.md)
 * @property {'classifier'|'yamnet'} kind
 * @property {string[]} labels the classes of `scores`/`clip_scores` (YAMNet's 521 for kind 'yamnet')
 * @property {string[]} [yamnet_class_names] YAMNet's 521 classes, in `yamnet_scores` order
 * @property {number} sample_rate the waveform's rate (16000)
 * @property {number} patch_window_seconds one patch (0.96)
 * @property {number} patch_hop_seconds between patches (0.48)
 * @property {number} min_samples shorter inputs are zero-padded to this (15600)
 * @property {number} [frame_hop_seconds] between log_mel rows (0.01)
 * @property {number} [num_mel_bins] log_mel columns (64)
 * @property {OutputSpec[]} outputs
 */

/**
 * @typedef {object} Output one output's values
 * @property {Float32Array} data row-major
 * @property {number[]} shape
 */

/**
 * @typedef {Object<string, Output>} Result every output by name: scores [N, C], clip_scores [C],
 *   yamnet_scores [N, 521], embeddings [N, 1024], log_mel [M, 64] (a classifier), or YAMNet's three
 */

/** Output names of an exported classifier, in metadata.json order. */
export const OUTPUT_NAMES = ['scores', 'clip_scores', 'yamnet_scores', 'embeddings', 'log_mel'];

/**
 * Seconds between log_mel rows. Exports made before yamnet-tfjs 0.2 do not record it; they used
 * YAMNet's 10 ms STFT hop.
 * @param {Metadata} metadata
 */
export function frameHopSeconds(metadata) {
  return metadata.frame_hop_seconds ?? 0.01;
}

/**
 * Mel bins per log_mel row, from metadata (or the log_mel output's recorded shape).
 * @param {Metadata} metadata
 */
export function melBins(metadata) {
  const logMel = metadata.outputs?.find((o) => o.name === 'log_mel');
  return metadata.num_mel_bins ?? logMel?.shape?.[1] ?? 64;
}

/**
 * The WebGL renderer string (e.g. "ANGLE (… SwiftShader …)"), or null without WebGL.
 * @param {Document} doc
 * @returns {string|null}
 */
export function webglRenderer(doc) {
  try {
    const gl = doc.createElement('canvas').getContext('webgl2') ?? doc.createElement('canvas').getContext('webgl');
    if (!gl) return null;
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    return String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  } catch {
    return null;
  }
}

/**
 * True for a software WebGL renderer (no GPU: SwiftShader, llvmpipe), where wasm is faster.
 *
 * WebKit hides the real renderer behind "Apple GPU" on every platform. On Apple hardware that is
 * true (a real GPU); elsewhere (WebKitGTK, WPE on Linux) it says nothing, and the common case there,
 * llvmpipe, runs this model ~30x slower than wasm. An unknown renderer is treated as software: wasm
 * is never badly slow, and `?backend=webgl` still forces WebGL.
 * @param {string|null} renderer
 * @param {string} [userAgent] the browser's user agent (defaults to navigator.userAgent)
 */
export function isSoftwareRenderer(renderer, userAgent = globalThis.navigator?.userAgent ?? '') {
  const name = String(renderer ?? '');
  if (/swiftshader|llvmpipe|software/i.test(name)) return true;
  return /^apple gpu$/i.test(name.trim()) && !/Macintosh|Mac OS X|iPhone|iPad|iPod/.test(userAgent);
}

/**
 * Switch TF.js to the first backend in `preferred` that initialises; returns the name in use.
 *
 * wasm needs its .wasm binaries: pass `wasmPath` (a folder URL or path ending in '/'); it is given to
 * `setWasmPaths` (passed in options, or `tf.wasm.setWasmPaths` from the vendored browser bundle).
 */
export async function initBackend(tf, preferred = ['webgl', 'wasm', 'cpu'], { wasmPath, setWasmPaths } = {}) {
  const errors = [];
  for (const name of preferred) {
    if (!tf.engine().registryFactory[name]) {
      errors.push(`${name}: not registered`);
      continue;
    }
    if (name === 'wasm' && wasmPath) {
      const setPaths = setWasmPaths ?? tf.wasm?.setWasmPaths;
      if (setPaths) setPaths(wasmPath);
    }
    try {
      if (await tf.setBackend(name)) {
        await tf.ready();
        return tf.getBackend();
      }
      errors.push(`${name}: failed to initialise`);
    } catch (err) {
      errors.push(`${name}: ${err?.message ?? err}`);
    }
  }
  throw new Error(`no TF.js backend could start (${errors.join('; ')})`);
}

/**
 * Load a graph model and its metadata; returns a Classifier.
 *
 * `source` is the URL of model.json (metadata.json is then fetched from the same folder unless
 * given) or a TF.js IOHandler (then `metadata` must be passed, e.g. read from disk in Node).
 */
/**
 * @param {object} tf the TF.js namespace
 * @param {string|object} source URL of model.json, or a TF.js IOHandler
 * @param {{metadata?: Metadata}} [options]
 * @returns {Promise<Classifier>}
 */
export async function loadClassifier(tf, source, { metadata } = {}) {
  if (!metadata) {
    if (typeof source !== 'string') {
      throw new Error('loadClassifier: pass {metadata} when the model source is an IOHandler');
    }
    const url = new URL('metadata.json', new URL(source, globalThis.location?.href ?? 'file:///'));
    const response = await fetch(url);
    if (!response.ok) throw new Error(`metadata not found at ${url} (HTTP ${response.status})`);
    metadata = await response.json();
  }
  checkMetadata(metadata);
  const model = await tf.loadGraphModel(source);
  return new Classifier(tf, model, metadata);
}

function checkMetadata(metadata) {
  if (!Array.isArray(metadata?.outputs) || metadata.outputs.some((o) => !o.name || !o.node)) {
    throw new Error('metadata.json has no usable "outputs" list (entries need "name" and "node")');
  }
}

/**
 * @typedef {object} OpenSet metadata.open_set: the "none of my classes" decision (pipeline/openset.py)
 * @property {number[]} q per AudioSet class, the score YAMNet's training patches rarely exceed
 * @property {number} weight weight of YAMNet's surprise against the head's doubt
 * @property {number} threshold_clip reject a whole file above this score
 * @property {number} threshold_window reject one live window above this score
 */

/** The label index of "none of my classes". */
export const UNKNOWN = -1;

/**
 * The open-set decision for one input, exactly as Python's `pipeline.openset.decide`:
 * score = (1 - max(clip_scores)) + weight * max_j(mean over patches of yamnet_scores_j - q_j);
 * "unknown" when the score is above the threshold (`threshold_window` for a live window).
 * Without `openSet` (a model exported before it existed) the best class is always taken.
 * @param {Result} out the outputs of `Classifier.run`
 * @param {OpenSet|undefined} openSet metadata.open_set
 * @param {boolean} [isWindow=false]
 * @returns {{label: number, score: number, best: number}} label is UNKNOWN or the class index
 */
export function openSetDecision(out, openSet, isWindow = false) {
  const p = out.clip_scores.data;
  let best = 0;
  for (let c = 1; c < p.length; c++) if (p[c] > p[best]) best = c;
  if (!openSet) return {label: best, score: 0, best};
  const y = out.yamnet_scores.data;
  const k = openSet.q.length;
  const n = y.length / k;
  let surprise = -Infinity;
  for (let j = 0; j < k; j++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += y[i * k + j];
    surprise = Math.max(surprise, sum / n - openSet.q[j]);
  }
  const score = 1 - p[best] + openSet.weight * surprise;
  const threshold = isWindow ? openSet.threshold_window : openSet.threshold_clip;
  return {label: score > threshold ? UNKNOWN : best, score, best};
}

/** A loaded model: `run(waveform)` gives every output as {data: Float32Array, shape: number[]}. */
export class Classifier {
  /**
   * @param {object} tf the TF.js namespace
   * @param {object} model a tf.GraphModel
   * @param {Metadata} metadata
   */
  constructor(tf, model, metadata) {
    this.tf = tf;
    this.model = model;
    this.metadata = metadata;
    this.inputNode = model.inputs[0].name;
    this.nodes = metadata.outputs.map((o) => o.node);
  }

  /** Labels of `scores`/`clip_scores` (custom classes), from metadata.json. */
  get labels() {
    return this.metadata.labels ?? [];
  }

  /** YAMNet's 521 class names, in `yamnet_scores` order. */
  get yamnetClassNames() {
    return this.metadata.yamnet_class_names ?? [];
  }

  /**
   * Run on one 16 kHz mono waveform (any length; short ones are zero-padded by the graph).
   * @param {Float32Array|number[]} waveform
   * @returns {Promise<Result>}
   */
  async run(waveform) {
    if (!(waveform instanceof Float32Array)) waveform = Float32Array.from(waveform);
    const tf = this.tf;
    const input = tf.tensor1d(waveform, 'float32');
    let tensors = [];
    try {
      tensors = this.model.execute({ [this.inputNode]: input }, this.nodes);
      if (!Array.isArray(tensors)) tensors = [tensors];
      const values = await Promise.all(tensors.map((t) => t.data()));
      const result = {};
      this.metadata.outputs.forEach((o, i) => {
        result[o.name] = { data: values[i], shape: tensors[i].shape.slice() };
      });
      return result;
    } finally {
      input.dispose();
      for (const t of tensors) t.dispose();
    }
  }

  dispose() {
    this.model.dispose();
  }
}
