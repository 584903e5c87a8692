/**
 * The demo page: load the exported graph model, classify the microphone live and dropped files.
 *
 * Data flow (microphone): LiveCapture (live.js: worklet, resampler, ring buffer, hop scheduler)
 * hands over the last window every hop -> `state.classifier.run` -> bars, "now hearing",
 * spectrogram from the model's own log_mel. The classifier is a WorkerClassifier (worker-client.js:
 * the model runs in inference-worker.js, windows and outputs are transferred, not copied), or with
 * `?worker=0` (or when the worker cannot start) model.js's Classifier on this thread; both have the
 * same `run(wave)`.
 *
 * Files are decoded by the browser (decodeAudioData holds the whole decoded file), then mixed to
 * mono and classified one chunk of whole patches at a time (FILE_CHUNK_PATCHES, 60 s), so no
 * 16 kHz copy of the whole file and no model call over the whole file ever exists; the chunks'
 * patches are exactly the one-shot patches (pipeline/chunks.py does the same in Python).
 *
 * Every model constant (sample rate, patch window/hop, minimum length, labels) comes from the
 * model's metadata.json, never from a copy here.
 *
 * URL parameters: `model` (URL of model.json; default `model/model.json` beside this page),
 * `backend` (comma list, default `webgl,wasm,cpu`), `window` (seconds, default the model's minimum
 * 0.975 s, at most 3), `hop` (seconds, default the patch hop 0.48), `k` (bars shown, default 5),
 * `on` / `off` / `cooldown` (event hysteresis in windows, default metadata.json's `events`),
 * `worker=0` (run inference on the main thread).
 *
 * Each live window is decided as `predict` decides it (a class, "unknown" by the open-set rule with
 * the window threshold, or silence), and events.js turns the decisions into the events list.
 */
import {EventTracker, SILENT, clock, eventRules} from './events.js';
import {SpectrogramReducer, chunkSpans, monoSlice, numPatches} from './file-chunks.js';
import {CaptureError, LiveCapture} from './live.js';
import {
  UNKNOWN,
  frameHopSeconds,
  initBackend,
  isSoftwareRenderer,
  loadClassifier,
  melBins,
  openSetDecision,
  webglRenderer,
} from './model.js';
import {Spectrogram} from './spectrogram.js';
import {byTestId, renderBars, renderHistory, renderTimeline, topK} from './view.js';
import {WorkerClassifier} from './worker-client.js';

/** Longest window the page classifies (seconds); also sizes the ring buffer. */
const MAX_WINDOW_SECONDS = 3;
/** Live results kept in the "recently heard" strip. */
const HISTORY_LENGTH = 40;
/** Weight of the newest window in the smoothed "now hearing" scores (exponential moving average). */
const SMOOTHING = 0.5;
/** Seconds of log-mel the live spectrogram shows. */
const LIVE_SPECTROGRAM_SECONDS = 4;
/** Patches per model call for files: 125 patches are 60 s of audio (a few MB per call). */
const FILE_CHUNK_PATCHES = 125;
/** A long file's spectrogram is averaged down to at most this many columns. */
const FILE_SPECTROGRAM_COLUMNS = 2000;

/** An error whose message is meant for the person in front of the page. */
class UserError extends Error {}

const params = new URLSearchParams(location.search);
const $ = (id) => byTestId(id);

/** Page state. Exposed as `window.yamnetDemo` for debugging and the browser tests. */
const state = {
  tf: globalThis.tf,
  backend: null,
  inference: null, // 'worker' | 'main thread'
  workerError: null, // why the worker could not start (then inference runs on the main thread)
  metadata: null,
  classifier: null,
  modelUrl: null,
  labelSet: 'custom', // 'custom' | 'yamnet'
  topK: clampInt(params.get('k'), 1, 20, 5),
  windowSeconds: null,
  hopSeconds: null,
  timings: {loadMs: null, warmupMs: null},
  mic: null, // the LiveCapture while the microphone runs
  stats: {windows: 0, skipped: 0, lastMs: null, meanMs: null},
  smoothed: {custom: null, yamnet: null},
  lastResult: null, // {source, custom, yamnet, silent}
  history: [], // recent live results: {custom: index, yamnet: index, silent}
  file: null, // {name, duration, chunks, out}: out has scores, clip_scores, yamnet_scores, log_mel
  fileProgress: [], // the progress bar's values while the last file was classified, one per chunk
  eventRules: null, // hysteresis (events.js), from metadata.json and the URL
  tracker: null, // the EventTracker while the microphone runs
  events: [], // closed live events: {label, start, end} in seconds since the microphone started
  decisions: [], // every live window's decision {label, start, end} (the last 20000: ~2.7 h)
};
globalThis.yamnetDemo = state;

