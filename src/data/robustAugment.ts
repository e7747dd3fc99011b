// The "robust" online augmentation set: provenance-blind transforms that vary the
// cues which identify a hospital (field of view, detector sharpness and noise, the processing
// tone curve, storage compression), so the model cannot lean on them. Beside, not instead of,
// the paper's Table 1 (augment.ts); `train --aug robust` or `online+robust`.
// Parameters are drawn from a seeded Rng and returned as plain data (same seed → same pixels).
//
// Choices (each transform is applied independently with probability p = 0.5, so about 1 image
// in 64 passes unaltered, which is itself a plausible acquisition; they run in the order of an
// acquisition chain: field of view → detector blur → detector noise → tone curve → storage):
// - crop: random resized crop as torchvision's RandomResizedCrop: area fraction uniform in
//   [0.6, 1] and aspect log-uniform in [3/4, 4/3] (up to 10 tries to fit, else the whole
//   image), resampled back to the input size (bilinear). 0.6, not torchvision's 0.08: the lung
//   fields must stay in view of a CXR classifier; the crop varies collimation, borders, markers.
//   It crops the already-resized S×S image (so a crop is upsampled ≤ 1.3×).
// - blur: Gaussian, σ uniform in [0.5, 1.5] px at the training size: detectors and
//   downsampled publication figures differ in sharpness (Table 1's blur is 3×3, σ ≤ 1).
// - noise: additive Gaussian, σ uniform in [2, 8] grey levels (of 255), from a recorded
//   per-image seed: quantum/electronic noise differs between detectors and doses; 8 is visible
//   but leaves lung texture readable.
// - gamma: out = 255·(v/255)^γ, γ log-uniform in [0.7, 1.4]: vendors' processing curves differ
//   (log-uniform so brightening and darkening are equally likely).
// - contrast: about the image mean, factor log-uniform in [3/4, 4/3] (window width differs).
//   Gamma and contrast are folded into one lookup table, rounded once.
// - jpeg: re-compression (sharp/libjpeg-turbo) at an integer quality uniform in [30, 95]:
//   sources are stored as PNG, DICOM or JPEG at various qualities (publication figures low);
//   30 leaves visible block artefacts, 95 is near-lossless.
import sharp, { type Sharp } from 'sharp';
import type { GrayImage } from './image.js';
import { Rng } from '../util/rng.js';

/** Application order (an acquisition chain). */
export const ROBUST_TRANSFORMS = ['crop', 'blur', 'noise', 'gamma', 'contrast', 'jpeg'] as const;
type RobustName = (typeof ROBUST_TRANSFORMS)[number];

interface RobustRanges {
  /** Crop area as a fraction of the image. */
  cropScale: [number, number];
  /** Crop width / height (drawn log-uniform). */
  cropAspect: [number, number];
  blurSigma: [number, number];
  /** Grey levels of 255. */
  noiseSigma: [number, number];
  /** Drawn log-uniform. */
  gamma: [number, number];
  /** Drawn log-uniform. */
  contrast: [number, number];
  /** Integer JPEG quality, inclusive. */
  jpegQuality: [number, number];
}

export interface RobustConfig extends Partial<RobustRanges> {
  transforms?: readonly RobustName[];
  /** Probability that each enabled transform is applied. Default 0.5. */
  p?: number;
}

const ROBUST: RobustRanges & { p: number } = {
  p: 0.5,
  cropScale: [0.6, 1],
  cropAspect: [3 / 4, 4 / 3],
  blurSigma: [0.5, 1.5],
  noiseSigma: [2, 8],
  gamma: [0.7, 1.4],
  contrast: [3 / 4, 4 / 3],
  jpegQuality: [30, 95],
};

export interface RobustParams {
  /** Crop box in input pixels (integers). */
  crop?: { x: number; y: number; w: number; h: number };
  blur?: { sigma: number };
  /** seed: the per-pixel noise stream's Rng seed (unsigned 32-bit). */
  noise?: { sigma: number; seed: number };
  gamma?: { gamma: number };
  contrast?: { factor: number };
  jpeg?: { quality: number };
}

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;
const logUniform = (rng: Rng, [lo, hi]: [number, number]) => Math.exp(rng.uniform(Math.log(lo), Math.log(hi)));

/** Draw one image's parameters for a W×H input. Draws happen in a fixed order. */
export function sampleRobust(rng: Rng, W: number, H: number, cfg: RobustConfig = {}): RobustParams {
  const c = { ...ROBUST, ...cfg };
  const enabled = cfg.transforms ?? ROBUST_TRANSFORMS;
  const on = ROBUST_TRANSFORMS.filter((t) => rng.bool(c.p) && enabled.includes(t));
  const out: RobustParams = {};
  for (const t of on) {
    if (t === 'crop') out.crop = cropBox(rng, W, H, c.cropScale, c.cropAspect);
    if (t === 'blur') out.blur = { sigma: r4(rng.uniform(c.blurSigma[0], c.blurSigma[1])) };
    if (t === 'noise')
      out.noise = { sigma: r4(rng.uniform(c.noiseSigma[0], c.noiseSigma[1])), seed: Math.floor(rng.next() * 2 ** 32) };
    if (t === 'gamma') out.gamma = { gamma: r4(logUniform(rng, c.gamma)) };
    if (t === 'contrast') out.contrast = { factor: r4(logUniform(rng, c.contrast)) };
    if (t === 'jpeg') out.jpeg = { quality: c.jpegQuality[0] + rng.int(c.jpegQuality[1] - c.jpegQuality[0] + 1) };
  }
  return out;
}

