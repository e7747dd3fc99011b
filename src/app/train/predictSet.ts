// Runs a model over a manifest's rows (one split, or all) in manifest order: the positive
// probability, the full softmax rows and, on request, the input pixels (for overlays).
// A calibrated checkpoint's probabilities are mapped through its calibration here.
import { BatchLoader, type LoaderBatch } from '../../data/batchLoader.js';
import type { Manifest } from '../../data/manifest.js';
import type { CheckpointMeta } from '../../engine/checkpoint.js';
import { loaderOptions } from '../../engine/preprocessing.js';
import type { InferenceModel } from '../../engine/types.js';
import type { Precision } from '../../engine/types.js';
import type { ProcessGroup } from '../../engine/distributed.js';
import { applyCalibration, calibrationOf } from '../../recipe/calibrationMap.js';

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
  /** Data parallel: each rank predicts every world-th row; the result (manifest order) is on every rank. */
  group?: ProcessGroup;
}

/** What predicting needs of a model's record: its classes and its preprocessing. */
type PredictMeta = Pick<CheckpointMeta, 'classes' | 'positiveClass' | 'preprocessing' | 'calibration'>;

export function loaderFor(
  manifest: Manifest,
  meta: PredictMeta,
  split: string | string[] | undefined,
  batch = 16,
  group?: ProcessGroup,
): BatchLoader {
  return new BatchLoader(manifest, split, {
    ...loaderOptions(meta.preprocessing),
    batch,
    shuffle: false,
    classes: meta.classes,
    cache: false,
    ...(group ? { shard: { rank: group.rank, world: group.worldSize, pad: false } } : {}),
  });
}

export async function predictSet(
  model: InferenceModel,
  meta: PredictMeta,
  manifest: Manifest,
  o: PredictSetOptions = {},
): Promise<PredictedSet> {
  const loader = loaderFor(manifest, meta, o.split, o.batch ?? 16, o.group);
  const C = meta.classes.length;
  const n = loader.length;
  const probs = new Float32Array(n * C);
  const labels = new Int32Array(n);
  const rows: number[] = [];
  const cal = calibrationOf(meta);
  let done = 0;
  for await (const b of loader.epoch(0)) {
    const r = await model.predict(b, { precision: o.precision ?? 'fp32' });
    probs.set(applyCalibration(r.probs, C, meta.positiveClass, cal), done * C);
    labels.set(b.labels, done);
    rows.push(...b.rows);
    done += b.shape[0];
    o.onBatch?.(done, n);
  }
  return o.group ? gatherSet(o.group, { rows, labels, probs, numClasses: C }) : { rows, labels, probs, numClasses: C };
}

/** Every rank's rows on every rank, back in manifest order (the row index rides as a last column). */
async function gatherSet(g: ProcessGroup, p: PredictedSet): Promise<PredictedSet> {
  const C = p.numClasses;
  const W = C + 1;
  const local = new Float64Array(p.rows.length * W);
  p.rows.forEach((row, i) => {
    for (let k = 0; k < C; k++) local[i * W + k] = p.probs[i * C + k]!;
    local[i * W + C] = row;
  });
  const all = await g.gather(local, p.labels);
  const n = all.labels.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => all.probs[a * W + C]! - all.probs[b * W + C]!);
  const probs = new Float32Array(n * C);
  const labels = new Int32Array(n);
  const rows = order.map((i, j) => {
    for (let k = 0; k < C; k++) probs[j * C + k] = all.probs[i * W + k]!;
    labels[j] = all.labels[i]!;
    return all.probs[i * W + C]!;
  });
  return { rows, labels, probs, numClasses: C };
}

/** Batches of the given manifest rows (in that order), as the model sees them. */
export async function* batchesOfRows(
  manifest: Manifest,
  meta: PredictMeta,
  rowIdx: number[],
  batch = 8,
): AsyncGenerator<LoaderBatch> {
  const sub: Manifest = { ...manifest, rows: rowIdx.map((i) => ({ ...manifest.rows[i]!, split: '__sel__' })) };
  const loader = loaderFor(sub, meta, '__sel__', batch);
  for await (const b of loader.epoch(0)) yield { ...b, rows: b.rows.map((k) => rowIdx[k]!) };
}