function clampInt(text, lo, hi, fallback) {
  const v = Number.parseInt(text ?? '', 10);
  return Number.isFinite(v) ? Math.max(lo, Math.min(hi, v)) : fallback;
}

function clampFloat(text, lo, hi, fallback) {
  const v = Number.parseFloat(text ?? '');
  return Number.isFinite(v) ? Math.max(lo, Math.min(hi, v)) : fallback;
}

// ---------------------------------------------------------------------------------------------
// Status and errors

/**
 * Show a status line. kind: 'info' | 'ok' | 'busy' | 'warn' | 'error'.
 * @param {string} text
 * @param {string} [kind]
 */
function setStatus(text, kind = 'info') {
  const el = $('status');
  el.textContent = text;
  el.dataset.kind = kind;
}

/** Turn anything thrown into a message a person can act on. */
function describeError(err) {
  if (err instanceof UserError || err instanceof CaptureError) return err.message;
  const name = err?.name ?? '';
  if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError') {
    return 'Microphone permission was denied. Allow microphone access for this site (the icon in the address bar), then press Start again.';
  }
  if (name === 'NotFoundError' || name === 'DevicesNotFoundError' || name === 'OverconstrainedError') {
    return 'No microphone was found. Connect one (or enable it in the system settings) and press Start again.';
  }
  if (name === 'NotReadableError' || name === 'TrackStartError') {
    return 'The microphone is in use by another application or blocked by the system. Close the other app and try again.';
  }
  return `Unexpected error: ${err?.message ?? err}`;
}

function showError(err) {
  console.error(err);
  setStatus(describeError(err), 'error');
}

// ---------------------------------------------------------------------------------------------
// Model

/** Fetch JSON with errors that say what was missing and how to fix it. */
async function fetchJson(url, what) {
  let response;
  try {
    response = await fetch(url);
  } catch {
    const hint =
      location.protocol === 'file:'
        ? ' Browsers block fetches from file:// pages: serve the folder, e.g. `yamnet-tfjs serve SITE_DIR`.'
        : ' Check the URL and that the server is running.';
    throw new UserError(`Model not found: could not fetch the ${what} at ${url}.${hint}`);
  }
  if (!response.ok) {
    throw new UserError(
      `Model not found: the ${what} at ${url} returned HTTP ${response.status}. Build the site with ` +
        '`yamnet-tfjs site exported/NAME OUT`, or point ?model= at a model.json.',
    );
  }
  try {
    return await response.json();
  } catch {
    throw new UserError(`The ${what} at ${url} is not valid JSON.`);
  }
}

/**
 * Fetch metadata, pick the backend, load the model (in the worker unless `?worker=0`, or on this
 * thread when the worker cannot start), warm up (compiles WebGL shaders once).
 */
