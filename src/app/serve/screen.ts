// One screening study: bytes → content sniffing → decode → predict + Grad-CAM → PNGs.
// Split into stages (prepare, infer a batch, render) so the server can batch the engine
// step across queued requests; screenStudy() runs all three for one study (CLI, bench).
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { CheckpointMeta } from '../../engine/checkpoint.js';
import type { InferenceModel } from '../../engine/types.js';
import { decodeImageBuffer, type Equalize, type Fit, type GrayImage } from '../../data/image.js';
import { imageOptions, imagesBatch } from '../../engine/preprocessing.js';
import { decodeBudget } from '../../data/decodeLimits.js';
import type { Region } from '../../data/lungCrop.js';
import { errorMessage } from '../../util/errorMessage.js';
import { camHeatmap, turbo } from '../../recipe/gradcam.js';
import { applyCalibration, calibrationOf } from '../../recipe/calibrationMap.js';
import { decideClass } from '../../recipe/threshold.js';
import type { LungFieldShape } from '../../recipe/lungFields.js';
import { NO_SEGMENTER } from '../lungs/carriedSegmenter.js';
import { sniffFormat, type StudyFormat } from '../../data/sniff.js';
export { sniffFormat } from '../../data/sniff.js';

/** Why an input was refused; the server maps each kind to a status code. */
export type StudyInputProblem =
  | 'empty'
  | 'unsupported_type'
  | 'too_large'
  | 'too_small'
  | 'corrupt'
  | 'unsupported_dicom';

export class StudyInputError extends Error {
  constructor(
    readonly problem: StudyInputProblem,
    message: string,
  ) {
    super(message);
    this.name = 'StudyInputError';
  }
}

/** 25 Mpx: a 5000×5000 detector; CXRs are ≤ ~4300×4300 (18.5 Mpx). */
export const DEFAULT_MAX_STUDY_PIXELS = 25_000_000;

export interface PreprocessOptions {
  size: number;
  fit?: Fit;
  equalize?: Equalize;
  standardize?: 'image';
  /**
   * The lung segmenter's reading of each study's whole image (serve --lungs): its lung box, which
   * a lung-cropping model is cut to (`cropLungs`), and its fields' shape, which the refusal checks.
   */
  lungField?: (
    buf: Uint8Array,
    limits: { maxPixels: number; maxBytes: number },
  ) => Promise<{ region: Region; shape: LungFieldShape }>;
  /** Cut the input to the lung box (the model's record says crop "lungs"). */
  cropLungs?: boolean;
  /** Pixel limit per image, enforced inside every decoder (embedded DICOM JPEGs too). */
  maxPixels?: number;
  /** Decoder memory budget per study in bytes (largest raster held); default maxPixels × 8. */
  maxDecodeBytes?: number;
}

/** What reads a study's lung fields (app/lungs/lungEvidence.ts LungField). */
interface LungFieldReader {
  fieldOf(
    buf: Uint8Array,
    margin: number,
    limits: { maxPixels: number; maxBytes: number },
  ): Promise<{ region: Region; shape: LungFieldShape }>;
}

/** The checkpoint's preprocessing record as decode options, with the server's limits. */
export function preprocessOf(
  meta: CheckpointMeta,
  maxPixels = DEFAULT_MAX_STUDY_PIXELS,
  maxDecodeBytes = decodeBudget(maxPixels),
  lungs?: LungFieldReader,
): PreprocessOptions {
  const p = meta.preprocessing;
  if (p.crop === 'lungs' && !lungs) throw new Error(NO_SEGMENTER);
  const lungField = lungs
    ? (buf: Uint8Array, limits: { maxPixels: number; maxBytes: number }) => lungs.fieldOf(buf, p.cropMargin, limits)
    : undefined;
  return {
    ...imageOptions(p),
    maxPixels,
    maxDecodeBytes,
    ...(lungField ? { lungField, cropLungs: p.crop === 'lungs' } : {}),
  };
}

export interface PreparedStudy {
  format: StudyFormat;
  sha256: string;
  bytes: number;
  /** The model's input (inputSize², grayscale): also what the page shows. */
  input: GrayImage;
  /** The shape of the lung fields the segmenter found on the whole image (with a segmenter). */
  lungShape?: LungFieldShape;
  decodeMs: number;
}

