// Runs a model over a manifest's rows (one split, or all) in manifest order: the positive
// probability, the full softmax rows and, on request, the input pixels (for overlays).
import { BatchLoader, type LoaderBatch } from '../data/batchLoader.js';
import type { Manifest } from '../data/manifest.js';
import type { CheckpointMeta } from '../engine/checkpoint.js';
import type { Model } from '../engine/model.js';
import type { Precision } from '../engine/types.js';

export interface PredictedSet {
  /** Manifest row indices, in the order predicted. */
  rows: number[];
  labels: Int32Array;
  /** [N, C] row-major softmax. */
  probs: Float32Array;
  numClasses: number;
}

export interface PredictSetOptions {
  split?: string | string[];
  batch?: number;
  precision?: Precision;
  onBatch?: (done: number, total: number) => void;
}

export function loaderFor(manifest: Manifest, meta: CheckpointMeta, split: string | string[] | undefined, batch = 16): BatchLoader {
  return new BatchLoader(manifest, split, { size: meta.inputSize, batch, shuffle: false, classes: meta.classes, channels: meta.channels, cache: false });
}

export async function predictSet(model: Model, meta: CheckpointMeta, manifest: Manifest, o: PredictSetOptions = {}): Promise<PredictedSet> {
  const loader = loaderFor(manifest, meta, o.split, o.batch ?? 16);
  const C = meta.classes.length;
  const n = loader.length;
  const probs = new Float32Array(n * C);
  const labels = new Int32Array(n);
  const rows: number[] = [];
  let done = 0;
  for await (const b of loader.epoch(0)) {
    const r = await model.predict(b, { precision: o.precision ?? 'fp32' });
    probs.set(r.probs, done * C);
    labels.set(b.labels, done);
    rows.push(...b.rows);
    done += b.shape[0];
    o.onBatch?.(done, n);
  }
  return { rows, labels, probs, numClasses: C };
}

/** Batches of the given manifest rows (in that order), as the model sees them. */
export async function* batchesOfRows(manifest: Manifest, meta: CheckpointMeta, rowIdx: number[], batch = 8): AsyncGenerator<LoaderBatch> {
  const sub: Manifest = { ...manifest, rows: rowIdx.map((i) => ({ ...manifest.rows[i]!, split: '__sel__' })) };
  const loader = loaderFor(sub, meta, '__sel__', batch);
  for await (const b of loader.epoch(0)) yield { ...b, rows: b.rows.map((k) => rowIdx[k]!) };
}
