// The preprocessing record: how an image file becomes the tensor a model was trained on.
// Training writes it into model.json; every consumer (evaluate, explain, audit, cam-check,
// serve, PACS) builds its decode options from it and nothing else, so a model is never fed
// pixels prepared differently from the ones it learnt on.
//
// Order of operations (data/image.ts): decode → `crop` to the lung field's box (a per-image
// region from its lung mask) → grayscale → `fit` to size×size → `equalize` → `standardize`
// → uint8; the engine then replicates to `channels` and applies `normalisation` (0..1 scale).
//
// Choices:
// - Checkpoints written before the record existed (inputSize/channels/normalisation at the top
//   of model.json) are read as fit 'letterbox', equalize 'none': what the loader always did then.
// - Records written before crop/standardize existed read as crop 'none', standardize 'none'.
// - The lung crop is a record of *how* (mode and margin); *where* comes per image from its lung
//   mask (a manifest's lung_mask column, or the segmenter at serve time), so the record stays
//   one small object and every consumer computes the same box (data/lungCrop.ts).
// - Per-image standardisation works on the 8-bit output (mean 128, std 48 after clipping at
//   ±2.67σ), so caches, augmentation and the page keep one pixel format; it removes each
//   hospital's brightness/contrast signature before the network sees the image.
// - Normalisation lives here, not only on the model, so one record answers "what did this model
//   see"; the engine still applies it (native), from this record.
// The engine owns the record (as it owns normalisation): checkpoint.ts reads and writes it, and
// the layers above (data's decoder, app's consumers) import it from here.
import type { Batch, Normalisation } from './types.js';

export type Fit = 'letterbox' | 'crop' | 'stretch';
export type Equalize = 'none' | 'hist' | 'clahe';
export type Crop = 'none' | 'lungs';
export type Standardize = 'none' | 'image';
export const FITS: Fit[] = ['letterbox', 'crop', 'stretch'];
export const EQUALIZE_MODES: Equalize[] = ['none', 'hist', 'clahe'];
export const CROP_MODES: Crop[] = ['none', 'lungs'];
export const STANDARDIZE_MODES: Standardize[] = ['none', 'image'];

export interface Preprocessing {
  /** Side S of the network's S×S input. */
  size: number;
  /** letterbox (pad, keep aspect), crop (centre), stretch. */
  fit: Fit;
  /** Contrast after resizing: none, global histogram equalisation, CLAHE. */
  equalize: Equalize;
  /** 'lungs': each image is cut to its lung mask's bounding box grown by cropMargin first. */
  crop: Crop;
  /** Margin of the lung box on every side, as a fraction of the box's width/height. */
  cropMargin: number;
  /** 'image': each image's intensities standardised to its own mean and std. */
  standardize: Standardize;
  /** Channels of the input tensor (grayscale, or replicated to 3). */
  channels: 1 | 3;
  /** Per-channel mean/std on the 0..1 scale, applied by the engine. */
  normalisation: Normalisation;
}

/** The image-side part (what the decoder does); normalisation comes from the model. */
export type ImagePreprocessing = Omit<Preprocessing, 'normalisation'>;

/** As a writer may give it: the options added later (crop, standardize) default to off. */
export type ImagePreprocessingInput = Omit<ImagePreprocessing, 'crop' | 'cropMargin' | 'standardize'> &
  Partial<Pick<ImagePreprocessing, 'crop' | 'cropMargin' | 'standardize'>>;

const DEFAULT_FIT: Fit = 'letterbox';
const DEFAULT_EQUALIZE: Equalize = 'none';
const DEFAULT_CROP: Crop = 'none';
export const DEFAULT_CROP_MARGIN = 0.1;
const DEFAULT_STANDARDIZE: Standardize = 'none';

/** The image-side defaults of a record (what a model trained before these options saw). */
export const IMAGE_DEFAULTS = {
  fit: DEFAULT_FIT,
  equalize: DEFAULT_EQUALIZE,
  crop: DEFAULT_CROP,
  cropMargin: DEFAULT_CROP_MARGIN,
  standardize: DEFAULT_STANDARDIZE,
} as const;

/** A full image record from a writer's input. */
export function withImageDefaults(p: ImagePreprocessingInput): ImagePreprocessing {
  return { crop: DEFAULT_CROP, cropMargin: DEFAULT_CROP_MARGIN, standardize: DEFAULT_STANDARDIZE, ...p };
}

/** Per-image decode options (data/image.ts); the lung region, when cropping, is added per image. */
interface DecodeOptions {
  size: number;
  fit: Fit;
  equalize: Equalize;
  standardize?: 'image';
}

/** Decode options for data/image.ts: the same file gives the same pixels everywhere. */
export function imageOptions(p: ImagePreprocessing): DecodeOptions {
  // A default is left out, so decode-cache keys of runs made before the option stay the same.
  return {
    size: p.size,
    fit: p.fit,
    equalize: p.equalize,
    ...(p.standardize === 'image' ? { standardize: 'image' as const } : {}),
  };
}

