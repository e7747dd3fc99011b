// Training and validation data for a run: BatchLoaders over the manifest's splits, wrapped
// as the trainer's EpochSource. Epoch e's order (and online augmentation) is drawn from
// (seed, 'train', e) only, so an epoch replayed after a resume sees the same batches.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BatchLoader } from '../../data/batchLoader.js';
import { parseAug } from '../../data/augmentMode.js';
import {
  IMAGE_DEFAULTS,
  loaderOptions,
  type Crop,
  type Equalize,
  type Fit,
  type Standardize,
} from '../../engine/preprocessing.js';
import { ImageCache } from '../../data/imageCache.js';
import { defaultClasses, readManifest, type Manifest } from '../../data/manifest.js';
import { hashSeed } from '../../util/rng.js';
import type { Shard } from '../../data/distributedSampler.js';
import type { EpochSource } from '../../recipe/trainer.js';

export interface RunData {
  classes: string[];
  positiveClass: number;
  train: EpochSource & { classCounts: number[] };
  valid: EpochSource | null;
  manifestSha256: string;
}

export interface RunDataOptions {
  manifest: string;
  size: number;
  fit?: Fit;
  equalize?: Equalize;
  crop?: Crop;
  cropMargin?: number;
  standardize?: Standardize;
  batch: number;
  seed: number;
  /** 'none' | 'online' | 'robust' | 'online+robust' | path of an offline-augmented manifest (training rows). */
  aug?: string;
  balanced?: boolean;
  classes?: string[] | null;
  positive?: string | null;
  trainSplit?: string;
  validSplit?: string;
  /** Validation is optional (lr-find needs none). */
  needValid?: boolean;
  /** Data parallel: this rank's shard of every epoch (training padded, validation not). */
  shard?: Shard;
}

export function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function loaderSource(loader: BatchLoader, seedFor: (e: number) => number): EpochSource {
  return {
    batchesPerEpoch: loader.batchesPerEpoch,
    imagesPerEpoch: loader.length,
    epoch: (e) => loader.epoch(seedFor(e)),
  };
}

export function openRunData(o: RunDataOptions): RunData {
  const manifest = readManifest(o.manifest);
  const trainSplit = o.trainSplit ?? 'train';
  const validSplit = o.validSplit ?? 'valid';
  const aug = parseAug(o.aug);
  let trainManifest: Manifest = manifest;
  if (aug.manifest) {
    trainManifest = readManifest(aug.manifest);
    // An offline-augmented manifest may carry no split column: then all of it is training data.
    if (!trainManifest.rows.some((r) => r.split === trainSplit))
      trainManifest = { ...trainManifest, rows: trainManifest.rows.map((r) => ({ ...r, split: trainSplit })) };
  }
  if (!trainManifest.rows.some((r) => r.split === trainSplit)) {
    const splits = [...new Set(trainManifest.rows.map((r) => r.split || '(empty)'))].join(', ');
    throw new Error(
      `manifest ${trainManifest.file} has no '${trainSplit}' rows (splits present: ${splits}); split it ` +
        `first (cxrtune data … --split)`,
    );
  }
  const classes = o.classes ?? defaultClasses([...manifest.rows, ...trainManifest.rows].map((r) => r.label));
  if (classes.length < 2)
    throw new Error(
      `manifest ${manifest.file} has only one class (${classes.join(', ')}); training needs at least two`,
    );
  const positiveClass = o.positive ? classes.indexOf(o.positive) : 1;
  if (positiveClass < 0)
    throw new Error(`positive class '${o.positive}' is not among the classes (${classes.join(', ')})`);
  const cache = new ImageCache();
  // The same decode options as every later consumer of the model (engine/preprocessing.ts).
  const image = loaderOptions({
    size: o.size,
    fit: o.fit ?? IMAGE_DEFAULTS.fit,
    equalize: o.equalize ?? IMAGE_DEFAULTS.equalize,
    crop: o.crop ?? IMAGE_DEFAULTS.crop,
    cropMargin: o.cropMargin ?? IMAGE_DEFAULTS.cropMargin,
    standardize: o.standardize ?? IMAGE_DEFAULTS.standardize,
    channels: 1,
  });
  const train = new BatchLoader(trainManifest, trainSplit, {
    ...image,
    batch: o.batch,
    seed: o.seed,
    balanced: o.balanced ?? false,
    augment: aug.table1,
    robust: aug.robust,
    classes,
    cache,
    ...(o.shard ? { shard: { ...o.shard, pad: true } } : {}),
  });
  let valid: EpochSource | null = null;
  const hasValid = manifest.rows.some((r) => r.split === validSplit);
  if (hasValid) {
    const vl = new BatchLoader(manifest, validSplit, {
      ...image,
      batch: o.batch,
      shuffle: false,
      classes,
      cache,
      ...(o.shard ? { shard: { ...o.shard, pad: false } } : {}),
    });
    valid = loaderSource(vl, () => 0);
  } else if (o.needValid) {
    throw new Error(`manifest ${manifest.file} has no '${validSplit}' rows to validate on`);
  }
  return {
    classes,
    positiveClass,
    train: { ...loaderSource(train, (e) => hashSeed(o.seed, 'train', e)), classCounts: train.classCounts() },
    valid,
    manifestSha256: sha256File(manifest.file),
  };
}

/** Inverse class frequency, normalised so a balanced set gets weight 1 per class. */
export function inverseFrequencyWeights(counts: number[]): number[] {
  const n = counts.reduce((a, b) => a + b, 0);
  const present = counts.filter((c) => c > 0).length;
  return counts.map((c) => (c > 0 ? n / (present * c) : 0));
}