/** torchvision RandomResizedCrop.get_params: 10 tries, then the whole image. */
function cropBox(rng: Rng, W: number, H: number, scale: [number, number], aspect: [number, number]) {
  for (let i = 0; i < 10; i++) {
    const area = W * H * rng.uniform(scale[0], scale[1]);
    const ar = logUniform(rng, aspect);
    const w = Math.round(Math.sqrt(area * ar));
    const h = Math.round(Math.sqrt(area / ar));
    if (w >= 1 && h >= 1 && w <= W && h <= H) return { x: rng.int(W - w + 1), y: rng.int(H - h + 1), w, h };
  }
  return { x: 0, y: 0, w: W, h: H };
}

const raw = (px: Uint8Array, W: number, H: number) => sharp(px, { raw: { width: W, height: H, channels: 1 } });

/** Raw single-band pixels of a sharp pipeline. */
async function grey(p: Sharp, W: number, H: number): Promise<Uint8Array> {
  const { data, info } = await p.extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  if (info.width !== W || info.height !== H || info.channels !== 1)
    throw new Error(
      `robustAugment: sharp returned ${info.width}×${info.height}×${info.channels}, expected ${W}×${H}×1`,
    );
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

/** Apply parameters; output has the input's size. Pure: the input is not modified. */
export async function applyRobust(img: GrayImage, p: RobustParams): Promise<GrayImage> {
  const { width: W, height: H } = img;
  let px = img.pixels;
  if (p.crop || p.blur) {
    let s = raw(px, W, H);
    if (p.crop) {
      const { x, y, w, h } = p.crop;
      s = s.extract({ left: x, top: y, width: w, height: h }).resize(W, H, { fit: 'fill', kernel: 'linear' });
    }
    if (p.blur) s = s.blur({ sigma: p.blur.sigma, precision: 'float', minAmplitude: 0.01 });
    px = await grey(s, W, H);
  }
  if (p.noise || p.gamma || p.contrast) px = px === img.pixels ? px.slice() : px;
  if (p.noise) {
    const rng = new Rng(p.noise.seed);
    const sd = p.noise.sigma;
    for (let i = 0; i < px.length; i++) {
      const v = Math.round(px[i] + sd * rng.normal());
      px[i] = v < 0 ? 0 : Math.min(v, 255);
    }
  }
  if (p.gamma || p.contrast) applyTone(px, p.gamma?.gamma ?? 1, p.contrast?.factor ?? 1);
  if (p.jpeg) px = await grey(sharp(await raw(px, W, H).jpeg({ quality: p.jpeg.quality }).toBuffer()), W, H);
  return { pixels: px === img.pixels ? px.slice() : px, width: W, height: H };
}

/** In place: v → m + c·(g(v) − m), g(v) = 255·(v/255)^γ, m = mean of g over the image. */
export function applyTone(px: Uint8Array, gamma: number, factor: number): void {
  const g = new Float64Array(256);
  for (let v = 0; v < 256; v++) g[v] = 255 * (v / 255) ** gamma;
  const hist = new Float64Array(256);
  for (let i = 0; i < px.length; i++) hist[px[i]]++;
  let sum = 0;
  for (let v = 0; v < 256; v++) sum += hist[v] * g[v];
  const m = sum / Math.max(1, px.length);
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = Math.max(0, Math.min(255, Math.round(m + factor * (g[v] - m))));
  for (let i = 0; i < px.length; i++) px[i] = lut[px[i]];
}

/** The set as recorded in model.json: each transform's name, probability and range. */
export function robustRecord(cfg: RobustConfig = {}): {
  set: 'robust';
  order: RobustName[];
  transforms: Record<string, unknown>[];
} {
  const c = { ...ROBUST, ...cfg };
  const enabled = cfg.transforms ?? ROBUST_TRANSFORMS;
  const ranges: Record<RobustName, Record<string, unknown>> = {
    crop: { scale: c.cropScale, aspect: c.cropAspect, aspectDraw: 'log-uniform', resample: 'bilinear' },
    blur: { sigmaPx: c.blurSigma },
    noise: { sigmaGreyLevels: c.noiseSigma },
    gamma: { gamma: c.gamma, draw: 'log-uniform' },
    contrast: { factor: c.contrast, draw: 'log-uniform', about: 'image mean' },
    jpeg: { quality: c.jpegQuality },
  };
  const order = ROBUST_TRANSFORMS.filter((t) => enabled.includes(t));
  return { set: 'robust', order, transforms: order.map((t) => ({ name: t, p: c.p, ...ranges[t] })) };
}