/** Sniff, guard and decode. Throws StudyInputError for anything a user can send wrong. */
export async function prepareStudy(buf: Uint8Array, opts: PreprocessOptions): Promise<PreparedStudy> {
  const t0 = performance.now();
  if (buf.length === 0) throw new StudyInputError('empty', 'the request carried no image (empty body)');
  const format = sniffFormat(buf);
  if (!format)
    throw new StudyInputError(
      'unsupported_type',
      'content is not a PNG, JPEG or DICOM file (recognised by its bytes, not its name or Content-Type)',
    );
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_STUDY_PIXELS;
  const maxBytes = opts.maxDecodeBytes ?? decodeBudget(maxPixels);
  const sha256 = createHash('sha256').update(buf).digest('hex');
  let input: GrayImage;
  let lungShape: LungFieldShape | undefined;
  try {
    // 'upload' names the input in errors: the client's file name never reaches us or the log.
    // The decoders check every limit from the headers before they decode (DICOM too).
    const field = opts.lungField ? await opts.lungField(buf, { maxPixels, maxBytes }) : undefined;
    const region = opts.cropLungs ? field?.region : undefined;
    lungShape = field?.shape;
    input = await decodeImageBuffer(buf, format === 'dicom' ? 'DICOM' : 'upload', {
      size: opts.size,
      fit: opts.fit ?? 'letterbox',
      equalize: opts.equalize ?? 'none',
      maxPixels,
      maxBytes,
      ...(opts.standardize ? { standardize: opts.standardize } : {}),
      ...(region ? { region } : {}),
    });
  } catch (e) {
    throw classify(e);
  }
  return {
    format,
    sha256,
    bytes: buf.length,
    input,
    ...(lungShape ? { lungShape } : {}),
    decodeMs: performance.now() - t0,
  };
}

/** Maps data/image.ts and data/dicom.ts messages to a problem kind. */
function classify(e: unknown): StudyInputError {
  if (e instanceof StudyInputError) return e;
  const msg = errorMessage(e);
  if (/too large|exceeds pixel limit/.test(msg)) return new StudyInputError('too_large', msg);
  if (/too small/.test(msg)) return new StudyInputError('too_small', msg);
  if (/transfer syntax|no pixel data|without Rows|unsupported DICOM/.test(msg))
    return new StudyInputError('unsupported_dicom', msg);
  return new StudyInputError('corrupt', msg);
}

export interface StudyInference {
  /** Probability of the positive class. */
  probability: number;
  probabilities: number[];
  /** Grad-CAM heatmap in [0, 1] at inputSize², of `camClass`. */
  heat: Float32Array;
  /** The class the heatmap explains: the positive class with two classes, the class called with more. */
  camClass: number;
  /** The Grad-CAM layer's pooled activations (the refusal's feature distance reads them). */
  features: Float32Array;
}

/**
 * Predict + Grad-CAM for several prepared studies in one engine call: the Grad-CAM pass
 * returns the logits too, and its batch score is a sum of per-image scores (eval mode), so
 * every image's map is what it would be alone.
 */
export async function inferStudies(
  model: InferenceModel,
  meta: CheckpointMeta,
  studies: PreparedStudy[],
): Promise<StudyInference[]> {
  const S = meta.preprocessing.size;
  const batchOf = (list: PreparedStudy[]) =>
    imagesBatch(
      list.map((s) => s.input.pixels),
      meta.preprocessing,
    );
  const cam = await model.gradCamMaps(batchOf(studies), meta.positiveClass);
  const [, h, w] = cam.shape;
  const k = meta.classes.length;
  const C = cam.pooled.length / studies.length;
  // A recalibrated checkpoint (cxrtune calibrate): the same mapping evaluate applies.
  const probs = applyCalibration(cam.probs, k, meta.positiveClass, calibrationOf(meta));
  const out = studies.map((_, i) => {
    const probabilities = Array.from(probs.subarray(i * k, (i + 1) * k));
    return {
      probability: probabilities[meta.positiveClass]!,
      probabilities,
      heat: camHeatmap(cam.maps.subarray(i * h * w, (i + 1) * h * w), h, w, S, S),
      camClass: meta.positiveClass,
      features: cam.pooled.slice(i * C, (i + 1) * C),
    };
  });
  // More than two classes: the heatmap explains the class called, so a study called another class gets a
  // second pass for that class (one per class called; two-class models never take it).
  if (k > 2) {
    const byClass = new Map<number, number[]>();
    for (const [i, r] of out.entries()) {
      const called = decideClass(r.probabilities, meta.positiveClass, meta.threshold);
      if (called !== meta.positiveClass) byClass.set(called, [...(byClass.get(called) ?? []), i]);
    }
    for (const [c, idx] of byClass) {
      const again = await model.gradCamMaps(batchOf(idx.map((i) => studies[i]!)), c);
      const [, h2, w2] = again.shape;
      for (const [j, i] of idx.entries()) {
        out[i]!.heat = camHeatmap(again.maps.subarray(j * h2 * w2, (j + 1) * h2 * w2), h2, w2, S, S);
        out[i]!.camClass = c;
      }
    }
  }
  return out;
}

