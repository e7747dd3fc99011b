// Fitting a model's refusal statistics (ood.json): the pooled features of its Grad-CAM layer on
// the images it was developed on (training and validation splits; no augmentation, the model's own
// preprocessing, the lung box from the manifest's masks), a Ledoit-Wolf Gaussian over them, and
// the distance limit, split-conformal at α = FEATURE_ALPHA over cross-fitted distances: the images
// fall in K folds by patient, each fold's distances come from the Gaussian fitted on the other
// folds, and the limit is the ⌈(n+1)(1−α)⌉-th smallest of them. Training writes it for every new
// run; `cxrtune ood fit RUN` writes it for a run trained before.
//
// Why cross-fitted, not "fit on training, limit on validation": with fewer images than feature
// dimensions, images inside the fit sit far closer to the mean than any new film (measured: median
// 30 against 44 for validation films), and a validation split held out by source may lack a
// source the model trains on. Measured on the real-data MobileNetV2: with the limit from its
// validation split (covid-chestxray locations and Shenzhen), 8.7 % of held-out NIH films were
// refused; cross-fitted out-of-fold distances match held-out films of the same source (NIH: median
// 61.5 out of fold, 55.8 held out), so the limit covers every source the model has seen.
import { existsSync } from 'node:fs';
import { loadCheckpoint, type CheckpointMeta } from '../../engine/checkpoint.js';
import { writeOodRecord } from './oodFile.js';
import type { InferenceModel } from '../../engine/types.js';
import { readManifest, type Manifest } from '../../data/manifest.js';
import { fitShrunkGaussian, mahalanobisDistance } from '../../recipe/mahalanobis.js';
import { linearQuantile } from '../../recipe/quantile.js';
import { hashSeed } from '../../util/rng.js';
import {
  conformalLimit,
  FEATURE_ALPHA,
  LUNG_FIELD_LIMITS,
  OOD_FORMAT,
  type OodRecord,
} from '../../recipe/frontalCheck.js';
import { loaderFor } from '../train/predictSet.js';
import { sha256File } from '../train/dataSource.js';
import { recordedTrainConfig } from '../train/trainConfig.js';

export interface FitOodOptions {
  /** The manifest (default: the one the model was trained on, model.json training.config). */
  manifest?: string;
  trainSplit?: string;
  validSplit?: string;
  batch?: number;
  /** Directions of the Gaussian kept exactly (the rest share one variance). */
  components?: number;
  alpha?: number;
  /** Folds of the cross-fitted limit (default 5). */
  folds?: number;
  onProgress?: (split: string, done: number, total: number) => void;
}

/** Default directions kept: a browser reads k×D numbers (256 × 1280: 4.5 MB of JSON for MobileNetV2). */
export const OOD_COMPONENTS = 256;

