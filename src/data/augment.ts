// The paper's Table 1 augmentations on 8-bit grayscale images, used offline (`augment`)
// and online (BatchLoader). Parameters are drawn from a seeded Rng and returned as plain
// data, so every output records exactly what was done to it.
//
// Named choices where Table 1 is terse:
// - rotation ±5/10/15°: the angle is drawn from {±5, ±10, ±15}°;
// - zoom 1.3: scale uniform in [1, 1.3] about a random centre that keeps the view inside
//   the image (fastai's zoom with row_pct/col_pct);
// - affine warp 0.4: fastai v1 `symmetric_warp`, four corner magnitudes uniform in [−0.4, 0.4]
//   in normalised [−1, 1] coordinates (a perspective warp);
// - lighting 1.4: brightness and contrast factors each log-uniform in [1/1.4, 1.4]
//   (fastai's formula needs a value below 1, so 1.4 is read as a maximum factor);
// - Gaussian blur, kernel 3×3, σ uniform in [0.5, 1.0].
// Geometric transforms are composed and resampled once (bilinear, reflection padding).
import type { GrayImage } from './image.js';
import type { Rng } from '../util/rng.js';

export const TRANSFORMS = ['rotate', 'zoom', 'warp', 'lighting', 'blur'] as const;
type TransformName = (typeof TRANSFORMS)[number];

export interface AugmentConfig {
  transforms?: readonly TransformName[];
  /** Probability that each enabled transform is applied (at least one always is). Default 0.75. */
  p?: number;
  rotateDegrees?: number[];
  maxZoom?: number;
  maxWarp?: number;
  maxLighting?: number;
  blurSigma?: [number, number];
}

export const TABLE1: Required<Omit<AugmentConfig, 'transforms' | 'p'>> = {
  rotateDegrees: [5, 10, 15],
  maxZoom: 1.3,
  maxWarp: 0.4,
  maxLighting: 1.4,
  blurSigma: [0.5, 1.0],
};

interface AugmentParams {
  rotate?: { deg: number };
  /** scale ≥ 1; centre (cx, cy) in normalised coordinates. */
  zoom?: { scale: number; cx: number; cy: number };
  /** fastai symmetric_warp magnitudes. */
  warp?: { m: [number, number, number, number] };
  lighting?: { brightness: number; contrast: number };
  blur?: { sigma: number };
}

export function parseTransforms(spec: string | undefined): TransformName[] {
  if (!spec || spec === 'all') return [...TRANSFORMS];
  const names = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names)
    if (!(TRANSFORMS as readonly string[]).includes(n))
      throw new Error(`unknown transform '${n}' (${TRANSFORMS.join(', ')})`);
  return names as TransformName[];
}

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

/** Draw one output's parameters. */
export function sampleAugment(rng: Rng, cfg: AugmentConfig = {}): AugmentParams {
  const t = cfg.transforms ?? TRANSFORMS;
  const p = cfg.p ?? 0.75;
  const c = { ...TABLE1, ...cfg };
  if (t.length === 0) return {};
  let on = t.filter(() => rng.bool(p));
  if (on.length === 0) on = [rng.pick(t)];
  const out: AugmentParams = {};
  // Draw in a fixed order so parameters do not depend on the order of `transforms`.
  for (const name of TRANSFORMS) {
    if (!on.includes(name)) continue;
    if (name === 'rotate') out.rotate = { deg: rng.pick(c.rotateDegrees) * (rng.bool() ? 1 : -1) };
    if (name === 'zoom') {
      const scale = rng.uniform(1, c.maxZoom);
      const room = 1 - 1 / scale;
      out.zoom = { scale: r4(scale), cx: r4(rng.uniform(-room, room)), cy: r4(rng.uniform(-room, room)) };
    }
    if (name === 'warp')
      out.warp = {
        m: [0, 0, 0, 0].map(() => r4(rng.uniform(-c.maxWarp, c.maxWarp))) as [number, number, number, number],
      };
    if (name === 'lighting') {
      const L = Math.log(c.maxLighting);
      out.lighting = { brightness: r4(Math.exp(rng.uniform(-L, L))), contrast: r4(Math.exp(rng.uniform(-L, L))) };
    }
    if (name === 'blur') out.blur = { sigma: r4(rng.uniform(c.blurSigma[0], c.blurSigma[1])) };
  }
  return out;
}

/** Solve the 8-parameter homography mapping src[i] → dst[i] (4 point pairs). */
export function homography(src: [number, number][], dst: [number, number][]): number[] {
  const A: number[][] = [];
  for (let i = 0; i < 4; i++) {
    const [x, y] = src[i];
    const [u, v] = dst[i];
    A.push([x, y, 1, 0, 0, 0, -u * x, -u * y, u]);
    A.push([0, 0, 0, x, y, 1, -v * x, -v * y, v]);
  }
  for (let col = 0; col < 8; col++) {
    let piv = col;
    for (let r = col + 1; r < 8; r++) if (Math.abs(A[r][col]) > Math.abs(A[piv][col])) piv = r;
    [A[col], A[piv]] = [A[piv], A[col]];
    for (let r = 0; r < 8; r++) {
      if (r === col) continue;
      const f = A[r][col] / A[col][col];
      for (let k = col; k < 9; k++) A[r][k] -= f * A[col][k];
    }
  }
  return A.map((row, i) => row[8] / row[i]);
}

