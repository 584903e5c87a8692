/**
 * Long files in chunks of whole patches (the page's side of pipeline/chunks.py).
 *
 * Patch p of a waveform reads samples [p * hop, p * hop + min_samples) and nothing else, so a chunk
 * that starts on a patch hop and ends where its last patch ends frames its patches exactly as the
 * whole waveform would: the stitched chunks equal one call over the whole file.
 *
 * @module file-chunks
 */

/** Patches the graph gives for `n` samples (pipeline.constants.num_patches). */
export function numPatches(n, metadata) {
  const hop = Math.round(metadata.patch_hop_seconds * metadata.sample_rate);
  return n <= metadata.min_samples ? 1 : 1 + Math.ceil((n - metadata.min_samples) / hop);
}

/**
 * `{start, end, first}` sample ranges whose patches together are the patches of `n` samples
 * (pipeline.chunks.chunk_spans): each chunk starts on a patch hop and ends where its last patch
 * ends, so a chunk frames its patches exactly as the whole waveform would.
 */
export function chunkSpans(n, metadata, maxPatches) {
  const hop = Math.round(metadata.patch_hop_seconds * metadata.sample_rate);
  const total = numPatches(n, metadata);
  const spans = [];
  for (let first = 0; first < total; first += maxPatches) {
    const count = Math.min(maxPatches, total - first);
    const start = first * hop;
    spans.push({start, end: Math.min(n, start + metadata.min_samples + (count - 1) * hop), first});
  }
  return spans;
}

/** Samples [start, end) of the decoded channels, mixed to mono and clipped (as mixToMono + clamp). */
export function monoSlice(channels, start, end) {
  const out = channels[0].slice(start, end);
  if (channels.length > 1) {
    for (let c = 1; c < channels.length; c++) {
      const ch = channels[c];
      for (let i = 0; i < out.length; i++) out[i] += ch[start + i];
    }
    for (let i = 0; i < out.length; i++) out[i] /= channels.length;
  }
  for (let i = 0; i < out.length; i++) out[i] = Math.max(-1, Math.min(1, out[i]));
  return out;
}

/**
 * Averages log_mel rows into at most `maxColumns` columns as chunks arrive, so a long file's
 * spectrogram never holds every frame (an hour is 360,000 rows). `expectedFrames` sizes it.
 */
export class SpectrogramReducer {
  constructor(expectedFrames, bins, maxColumns) {
    this.bins = bins;
    this.framesPerColumn = Math.max(1, Math.ceil(expectedFrames / maxColumns));
    this.sums = new Float32Array((Math.ceil(expectedFrames / this.framesPerColumn) + 2) * bins);
    this.counts = new Float32Array(this.sums.length / bins);
    this.frames = 0;
  }

  push(rows) {
    const n = rows.length / this.bins;
    for (let f = 0; f < n; f++, this.frames++) {
      const col = Math.min(this.counts.length - 1, Math.floor(this.frames / this.framesPerColumn));
      this.counts[col] += 1;
      for (let b = 0; b < this.bins; b++) this.sums[col * this.bins + b] += rows[f * this.bins + b];
    }
  }

  result() {
    const columns = Math.ceil(this.frames / this.framesPerColumn);
    const data = this.sums.slice(0, columns * this.bins);
    for (let c = 0; c < columns; c++) for (let b = 0; b < this.bins; b++) data[c * this.bins + b] /= Math.max(1, this.counts[c]);
    return {data, shape: [columns, this.bins], framesPerColumn: this.framesPerColumn};
  }
}