async function loadModel() {
  const tf = state.tf;
  const t0 = performance.now();
  state.modelUrl = new URL(params.get('model') ?? 'model/model.json', location.href).href;
  let wanted = (params.get('backend') ?? 'webgl,wasm,cpu').split(',').map((s) => s.trim()).filter(Boolean);
  if (wanted[0] === 'webgl' && !params.has('backend') && softwareWebgl()) {
    // Software WebGL (SwiftShader, llvmpipe) is several times slower than wasm SIMD for this model.
    wanted = ['wasm', 'webgl', 'cpu'];
    state.softwareWebgl = true;
  }
  const wasmPath = new URL('vendor/', location.href).href;

  setStatus('Loading model…', 'busy');
  const metadataUrl = new URL('metadata.json', state.modelUrl).href;
  const metadata = await fetchJson(metadataUrl, 'metadata.json');
  await fetchJson(state.modelUrl, 'model.json'); // a clear 404 message before TF.js tries
  state.metadata = metadata;
  state.eventRules = eventRules(metadata.events, params);

  if (params.get('worker') !== '0') {
    try {
      state.classifier = await WorkerClassifier.start({vendorUrl: wasmPath, modelUrl: state.modelUrl, metadata, backends: wanted});
      state.backend = state.classifier.backend;
      state.inference = 'worker';
    } catch (err) {
      // Any failure here (no Worker, a blocked script, a backend that only starts on the page)
      // leaves the page working as before: inference on the main thread.
      console.warn('inference worker unavailable:', err);
      state.workerError = String(err?.message ?? err);
    }
  }
  if (!state.classifier) {
    if (!tf) throw new UserError('TF.js did not load (vendor/tf.min.js missing). Rebuild the site with `yamnet-tfjs site`.');
    setStatus('Starting TF.js…', 'busy');
    state.backend = await initBackend(tf, wanted, {wasmPath});
    state.classifier = await loadClassifier(tf, state.modelUrl, {metadata});
    state.inference = 'main thread';
  }
  $('backend').textContent = state.backend;
  $('inference-thread').textContent = state.inference;
  const notes = [];
  if (wanted[0] === 'webgl' && state.backend !== 'webgl') notes.push(`WebGL unavailable here; running on ${state.backend}.`);
  if (state.workerError) notes.push(`Inference runs on the page's main thread (the worker could not start: ${state.workerError}).`);
  $('backend-note').textContent = notes.join(' ');
  state.timings.loadMs = performance.now() - t0;

  const sr = metadata.sample_rate;
  const minSeconds = metadata.min_samples / sr;
  state.windowSeconds = clampFloat(params.get('window'), minSeconds, MAX_WINDOW_SECONDS, minSeconds);
  state.hopSeconds = clampFloat(params.get('hop'), 0.05, MAX_WINDOW_SECONDS, metadata.patch_hop_seconds);
  populateWindowChoices(minSeconds);

  const bins = melBins(metadata);
  const liveColumns = Math.round(LIVE_SPECTROGRAM_SECONDS / frameHopSeconds(metadata));
  state.liveSpectrogram = new Spectrogram($('spectrogram'), {columns: liveColumns, bins});
  state.fileSpectrogram = new Spectrogram($('file-spectrogram'), {columns: 500, bins});

  setStatus('Warming up…', 'busy');
  const t1 = performance.now();
  await state.classifier.run(new Float32Array(metadata.min_samples));
  state.timings.warmupMs = performance.now() - t1;

  $('model-info').textContent =
    `${metadata.labels.length} classes: ${metadata.labels.slice(0, 6).join(', ')}${metadata.labels.length > 6 ? ', …' : ''}`;
  $('load-time').textContent = `loaded in ${(state.timings.loadMs / 1000).toFixed(1)} s`;
  $('labelset-custom').textContent = `Custom classes (${metadata.labels.length})`;
  $('labelset-yamnet').textContent = `YAMNet (${metadata.yamnet_class_names.length})`;
}

/** True when WebGL is rendered in software (no GPU): then wasm is the faster backend. */
function softwareWebgl() {
  return isSoftwareRenderer(webglRenderer(document));
}

