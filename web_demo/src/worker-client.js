/**
 * The page's side of inference-worker.js: `WorkerClassifier.start(...)` loads the model in a Web
 * Worker, and `run(wave)` has the same contract as model.js's `Classifier.run`, so the page calls
 * either the same way.
 *
 * `run` transfers the waveform's buffer to the worker (no copy): the caller's Float32Array is
 * detached (length 0) afterwards, so read anything needed from it first. The outputs come back
 * transferred as well.
 *
 * @module worker-client
 */

/** The worker could not start or load the model; the page then runs inference on its main thread. */
export class WorkerStartError extends Error {
  name = 'WorkerStartError';
}

export class WorkerClassifier {
  /**
   * Start the worker and load the model in it; resolves once it answered that it is ready.
   * @param {{vendorUrl: string, modelUrl: string, metadata: object, backends: string[], timeoutMs?: number}} options
   * @returns {Promise<WorkerClassifier>}
   */
  static async start({vendorUrl, modelUrl, metadata, backends, timeoutMs = 120_000}) {
    if (typeof Worker === 'undefined') throw new WorkerStartError('this browser has no Web Workers');
    let worker;
    try {
      worker = new Worker(new URL('./inference-worker.js', import.meta.url));
    } catch (err) {
      throw new WorkerStartError(err?.message ?? String(err));
    }
    try {
      const backend = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new WorkerStartError('no answer from the worker')), timeoutMs);
        worker.onmessage = (event) => {
          const msg = event.data;
          clearTimeout(timer);
          if (msg.type === 'ready') resolve(msg.backend);
          else reject(new WorkerStartError(msg.message ?? 'the worker failed to start'));
        };
        worker.onerror = (event) => {
          clearTimeout(timer);
          event.preventDefault?.();
          reject(new WorkerStartError(event.message || 'the worker script failed to load'));
        };
        worker.postMessage({type: 'init', vendorUrl, modelUrl, metadata, backends});
      });
      return new WorkerClassifier(worker, backend, metadata);
    } catch (err) {
      worker.terminate();
      throw err;
    }
  }

  constructor(worker, backend, metadata) {
    this.worker = worker;
    this.backend = backend;
    this.metadata = metadata;
    this.nextId = 1;
    this.pending = new Map();
    worker.onmessage = (event) => this.onMessage(event.data);
    worker.onerror = (event) => {
      event.preventDefault?.();
      this.failAll(new Error(`inference worker failed: ${event.message || 'unknown error'}`));
    };
  }

  /**
   * Run on one 16 kHz mono waveform; the same result as `Classifier.run` (model.js).
   * @param {Float32Array} waveform transferred to the worker: detached when this returns
   * @returns {Promise<Object<string, {data: Float32Array, shape: number[]}>>}
   */
  run(waveform) {
    if (!(waveform instanceof Float32Array)) waveform = Float32Array.from(waveform);
    // A view on part of a larger buffer is copied, so the rest of that buffer stays with the caller.
    if (waveform.byteOffset !== 0 || waveform.byteLength !== waveform.buffer.byteLength) waveform = waveform.slice();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, {resolve, reject});
      this.worker.postMessage({type: 'run', id, wave: waveform.buffer}, [waveform.buffer]);
    });
  }

  onMessage(msg) {
    const call = this.pending.get(msg.id);
    if (!call) return;
    this.pending.delete(msg.id);
    if (msg.error) call.reject(new Error(msg.error));
    else call.resolve(msg.out);
  }

  failAll(err) {
    for (const call of this.pending.values()) call.reject(err);
    this.pending.clear();
  }

  dispose() {
    this.failAll(new Error('the inference worker was stopped'));
    this.worker.terminate();
  }
}