/** The pooled features of one split's images, row-major [n, D]. */
export async function splitFeatures(
  model: InferenceModel,
  meta: CheckpointMeta,
  manifest: Manifest,
  split: string,
  o: { batch?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<{ features: Float32Array; n: number; dim: number; layer: string; rows: number[] }> {
  const loader = loaderFor(manifest, meta, split, o.batch ?? 16);
  const n = loader.length;
  let out: Float32Array | null = null;
  let dim = 0;
  let layer = model.camLayer;
  let done = 0;
  const rows: number[] = [];
  for await (const b of loader.epoch(0)) {
    rows.push(...b.rows);
    const f = await model.features(b);
    dim = f.shape[1];
    layer = f.layer;
    out ??= new Float32Array(n * dim);
    out.set(f.features, done * dim);
    done += b.shape[0];
    o.onProgress?.(done, n);
  }
  return { features: out ?? new Float32Array(0), n: done, dim, layer, rows };
}

export async function fitOod(model: InferenceModel, meta: CheckpointMeta, o: FitOodOptions = {}): Promise<OodRecord> {
  if (!meta.weightsSha256)
    throw new Error(
      'this checkpoint names no weightsSha256 (written before cxrtune recorded it): retrain or re-save it',
    );
  const cfg = recordedTrainConfig(meta);
  const manifestFile = o.manifest ?? cfg.manifest;
  if (!manifestFile)
    throw new Error('model.json does not name the manifest the model was trained on: give it with --manifest');
  if (!existsSync(manifestFile)) throw new Error(`manifest ${manifestFile} does not exist (give one with --manifest)`);
  const manifest = readManifest(manifestFile);
  const trainSplit = o.trainSplit ?? cfg.trainSplit ?? 'train';
  const validSplit = o.validSplit ?? cfg.validSplit ?? 'valid';
  if (!manifest.rows.some((r) => r.split === trainSplit))
    throw new Error(
      `${manifestFile} has no '${trainSplit}' rows: the refusal's statistics come from its training images`,
    );
  const hasValid = manifest.rows.some((r) => r.split === validSplit);
  const alpha = o.alpha ?? FEATURE_ALPHA;
  const progress = (s: string) => (d: number, t: number) => o.onProgress?.(s, d, t);
  const train = await splitFeatures(model, meta, manifest, trainSplit, {
    ...(o.batch ? { batch: o.batch } : {}),
    onProgress: progress(trainSplit),
  });
  const valid = hasValid
    ? await splitFeatures(model, meta, manifest, validSplit, {
        ...(o.batch ? { batch: o.batch } : {}),
        onProgress: progress(validSplit),
      })
    : { features: new Float32Array(0), n: 0, dim: train.dim, layer: train.layer, rows: [] };
  const n = train.n + valid.n;
  const D = train.dim;
  const all = new Float32Array(n * D);
  all.set(train.features, 0);
  all.set(valid.features, train.n * D);
  const k = o.components ?? OOD_COMPONENTS;
  const K = o.folds ?? 5;
  // Folds by patient: two films of one patient never sit on both sides of a fold.
  const fold = [...train.rows, ...valid.rows].map((r) => hashSeed('ood-fold', manifest.rows[r]!.patientId) % K);
  const distances: number[] = [];
  for (let f = 0; f < K; f++) {
    const inFit = fold.flatMap((x, i) => (x === f ? [] : [i]));
    const out = fold.flatMap((x, i) => (x === f ? [i] : []));
    if (!out.length || inFit.length < 2) continue;
    const g = fitShrunkGaussian(pick(all, inFit, D), inFit.length, D, k);
    for (const i of out) distances.push(mahalanobisDistance(g, all.subarray(i * D, (i + 1) * D)));
  }
  const g = fitShrunkGaussian(all, n, D, k);
  const lim = conformalLimit(distances, alpha);
  const sha = sha256File(manifestFile);
  return {
    format: OOD_FORMAT,
    created: new Date().toISOString(),
    weightsSha256: meta.weightsSha256,
    arch: meta.arch,
    lungFields: { ...LUNG_FIELD_LIMITS },
    features: {
      ...g,
      layer: train.layer,
      limit: lim.limit,
      alpha,
      fittedOn: {
        manifest: manifestFile,
        sha256: sha,
        splits: hasValid ? [trainSplit, validSplit] : [trainSplit],
        images: n,
      },
      limitSetOn: {
        method: 'cross-fitted',
        folds: K,
        images: distances.length,
        rank: lim.rank,
        guaranteed: lim.guaranteed,
        median: linearQuantile(distances, 0.5),
        max: Math.max(...distances),
      },
    },
  };
}

/** The rows `idx` of a row-major [*, D] array. */
function pick(x: Float32Array, idx: number[], D: number): Float32Array {
  const out = new Float32Array(idx.length * D);
  for (const [i, r] of idx.entries()) out.set(x.subarray(r * D, (r + 1) * D), i * D);
  return out;
}

/** Fits and writes ood.json for a checkpoint folder (what training does at its end). */
export async function fitOodForCheckpoint(
  dir: string,
  o: FitOodOptions = {},
): Promise<{ file: string; record: OodRecord }> {
  const { model, meta } = await loadCheckpoint(dir);
  const record = await fitOod(model, meta, o);
  return { file: await writeOodRecord(dir, record), record };
}