function populateWindowChoices(minSeconds) {
  const select = $('window-select');
  const choices = [...new Set([minSeconds, 1.5, 2, MAX_WINDOW_SECONDS, state.windowSeconds])].sort((a, b) => a - b);
  select.replaceChildren(
    ...choices.map((s) => {
      const o = document.createElement('option');
      o.value = String(s);
      o.textContent = `${s.toFixed(s < 1 ? 3 : 1)} s`;
      o.selected = s === state.windowSeconds;
      return o;
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Showing results

/** Mean over patches of a [patches, classes] score matrix. */
function meanRows({data, shape}) {
  const [rows, cols] = shape;
  const out = new Float32Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c] += data[r * cols + c];
  for (let c = 0; c < cols; c++) out[c] /= Math.max(1, rows);
  return out;
}

function labelsFor(set) {
  return set === 'custom' ? state.metadata.labels : state.metadata.yamnet_class_names;
}

/** Render `state.lastResult` for the selected label set (so toggling needs no new inference). */
function render() {
  const result = state.lastResult;
  if (!result) return;
  const scores = result[state.labelSet];
  const labels = labelsFor(state.labelSet);
  const [best] = topK(scores, 1);
  $('source').textContent = result.source;
  if (result.silent) {
    $('top-label').textContent = 'No signal';
    $('top-score').textContent = '—';
  } else if (result.unknown && state.labelSet === 'custom') {
    $('top-label').textContent = 'Unknown';
    $('top-score').textContent = `none of these classes (closest: ${labels[best]})`;
  } else {
    $('top-label').textContent = labels[best];
    $('top-score').textContent = `${(scores[best] * 100).toFixed(1)}%`;
  }
  $('now').classList.toggle('unknown', Boolean(result.unknown) && state.labelSet === 'custom');
  $('now').classList.toggle('silent', Boolean(result.silent));
  renderBars($('bars'), scores, labels, state.topK, {dim: result.silent});
  renderHistory($('history'), state.history, state.labelSet, labels);
  if (state.file) {
    const out = state.file.out;
    const patch = state.labelSet === 'custom' ? out.scores : out.yamnet_scores;
    renderTimeline($('timeline-strip'), $('timeline-list'), patch.data, labelsFor(state.labelSet),
      state.metadata.patch_hop_seconds, state.metadata.patch_window_seconds);
  }
}

/** The live events: the open one first ("now"), then the closed ones, newest first. */
function renderEvents() {
  const list = $('events');
  const labels = state.metadata?.labels ?? [];
  const open = state.tracker?.open;
  const rows = [...(open ? [{...open, open: true}] : []), ...[...state.events].reverse()].slice(0, 50);
  list.replaceChildren(
    ...rows.map((e) => {
      const li = document.createElement('li');
      li.textContent = `${labels[e.label]} ${clock(e.start)}–${e.open ? 'now' : clock(e.end)}`;
      if (e.open) li.className = 'open';
      return li;
    }),
  );
  $('events-empty').hidden = rows.length > 0;
}

function renderStats() {
  const {lastMs, meanMs, windows, skipped} = state.stats;
  $('latency').textContent = lastMs == null ? '—' : `${lastMs.toFixed(0)} ms`;
  $('latency-detail').textContent =
    windows === 0 ? '' : `per ${state.windowSeconds.toFixed(3)} s window · mean ${meanMs.toFixed(0)} ms · ${windows} run · ${skipped} skipped`;
}

// ---------------------------------------------------------------------------------------------
// Microphone

function rms(x) {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s / Math.max(1, x.length));
}

async function startMic() {
  if (state.mic) return;
  if (!state.classifier) throw new UserError('The model is not loaded yet.');
  setStatus('Waiting for microphone permission…', 'busy');
  const metadata = state.metadata;
  const mic = new LiveCapture({
    sampleRate: metadata.sample_rate,
    windowSeconds: state.windowSeconds,
    hopSeconds: state.hopSeconds,
    maxWindowSeconds: MAX_WINDOW_SECONDS,
    onWindow: (wave, info) => classifyWindow(mic, wave, info),
    onLevel: (level) => {
      const db = 20 * Math.log10(Math.max(level, 1e-6));
      $('level-fill').style.width = `${Math.max(0, Math.min(100, ((db + 70) / 70) * 100))}%`;
    },
    onEnded: () => {
      stopMic();
      setStatus('The microphone was disconnected.', 'warn');
    },
  });
  await mic.start();
  state.mic = mic;
  state.smoothed = {custom: null, yamnet: null};
  state.history = [];
  state.tracker = new EventTracker(state.eventRules);
  state.events = [];
  state.decisions = [];
  renderEvents();
  state.stats = {windows: 0, skipped: 0, lastMs: null, meanMs: null};
  state.liveSpectrogram.clear();
  $('start-mic').disabled = true;
  $('stop-mic').disabled = false;
  $('mic-rate').textContent = `${(mic.deviceRate / 1000).toFixed(1)} kHz → ${metadata.sample_rate / 1000} kHz`;
  setStatus('Listening…', 'ok');
}

function stopMic() {
  const mic = state.mic;
  if (!mic) return;
  state.mic = null;
  mic.stop();
  if (state.tracker) {
    state.events.push(...state.tracker.finish());
    renderEvents();
  }
  $('start-mic').disabled = false;
  $('stop-mic').disabled = true;
  $('level-fill').style.width = '0%';
  setStatus('Microphone stopped.', 'info');
}

/** One live window: classify it, update the spectrogram, the smoothed scores and the history. */
async function classifyWindow(mic, wave, info) {
  const metadata = state.metadata;
  try {
    // Judge silence on the newest audio actually received (the ring zero-fills before the start);
    // read before `run`, which hands the window's buffer to the worker.
    const recent = Math.min(wave.length, info.received, metadata.min_samples);
    const silent = rms(wave.subarray(wave.length - recent)) < state.eventRules.silence_rms;
    const windowSamples = wave.length;
    const t0 = performance.now();
    const out = await state.classifier.run(wave);
    const ms = performance.now() - t0;
    if (state.mic !== mic) return;
    const s = state.stats;
    s.windows += 1;
    s.skipped = mic.stats.skipped;
    s.lastMs = ms;
    s.meanMs = s.meanMs == null ? ms : s.meanMs + (ms - s.meanMs) / s.windows;

    const newFrames = Math.round(info.newSamples / (metadata.sample_rate * frameHopSeconds(metadata)));
    state.liveSpectrogram.append(out.log_mel.data, newFrames);

    // The window's decision, as `predict --events` decides each patch: silence, unknown or a class.
    const decision = silent ? SILENT : openSetDecision(out, metadata.open_set, true).label;
    const end = info.end / metadata.sample_rate;
    const start = end - windowSamples / metadata.sample_rate;
    const closed = state.tracker.push(decision, start, end);
    state.decisions.push({label: decision, start, end});
    if (state.decisions.length > 20000) state.decisions.shift();
    if (closed.length) state.events.push(...closed);
    const current = {custom: out.clip_scores.data, yamnet: meanRows(out.yamnet_scores)};
    if (!silent) {
      for (const set of ['custom', 'yamnet']) {
        const prev = state.smoothed[set];
        state.smoothed[set] = prev
          ? prev.map((p, i) => p + SMOOTHING * (current[set][i] - p))
          : Float32Array.from(current[set]);
      }
    }
    state.history.push({
      custom: topK(state.smoothed.custom ?? current.custom, 1)[0],
      yamnet: topK(state.smoothed.yamnet ?? current.yamnet, 1)[0],
      silent,
    });
    if (state.history.length > HISTORY_LENGTH) state.history.shift();
    state.lastResult = {
      source: 'Microphone · live',
      custom: state.smoothed.custom ?? current.custom,
      yamnet: state.smoothed.yamnet ?? current.yamnet,
      silent,
      unknown: decision === UNKNOWN,
    };
    render();
    renderEvents();
    renderStats();
    setStatus(silent ? 'Listening… no signal (input is silent)' : 'Listening…', silent ? 'warn' : 'ok');
  } catch (err) {
    stopMic();
    showError(err);
  }
}

// ---------------------------------------------------------------------------------------------
// Files

function setFileProgress(fraction) {
  const bar = $('file-progress');
  bar.hidden = fraction == null;
  if (fraction != null) {
    bar.value = fraction;
    state.fileProgress.push(fraction);
  }
}

/**
 * Classify the decoded channels chunk by chunk; the same outputs as one call over the whole mono
 * waveform (scores, yamnet_scores and log_mel rows stitched, clip_scores the mean of the patches'
 * scores), except that a long file's log_mel is averaged down for display and embeddings are not
 * kept (the page shows neither).
 */
async function classifyChunks(channels, length, onProgress) {
  const metadata = state.metadata;
  const spans = chunkSpans(length, metadata, FILE_CHUNK_PATCHES);
  if (spans.length === 1) {
    const out = await state.classifier.run(monoSlice(channels, 0, length));
    onProgress(1);
    return out;
  }
  const patches = numPatches(length, metadata);
  const bins = melBins(metadata);
  const patchHopFrames = Math.round(metadata.patch_hop_seconds / frameHopSeconds(metadata));
  const expectedFrames = Math.ceil(length / (metadata.sample_rate * frameHopSeconds(metadata)));
  const spectrogram = new SpectrogramReducer(expectedFrames, bins, FILE_SPECTROGRAM_COLUMNS);
  const rows = {};
  let framesDone = 0;
  for (const [i, {start, end, first}] of spans.entries()) {
    const out = await state.classifier.run(monoSlice(channels, start, end));
    for (const name of ['scores', 'yamnet_scores']) {
      const {data, shape} = out[name];
      rows[name] ??= {data: new Float32Array(patches * shape[1]), shape: [patches, shape[1]]};
      rows[name].data.set(data, first * shape[1]);
    }
    const skip = framesDone - first * patchHopFrames; // log_mel rows the previous chunk already gave
    const fresh = out.log_mel.data.subarray(skip * bins);
    spectrogram.push(fresh);
    framesDone += fresh.length / bins;
    onProgress((i + 1) / spans.length);
  }
  const [, classes] = rows.scores.shape;
  const clip = new Float64Array(classes);
  for (let r = 0; r < patches; r++) for (let c = 0; c < classes; c++) clip[c] += rows.scores.data[r * classes + c];
  return {
    scores: rows.scores,
    clip_scores: {data: Float32Array.from(clip, (v) => v / patches), shape: [classes]},
    yamnet_scores: rows.yamnet_scores,
    log_mel: spectrogram.result(),
  };
}

/** Decode any browser-supported audio file to mono at the model's rate, then classify it. */
async function classifyFile(file) {
  if (!state.classifier) throw new UserError('The model is not loaded yet.');
  // One source at a time: the live view would overwrite the file's result within a hop.
  stopMic();
  const sr = state.metadata.sample_rate;
  setStatus(`Decoding ${file.name}…`, 'busy');
  state.fileProgress = [];
  setFileProgress(0);
  let channels;
  let length;
  try {
    let bytes = await file.arrayBuffer();
    let buffer;
    try {
      // An OfflineAudioContext decodes straight to its own rate (here the model's 16 kHz). It decodes
      // the whole file (every channel) into memory at once: the browser offers no streaming decoder
      // for arbitrary files. `bytes` is handed over (detached) by the call.
      buffer = await new OfflineAudioContext(1, 1, sr).decodeAudioData(bytes);
    } catch {
      throw new UserError(`${file.name}: this browser cannot decode it as audio. Try WAV, FLAC, MP3 or OGG.`);
    }
    bytes = null;
    channels = Array.from({length: buffer.numberOfChannels}, (_, c) => buffer.getChannelData(c));
    length = buffer.length;
    buffer = null;
    if (length === 0) throw new UserError(`${file.name}: contains no audio samples.`);
  } catch (err) {
    setFileProgress(null);
    throw err;
  }
  setStatus(`Classifying ${file.name}…`, 'busy');
  const t0 = performance.now();
  let out;
  try {
    out = await classifyChunks(channels, length, (fraction) => {
      setFileProgress(fraction);
      setStatus(`Classifying ${file.name}… ${Math.round(fraction * 100)} %`, 'busy');
    });
  } finally {
    channels = null; // the decoded file can go as soon as its last chunk is classified
    setFileProgress(null);
  }
  const ms = performance.now() - t0;
  const duration = length / sr;
  state.file = {name: file.name, duration, chunks: state.fileProgress.length - 1, out};
  state.lastResult = {
    source: `File · ${file.name}`,
    custom: out.clip_scores.data,
    yamnet: meanRows(out.yamnet_scores),
    silent: false,
  };
  $('file-result').hidden = false;
  $('file-name').textContent = file.name;
  $('file-meta').textContent = `${duration.toFixed(2)} s · ${out.scores.shape[0]} patches · ${ms.toFixed(0)} ms on ${state.backend}`;
  state.fileSpectrogram.showAll(out.log_mel.data);
  render();
  setStatus(`Classified ${file.name}.`, 'ok');
}

// ---------------------------------------------------------------------------------------------
// Wiring

function setLabelSet(set) {
  state.labelSet = set;
  for (const id of ['custom', 'yamnet']) {
    const b = $(`labelset-${id}`);
    b.setAttribute('aria-pressed', String(id === set));
  }
  render();
}

function wire() {
  // The microphone starts only from a click (Safari requires a user gesture for audio).
  $('start-mic').addEventListener('click', () => startMic().catch((err) => {
    stopMic();
    showError(err);
  }));
  $('stop-mic').addEventListener('click', () => stopMic());
  $('labelset-custom').addEventListener('click', () => setLabelSet('custom'));
  $('labelset-yamnet').addEventListener('click', () => setLabelSet('yamnet'));
  $('window-select').addEventListener('change', (e) => {
    state.windowSeconds = Number(e.target.value);
    if (state.mic) state.mic.windowSeconds = state.windowSeconds;
    renderStats();
  });
  const input = $('file-input');
  const run = (file) => file && classifyFile(file).catch(showError);
  input.addEventListener('change', () => run(input.files[0]));
  const drop = $('drop-zone');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    run(e.dataTransfer.files[0]);
  });
}

async function main() {
  wire();
  try {
    await loadModel();
  } catch (err) {
    showError(err);
    return;
  }
  $('start-mic').disabled = false;
  $('file-input').disabled = false;
  document.body.dataset.ready = 'true';
  setStatus('Ready. Press “Start microphone” or drop an audio file.', 'ok');
}

main();
