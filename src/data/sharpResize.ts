// The decoder's resize (sharp → libvips 8.18: `resize(S, S, {fit})`, lanczos3) on an 8-bit grey raster in
// plain TypeScript, so the in-browser page (app/export/web) gives a model the pixels the engine gives
// it. libvips reduces each axis in two steps: a box shrink by an integer factor that leaves at least
// ×2 to the kernel ("gap" 2), then lanczos3 with coefficients tabulated at 1/64 px and quantised to
// 12 bits; sharp then pads (letterbox) or centre-crops (crop) to S×S. This file reproduces that
// arithmetic: the same fixed-point sums, the same rounding, the same sample positions
// (test/data/sharpResize.test.ts compares it with sharp pixel for pixel).
//
// Choices:
// - Only reduction (every axis ≥ S after the fit's scale): enlarging goes through libvips' affine
//   bicubic, which radiographs (1–4 k px) never need; an image that needs it is refused in one line.
// - The box shrink's division is libvips' fixed-point one ((sum + f/2) · ⌊65536/f⌋ >> 16), which differs
//   from an exact division for odd factors.
import type { Fit } from '../engine/preprocessing.js';
import type { GrayImage } from './image.js';

const TABLE_STEPS = 64; // VIPS_TRANSFORM_SCALE: mask positions per pixel
const COEF_ONE = 4096; // VIPS_INTERPOLATE_SCALE: 12-bit coefficients
const GAP = 2; // vips_resize's reduce gap

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

const lanczos3 = (x: number) => (x >= -3 && x <= 3 ? sinc(x) * sinc(x / 3) : 0);

/** libvips' rint: round half to even. */
function rint(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The 65 tabulated masks of an n-point lanczos3 reduction by `shrink`, as 12-bit integers. */
function maskTable(n: number, shrink: number): Int32Array[] {
  const table: Int32Array[] = [];
  for (let t = 0; t <= TABLE_STEPS; t++) {
    const x = Math.fround(t / TABLE_STEPS); // (float) y / VIPS_TRANSFORM_SCALE
    const half = x + n / 2 - 1;
    const c = new Float64Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      c[i] = lanczos3((i - half) / shrink);
      sum += c[i]!;
    }
    table.push(Int32Array.from(c, (v) => Math.trunc((v / sum) * COEF_ONE)));
  }
  return table;
}

/**
 * One axis of a raster reduced by `shrink` (≥ 1): `lines` lines of `len` samples, sample i of line o at
 * src[o * lineStride + i * step]; the output is written the same way into a new array.
 */
function reduceAxis(
  src: Uint8Array,
  len0: number,
  lines: number,
  at: (o: number, i: number) => number,
  shrink0: number,
): { out: Uint8Array; len: number } {
  const outLen = Math.round(len0 / shrink0);
  if (outLen < 1) throw new Error('image has shrunk to nothing');
  let shrink = shrink0;
  let extra = outLen * shrink - len0;
  let len = len0;
  let read = (o: number, i: number) => src[at(o, i)]!;
  const f = Math.max(1, Math.floor(len0 / outLen / GAP));
  if (f > 1) {
    // The box shrink, its output rounded up (the last box repeats the edge sample).
    len = Math.ceil(len0 / f);
    const box = new Uint8Array(len * lines);
    const recip = Math.floor(65536 / f);
    for (let o = 0; o < lines; o++)
      for (let j = 0; j < len; j++) {
        let s = 0;
        for (let k = 0; k < f; k++) s += src[at(o, Math.min(len0 - 1, j * f + k))]!;
        box[o * len + j] = ((s + (f >> 1)) * recip) >>> 16;
      }
    read = (o, i) => box[o * len + i]!;
    shrink /= f;
    extra /= f;
  }
  const out = new Uint8Array(outLen * lines);
  if (shrink === 1) {
    for (let o = 0; o < lines; o++) for (let y = 0; y < outLen; y++) out[o * outLen + y] = read(o, y);
    return { out, len: outLen };
  }
  const n = 2 * rint(3 * shrink) + 1;
  const table = maskTable(n, shrink);
  const offset = (1 + extra) / 2 - 1;
  const pad = Math.ceil(n / 2) - 1; // the edge-copied margin libvips embeds before the first sample
  for (let y = 0; y < outLen; y++) {
    const Y = (y + 0.5) * shrink - 0.5 - offset;
    const first = Math.trunc(Y);
    const k = table[((Math.trunc(Y * TABLE_STEPS * 2) & (TABLE_STEPS * 2 - 1)) + 1) >> 1]!;
    for (let o = 0; o < lines; o++) {
      let sum = COEF_ONE >> 1;
      for (let i = 0; i < n; i++) sum += k[i]! * read(o, Math.min(len - 1, Math.max(0, first + i - pad)));
      const v = sum >> 12;
      out[o * outLen + y] = Math.min(255, Math.max(0, v));
    }
  }
  return { out, len: outLen };
}

