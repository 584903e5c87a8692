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

/** Output names of an exported classifier, in metadata.json order. */
export const OUTPUT_NAMES = ['scores', 'clip_scores', 'yamnet_scores', 'embeddings', 'log_mel'];

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

/** A loaded model: `run(waveform)` gives every output as {data: Float32Array, shape: number[]}. */
export class Classifier {
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

  /** Run on one 16 kHz mono waveform (Float32Array, any length; short ones are zero-padded by the graph). */
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
