/**
 * DOM rendering for the demo page: top-k bars, the "now hearing" headline, the per-patch timeline
 * and status lines. No model or audio logic here; app.js decides what to show.
 *
 * @module view
 */

/** Shorthand for `document.querySelector('[data-testid=...]')`. */
export const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);

/**
 * Indices of the `k` largest values, best first.
 * @param {ArrayLike<number>} scores
 * @param {number} k
 * @returns {number[]}
 */
export function topK(scores, k) {
  const idx = Array.from(scores, (_, i) => i);
  idx.sort((a, b) => scores[b] - scores[a] || a - b);
  return idx.slice(0, k);
}

/** A stable, pleasant colour per class index (golden-angle hues). */
export function classColour(index, lightness = 62) {
  return `hsl(${(index * 137.508) % 360} 70% ${lightness}%)`;
}

/**
 * Render top-k rows (label, bar, percentage) into `container`, reusing rows to avoid layout churn.
 * @param {HTMLElement} container
 * @param {ArrayLike<number>} scores
 * @param {string[]} labels
 * @param {number} k
 * @param {{dim?: boolean}} [opts] dim: greyed out (e.g. no signal)
 */
export function renderBars(container, scores, labels, k, {dim = false} = {}) {
  const top = topK(scores, k);
  while (container.children.length < top.length) {
    const row = document.createElement('div');
    row.className = 'bar-row';
    row.innerHTML = '<span class="bar-label"></span><span class="bar-track"><span class="bar-fill"></span></span><span class="bar-value"></span>';
    container.append(row);
  }
  while (container.children.length > top.length) container.lastChild.remove();
  container.classList.toggle('dim', dim);
  top.forEach((i, rank) => {
    const row = container.children[rank];
    const score = scores[i];
    row.dataset.index = String(i);
    row.querySelector('.bar-label').textContent = labels[i] ?? `class ${i}`;
    const fill = row.querySelector('.bar-fill');
    fill.style.width = `${Math.max(0, Math.min(1, score)) * 100}%`;
    fill.style.background = classColour(i);
    row.querySelector('.bar-value').textContent = `${(score * 100).toFixed(1)}%`;
  });
}

/**
 * Group consecutive patches with the same top class into segments.
 * @param {Float32Array} patchScores [patches, classes] row-major
 * @param {number} classes
 * @returns {{index: number, first: number, last: number, score: number}[]} score: mean of the top score
 */
export function segments(patchScores, classes) {
  const n = patchScores.length / classes;
  const out = [];
  for (let p = 0; p < n; p++) {
    const row = patchScores.subarray(p * classes, (p + 1) * classes);
    const [best] = topK(row, 1);
    const prev = out[out.length - 1];
    if (prev && prev.index === best) {
      prev.score = (prev.score * (p - prev.first) + row[best]) / (p - prev.first + 1);
      prev.last = p;
    } else {
      out.push({index: best, first: p, last: p, score: row[best]});
    }
  }
  return out;
}

/**
 * Render the file timeline: a strip of coloured segments (one per run of equal per-patch top
 * classes) and a list with start/end times.
 * @param {HTMLElement} strip
 * @param {HTMLElement} list
 * @param {Float32Array} patchScores [patches, classes]
 * @param {string[]} labels
 * @param {number} hopSeconds patch hop (0.48 s)
 * @param {number} windowSeconds patch length (0.96 s)
 */
export function renderTimeline(strip, list, patchScores, labels, hopSeconds, windowSeconds) {
  const segs = segments(patchScores, labels.length);
  const patches = patchScores.length / labels.length;
  strip.replaceChildren();
  list.replaceChildren();
  for (const s of segs) {
    const start = s.first * hopSeconds;
    const end = s.last * hopSeconds + windowSeconds;
    const label = labels[s.index] ?? `class ${s.index}`;
    const block = document.createElement('span');
    block.className = 'seg';
    block.style.flexGrow = String(s.last - s.first + 1);
    block.style.background = classColour(s.index);
    block.title = `${start.toFixed(2)}–${end.toFixed(2)} s: ${label} (${(s.score * 100).toFixed(0)}%)`;
    block.textContent = s.last - s.first + 1 >= Math.max(2, patches / 12) ? label : '';
    strip.append(block);
    const li = document.createElement('li');
    li.innerHTML = '<span class="t"></span><span class="dot"></span><span class="l"></span><span class="s"></span>';
    li.querySelector('.t').textContent = `${start.toFixed(2)}–${end.toFixed(2)} s`;
    li.querySelector('.dot').style.background = classColour(s.index);
    li.querySelector('.l').textContent = label;
    li.querySelector('.s').textContent = `${(s.score * 100).toFixed(0)}%`;
    list.append(li);
  }
}

/**
 * Render the "recently heard" strip: one small block per live window, oldest left.
 * @param {HTMLElement} strip
 * @param {{custom: number, yamnet: number, silent: boolean}[]} history
 * @param {'custom'|'yamnet'} set which label set's top class to colour by
 * @param {string[]} labels names for `set`
 */
export function renderHistory(strip, history, set, labels) {
  strip.replaceChildren(
    ...history.map((h) => {
      const block = document.createElement('span');
      block.className = h.silent ? 'tick silent' : 'tick';
      if (!h.silent) block.style.background = classColour(h[set]);
      block.title = h.silent ? 'no signal' : labels[h[set]];
      return block;
    }),
  );
}