/** libvips' resize of a grey raster by independent factors (vertical pass first, as vips_resize does). */
export function reduceGray(img: GrayImage, hshrink: number, vshrink: number): GrayImage {
  if (!(hshrink >= 1 && vshrink >= 1))
    throw new Error(`image too small for this model (${img.width}×${img.height}: enlarging is not supported here)`);
  let { pixels, width: W, height: H } = img;
  if (vshrink !== 1) {
    // lines = columns; the output is column-major, transposed back below.
    const r = reduceAxis(pixels, H, W, (o, i) => i * W + o, vshrink);
    const t = new Uint8Array(W * r.len);
    for (let x = 0; x < W; x++) for (let y = 0; y < r.len; y++) t[y * W + x] = r.out[x * r.len + y]!;
    pixels = t;
    H = r.len;
  }
  if (hshrink !== 1) {
    const w = W;
    const r = reduceAxis(pixels, W, H, (o, i) => o * w + i, hshrink);
    pixels = r.out;
    W = r.len;
  }
  return { pixels, width: W, height: H };
}

/** sharp's `resize(S, S, { fit })` (letterbox = contain on black, crop = cover from the centre, stretch = fill). */
export function fitGray(img: GrayImage, size: number, fit: Fit): GrayImage {
  const { width: W, height: H } = img;
  let hs = W / size;
  let vs = H / size;
  if (fit === 'letterbox') hs = vs = Math.max(hs, vs);
  else if (fit === 'crop') hs = vs = Math.min(hs, vs);
  hs = Math.min(hs, W);
  vs = Math.min(vs, H);
  const r = hs !== 1 || vs !== 1 ? reduceGray(img, hs, vs) : img;
  if (r.width === size && r.height === size) return r;
  const out = new Uint8Array(size * size);
  if (fit === 'letterbox') {
    const left = Math.trunc((size - r.width) / 2);
    const top = Math.trunc((size - r.height) / 2);
    for (let y = 0; y < r.height; y++)
      out.set(r.pixels.subarray(y * r.width, (y + 1) * r.width), (y + top) * size + left);
    return { pixels: out, width: size, height: size };
  }
  if (fit === 'crop') {
    const left = Math.trunc((r.width - size + 1) / 2);
    const top = Math.trunc((r.height - size + 1) / 2);
    for (let y = 0; y < size; y++)
      out.set(r.pixels.subarray((y + top) * r.width + left, (y + top) * r.width + left + size), y * size);
    return { pixels: out, width: size, height: size };
  }
  throw new Error(`resize to ${size}×${size} gave ${r.width}×${r.height}`);
}

/** A pixel box of a grey raster (sharp's extract). */
export function extractGray(img: GrayImage, box: { left: number; top: number; width: number; height: number }) {
  const out = new Uint8Array(box.width * box.height);
  for (let y = 0; y < box.height; y++) {
    const from = (box.top + y) * img.width + box.left;
    out.set(img.pixels.subarray(from, from + box.width), y * box.width);
  }
  return { pixels: out, width: box.width, height: box.height };
}