export interface RenderedStudy {
  /** Grayscale PNG of the model's input. */
  imagePng: Buffer;
  /** RGBA PNG: turbo colours, alpha = heat, to lay over imagePng. */
  heatmapPng: Buffer;
  renderMs: number;
}

export async function renderStudy(study: PreparedStudy, inf: StudyInference): Promise<RenderedStudy> {
  const t0 = performance.now();
  const { width, height, pixels } = study.input;
  const [imagePng, heatmapPng] = await Promise.all([
    sharp(pixels, { raw: { width, height, channels: 1 } })
      .png({ compressionLevel: 4 })
      .toBuffer(),
    sharp(heatRgba(inf.heat), { raw: { width, height, channels: 4 } })
      .png({ compressionLevel: 4 })
      .toBuffer(),
  ]);
  return { imagePng, heatmapPng, renderMs: performance.now() - t0 };
}

// Evaluating recipe/gradcam's turbo polynomial per pixel is slow; a 256-entry table
// gives the same colours (to 1/255 of heat) at a fraction of the cost on the request path.
const TURBO_LUT = Array.from({ length: 256 }, (_, i) => turbo(i / 255));

/** Heat in [0, 1] → RGBA (turbo colour, alpha = heat). */
export function heatRgba(heat: Float32Array): Uint8Array {
  const out = new Uint8Array(heat.length * 4);
  for (let i = 0; i < heat.length; i++) {
    const q = Math.round(Math.min(1, Math.max(0, heat[i]!)) * 255);
    const c = TURBO_LUT[q]!;
    out[i * 4] = c[0];
    out[i * 4 + 1] = c[1];
    out[i * 4 + 2] = c[2];
    out[i * 4 + 3] = q;
  }
  return out;
}

/** The decision at the checkpoint's threshold, named by class, with the threshold it was made at. */
export function decide(
  meta: CheckpointMeta,
  probabilities: number[],
): { positive: boolean; label: string; threshold: number } {
  const called = decideClass(probabilities, meta.positiveClass, meta.threshold);
  return { positive: called === meta.positiveClass, label: meta.classes[called]!, threshold: meta.threshold };
}

interface StudyResult extends RenderedStudy, StudyInference {
  format: StudyFormat;
  sha256: string;
  bytes: number;
  positive: boolean;
  label: string;
  threshold: number;
  timings: { decodeMs: number; inferMs: number; renderMs: number; totalMs: number };
}

/** One study end to end: what the server does for a request, without the queue. */
export async function screenStudy(
  model: InferenceModel,
  meta: CheckpointMeta,
  buf: Uint8Array,
  opts: Partial<PreprocessOptions> = {},
): Promise<StudyResult> {
  const t0 = performance.now();
  // A lung-cropping model's caller gives the lung finder (preprocessOf refuses the record without one).
  const base = opts.lungField ? { ...imageOptions(meta.preprocessing) } : preprocessOf(meta);
  const study = await prepareStudy(buf, { ...base, ...opts });
  const t1 = performance.now();
  const [inf] = await inferStudies(model, meta, [study]);
  const inferMs = performance.now() - t1;
  const r = await renderStudy(study, inf!);
  return {
    ...r,
    ...inf!,
    ...decide(meta, inf!.probabilities),
    format: study.format,
    sha256: study.sha256,
    bytes: study.bytes,
    timings: { decodeMs: study.decodeMs, inferMs, renderMs: r.renderMs, totalMs: performance.now() - t0 },
  };
}
