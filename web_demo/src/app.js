/**
 * The demo page: load the exported graph model, classify the microphone live and dropped files.
 *
 * Data flow (microphone): LiveCapture (live.js: worklet, resampler, ring buffer, hop scheduler)
 * hands over the last window every hop -> Classifier.run (model.js) -> bars, "now hearing",
 * spectrogram from the model's own log_mel.
 *
 * Every model constant (sample rate, patch window/hop, minimum length, labels) comes from the
 * model's metadata.json, never from a copy here.
 *
 * URL parameters: `model` (URL of model.json; default `model/model.json` beside this page),
 * `backend` (comma list, default `webgl,wasm,cpu`), `window` (seconds, default the model's minimum
 * 0.975 s, at most 3), `hop` (seconds, default the patch hop 0.48), `k` (bars shown, default 5),
 * `on` / `off` / `cooldown` (event hysteresis in windows, default metadata.json's `events`).
 *
 * Each live window is decided as `predict` decides it (a class, "unknown" by the open-set rule with
 * the window threshold, or silence), and events.js turns the decisions into the events list.
 */
import {EventTracker, SILENT, clock, eventRules} from './events.js';
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
import {mixToMono} from './resample.js';
import {Spectrogram} from './spectrogram.js';
import {byTestId, renderBars, renderHistory, renderTimeline, topK} from './view.js';

/** Longest window the page classifies (seconds); also sizes the ring buffer. */
const MAX_WINDOW_SECONDS = 3;
/** Live results kept in the "recently heard" strip. */
const HISTORY_LENGTH = 40;
/** Weight of the newest window in the smoothed "now hearing" scores (exponential moving average). */
const SMOOTHING = 0.5;
/** Seconds of log-mel the live spectrogram shows. */
const LIVE_SPECTROGRAM_SECONDS = 4;

/** An error whose message is meant for the person in front of the page. */
class UserError extends Error {}

const params = new URLSearchParams(location.search);
const $ = (id) => byTestId(id);

/** Page state. Exposed as `window.yamnetDemo` for debugging and the browser tests. */
const state = {
  tf: globalThis.tf,
  backend: null,
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
  file: null, // {name, duration, out}
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

/** Pick the backend, fetch metadata + model, warm up (compiles WebGL shaders once). */
async function loadModel() {
  const tf = state.tf;
  if (!tf) throw new UserError('TF.js did not load (vendor/tf.min.js missing). Rebuild the site with `yamnet-tfjs site`.');
  const t0 = performance.now();
  state.modelUrl = new URL(params.get('model') ?? 'model/model.json', location.href).href;
  const wanted = (params.get('backend') ?? 'webgl,wasm,cpu').split(',').map((s) => s.trim()).filter(Boolean);
  setStatus('Starting TF.js…', 'busy');
  const wasmPath = new URL('vendor/', location.href).href;
  state.backend = await initBackend(tf, wanted, {wasmPath});
  if (state.backend === 'webgl' && !params.has('backend') && softwareWebgl()) {
    // Software WebGL (SwiftShader, llvmpipe) is several times slower than wasm SIMD for this model.
    state.backend = await initBackend(tf, ['wasm', 'webgl', 'cpu'], {wasmPath});
    state.softwareWebgl = true;
  }
  $('backend').textContent = state.backend;
  if (wanted[0] === 'webgl' && state.backend !== 'webgl' && !state.softwareWebgl) {
    $('backend-note').textContent = `WebGL unavailable here; running on ${state.backend}.`;
  }

  setStatus('Loading model…', 'busy');
  const metadataUrl = new URL('metadata.json', state.modelUrl).href;
  const metadata = await fetchJson(metadataUrl, 'metadata.json');
  await fetchJson(state.modelUrl, 'model.json'); // a clear 404 message before TF.js tries
  state.metadata = metadata;
  state.eventRules = eventRules(metadata.events, params);
  state.classifier = await loadClassifier(tf, state.modelUrl, {metadata});
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

    // Judge silence on the newest audio actually received (the ring zero-fills before the start).
    const recent = Math.min(wave.length, info.received, metadata.min_samples);
    const silent = rms(wave.subarray(wave.length - recent)) < state.eventRules.silence_rms;
    // The window's decision, as `predict --events` decides each patch: silence, unknown or a class.
    const decision = silent ? SILENT : openSetDecision(out, metadata.open_set, true).label;
    const end = info.end / metadata.sample_rate;
    const start = end - wave.length / metadata.sample_rate;
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

/** Decode any browser-supported audio file to mono at the model's rate, then classify it. */
async function classifyFile(file) {
  if (!state.classifier) throw new UserError('The model is not loaded yet.');
  // One source at a time: the live view would overwrite the file's result within a hop.
  stopMic();
  const sr = state.metadata.sample_rate;
  setStatus(`Decoding ${file.name}…`, 'busy');
  const bytes = await file.arrayBuffer();
  let buffer;
  try {
    // An OfflineAudioContext decodes straight to its own rate (here the model's 16 kHz).
    buffer = await new OfflineAudioContext(1, 1, sr).decodeAudioData(bytes);
  } catch {
    throw new UserError(`${file.name}: this browser cannot decode it as audio. Try WAV, FLAC, MP3 or OGG.`);
  }
  const channels = Array.from({length: buffer.numberOfChannels}, (_, c) => buffer.getChannelData(c));
  const wave = mixToMono(channels);
  for (let i = 0; i < wave.length; i++) wave[i] = Math.max(-1, Math.min(1, wave[i]));
  if (wave.length === 0) throw new UserError(`${file.name}: contains no audio samples.`);
  setStatus(`Classifying ${file.name}…`, 'busy');
  const t0 = performance.now();
  const out = await state.classifier.run(wave);
  const ms = performance.now() - t0;
  const duration = wave.length / sr;
  state.file = {name: file.name, duration, out};
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