/** BatchLoader options implied by the record. */
export function loaderOptions(
  p: ImagePreprocessing,
): DecodeOptions & { channels: 1 | 3; lungCrop?: { margin: number } } {
  return {
    ...imageOptions(p),
    channels: p.channels,
    ...(p.crop === 'lungs' ? { lungCrop: { margin: p.cropMargin } } : {}),
  };
}

function isTriple(x: unknown): x is [number, number, number] {
  return Array.isArray(x) && x.length === 3 && x.every((v) => typeof v === 'number' && Number.isFinite(v));
}

/**
 * Checks a record read from disk (or its older form: the top-level inputSize, channels and
 * normalisation of a model.json written before this record) and returns it typed.
 */
export function readPreprocessing(
  where: string,
  raw: { preprocessing?: unknown; inputSize?: unknown; channels?: unknown; normalisation?: unknown },
): Preprocessing {
  const legacy = raw.preprocessing === undefined;
  const r0 = (
    legacy
      ? {
          size: raw.inputSize,
          fit: DEFAULT_FIT,
          equalize: DEFAULT_EQUALIZE,
          channels: raw.channels,
          normalisation: raw.normalisation,
        }
      : raw.preprocessing
  ) as Record<string, unknown>;
  const r = (
    r0 && typeof r0 === 'object'
      ? { crop: DEFAULT_CROP, cropMargin: DEFAULT_CROP_MARGIN, standardize: DEFAULT_STANDARDIZE, ...r0 }
      : r0
  ) as Record<string, unknown>;
  const bad = (what: string): never => {
    throw new Error(`${where}: preprocessing ${what}`);
  };
  if (!r || typeof r !== 'object') bad('is not an object');
  const size = r.size;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 8 || size > 4096)
    bad(`size ${String(size)} is not an integer in [8, 4096]`);
  if (!FITS.includes(r.fit as Fit)) bad(`fit '${String(r.fit)}' is not one of ${FITS.join(', ')}`);
  if (!EQUALIZE_MODES.includes(r.equalize as Equalize))
    bad(`equalize '${String(r.equalize)}' is not one of ${EQUALIZE_MODES.join(', ')}`);
  if (!CROP_MODES.includes(r.crop as Crop)) bad(`crop '${String(r.crop)}' is not one of ${CROP_MODES.join(', ')}`);
  if (typeof r.cropMargin !== 'number' || !(r.cropMargin >= 0 && r.cropMargin <= 1))
    bad(`cropMargin ${String(r.cropMargin)} is not a number in [0, 1]`);
  if (!STANDARDIZE_MODES.includes(r.standardize as Standardize))
    bad(`standardize '${String(r.standardize)}' is not one of ${STANDARDIZE_MODES.join(', ')}`);
  if (r.channels !== 1 && r.channels !== 3) bad(`channels ${String(r.channels)} is not 1 or 3`);
  const n = r.normalisation as { mean?: unknown; std?: unknown } | undefined;
  if (!n || !isTriple(n.mean) || !isTriple(n.std)) bad('normalisation needs mean and std of three numbers each');
  if ((n!.std as number[]).some((s) => s <= 0)) bad('normalisation std must be positive');
  return {
    size: size as number,
    fit: r.fit as Fit,
    equalize: r.equalize as Equalize,
    crop: r.crop as Crop,
    cropMargin: r.cropMargin as number,
    standardize: r.standardize as Standardize,
    channels: r.channels as 1 | 3,
    normalisation: {
      mean: [...(n!.mean as number[])] as Normalisation['mean'],
      std: [...(n!.std as number[])] as Normalisation['std'],
    },
  };
}

/** Decoded S×S grayscale images as one batch with the record's channel count (grey replicated to 3). */
export function imagesBatch(grays: Uint8Array[], p: Pick<Preprocessing, 'size' | 'channels'>): Batch {
  const S = p.size;
  const C = p.channels;
  if (C === 1 && grays.length === 1) return { pixels: grays[0]!, shape: [1, S, S, 1] };
  const pixels = new Uint8Array(grays.length * S * S * C);
  grays.forEach((g, i) => {
    if (C === 1) pixels.set(g, i * S * S);
    else for (let j = 0; j < S * S; j++) pixels.fill(g[j]!, (i * S * S + j) * 3, (i * S * S + j) * 3 + 3);
  });
  return { pixels, shape: [grays.length, S, S, C] };
}

/** One line for logs and reports. */
export function describePreprocessing(p: Preprocessing): string {
  const f = (xs: number[]) => xs.map((x) => x.toFixed(3)).join('/');
  const crop = p.crop === 'lungs' ? `, crop to the lungs (margin ${p.cropMargin})` : '';
  const std = p.standardize === 'image' ? ', per-image standardised' : '';
  return (
    `${p.size}×${p.size} ${p.fit}${crop}, equalize ${p.equalize}${std}, ${p.channels} channel(s), mean ` +
    `${f(p.normalisation.mean)} std ${f(p.normalisation.std)}`
  );
}