function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  i = Math.abs(i) % period;
  return i < n ? i : period - i;
}

/** Apply parameters; output has the input's size. Pure: the input is not modified. */
export function applyAugment(img: GrayImage, params: AugmentParams): GrayImage {
  const { width: W, height: H } = img;
  let px = img.pixels;
  if (params.rotate || params.zoom || params.warp) px = resample(img, params);
  else px = px.slice();
  if (params.lighting) {
    const { brightness: b, contrast: c } = params.lighting;
    let sum = 0;
    for (let i = 0; i < px.length; i++) sum += px[i];
    const mean = sum / px.length;
    const lut = new Uint8Array(256);
    for (let v = 0; v < 256; v++) lut[v] = Math.max(0, Math.min(255, Math.round(((v - mean) * c + mean) * b)));
    for (let i = 0; i < px.length; i++) px[i] = lut[px[i]];
  }
  if (params.blur) px = gaussianBlur3(px, W, H, params.blur.sigma);
  return { pixels: px, width: W, height: H };
}

function resample(img: GrayImage, p: AugmentParams): Uint8Array {
  const { width: W, height: H, pixels: src } = img;
  const out = new Uint8Array(W * H);
  const corners: [number, number][] = [
    [-1, -1],
    [-1, 1],
    [1, -1],
    [1, 1],
  ];
  let h: number[] | null = null;
  if (p.warp) {
    const m = p.warp.m;
    // fastai v1 symmetric_warp target points (x, y).
    const targ: [number, number][] = [
      [-1 - m[3], -1 - m[1]],
      [-1 - m[2], 1 + m[1]],
      [1 + m[3], -1 - m[0]],
      [1 + m[2], 1 + m[0]],
    ];
    h = homography(corners, targ);
  }
  const th = ((p.rotate?.deg ?? 0) * Math.PI) / 180;
  const cos = Math.cos(th);
  const sin = Math.sin(th);
  const s = p.zoom?.scale ?? 1;
  const zcx = p.zoom?.cx ?? 0;
  const zcy = p.zoom?.cy ?? 0;
  const hw = W / 2;
  const hh = H / 2;
  for (let y = 0; y < H; y++) {
    const v0 = (2 * y + 1) / H - 1;
    for (let x = 0; x < W; x++) {
      let u = (2 * x + 1) / W - 1;
      let v = v0;
      if (h) {
        const d = h[6] * u + h[7] * v + 1;
        const nu = (h[0] * u + h[1] * v + h[2]) / d;
        v = (h[3] * u + h[4] * v + h[5]) / d;
        u = nu;
      }
      // Rotate in pixel units so non-square images are not sheared.
      const px0 = u * hw;
      const py0 = v * hh;
      const rx = (cos * px0 + sin * py0) / s;
      const ry = (-sin * px0 + cos * py0) / s;
      const sx = rx + hw + zcx * hw - 0.5;
      const sy = ry + hh + zcy * hh - 0.5;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const xa = reflect(x0, W);
      const xb = reflect(x0 + 1, W);
      const ya = reflect(y0, H) * W;
      const yb = reflect(y0 + 1, H) * W;
      const top = src[ya + xa] * (1 - fx) + src[ya + xb] * fx;
      const bot = src[yb + xa] * (1 - fx) + src[yb + xb] * fx;
      out[y * W + x] = Math.round(top * (1 - fy) + bot * fy);
    }
  }
  return out;
}

/** Separable 3×3 Gaussian blur with reflected borders. */
export function gaussianBlur3(px: Uint8Array, W: number, H: number, sigma: number): Uint8Array {
  const e = Math.exp(-1 / (2 * sigma * sigma));
  const k0 = 1 / (1 + 2 * e);
  const k1 = e * k0;
  const tmp = new Float32Array(W * H);
  for (let y = 0; y < H; y++) {
    const r = y * W;
    for (let x = 0; x < W; x++) {
      tmp[r + x] = k0 * px[r + x] + k1 * (px[r + reflect(x - 1, W)] + px[r + reflect(x + 1, W)]);
    }
  }
  const out = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    const up = reflect(y - 1, H) * W;
    const dn = reflect(y + 1, H) * W;
    const r = y * W;
    for (let x = 0; x < W; x++) out[r + x] = Math.round(k0 * tmp[r + x] + k1 * (tmp[up + x] + tmp[dn + x]));
  }
  return out;
}

/** Flat columns for a manifest row (empty = not applied). */
export function augmentColumns(p: AugmentParams): Record<string, string> {
  const f = (x: number | undefined) => (x === undefined ? '' : String(x));
  return {
    transforms: TRANSFORMS.filter((t) => p[t] !== undefined).join('+'),
    rotate_deg: f(p.rotate?.deg),
    zoom_scale: f(p.zoom?.scale),
    zoom_cx: f(p.zoom?.cx),
    zoom_cy: f(p.zoom?.cy),
    warp_m: p.warp ? p.warp.m.join(' ') : '',
    lighting_brightness: f(p.lighting?.brightness),
    lighting_contrast: f(p.lighting?.contrast),
    blur_sigma: f(p.blur?.sigma),
  };
}
