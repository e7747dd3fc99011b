// Image decode + preprocess (sharp): PNG (8/16-bit), JPEG, DICOM → grayscale → S×S → uint8,
// with optional histogram equalisation or CLAHE. Every failure names the file. Pixel count
// and decode memory are bounded from the headers before decoding (decodeLimits.ts).
import { readFile, stat } from 'node:fs/promises';
import sharp, { type Sharp, type Metadata, type OutputInfo } from 'sharp';
import { errorMessage } from '../util/errorMessage.js';
import { decodeDicom, looksLikeDicom } from './dicom.js';
import { unreadableReason } from './fileProbe.js';
import { checkRaster, isSharpPixelLimit, resolveLimits, type ResolvedLimits } from './decodeLimits.js';

import type { Equalize, Fit } from '../engine/preprocessing.js';
import { regionPixels, type Region } from './lungCrop.js';
import { equalizeHistogram, standardizeImage } from './pixelOps.js';
export { equalizeHistogram, standardizeImage } from './pixelOps.js';
export { FITS, type Equalize, type Fit } from '../engine/preprocessing.js';

export interface GrayImage {
  /** Row-major 8-bit grayscale, width × height. */
  pixels: Uint8Array;
  width: number;
  height: number;
}

export interface ImageOptions {
  /** Output S×S; omit to keep the native size. */
  size?: number;
  /** letterbox (pad, keep aspect; default), crop (centre crop), stretch. */
  fit?: Fit;
  equalize?: Equalize;
  /** Cut to this region first (fractions of the decoded image: a lung box, data/lungCrop.ts). */
  region?: Region;
  /** 'image': standardise the output to its own mean and std (engine/preprocessing.ts). */
  standardize?: 'image' | 'none';
  /** Refuse images with more pixels than this (decompression bombs). Default 64 Mpx. */
  maxPixels?: number;
  /** Decode memory budget in bytes (largest raster held). Default maxPixels × 8. */
  maxBytes?: number;
}

const MIN_SIDE = 16;

function fail(where: string, what: string, err?: unknown): never {
  const detail = err === undefined ? '' : ` (${errorMessage(err, { firstLine: true })})`;
  throw new Error(`${where}: ${what}${detail}`);
}

/** sharp refused by limitInputPixels: say so, instead of "corrupt". */
function failDecode(where: string, err: unknown, lim: ResolvedLimits): never {
  if (isSharpPixelLimit(err)) fail(where, `image too large (more than ${lim.maxPixels} pixels)`);
  fail(where, 'corrupt or unsupported image', err);
}

const BYTES_PER_SAMPLE: Record<string, number> = {
  uchar: 1,
  char: 1,
  ushort: 2,
  short: 2,
  uint: 4,
  int: 4,
  float: 4,
  complex: 8,
  double: 8,
  dpcomplex: 16,
};

/** Decode an image file (PNG, JPEG, DICOM, anything sharp reads) to preprocessed grayscale. */
export async function decodeImage(path: string, opts: ImageOptions = {}): Promise<GrayImage> {
  let buf: Buffer;
  try {
    // A FIFO or device would block readFile (or never end): regular files only.
    const st = await stat(path);
    if (st.isDirectory()) fail(path, 'is a directory, not an image');
    if (!st.isFile()) fail(path, 'not a regular file (device, FIFO or socket)');
    buf = await readFile(path);
  } catch (err) {
    if (!(err as NodeJS.ErrnoException).code) throw err;
    const why = unreadableReason(path, err);
    fail(path, why === 'not found' ? 'image file not found' : `cannot read image: ${why}`);
  }
  return decodeImageBuffer(buf, path, opts);
}

/** As decodeImage, from bytes; `where` names the input in errors. */
export async function decodeImageBuffer(buf: Uint8Array, where: string, opts: ImageOptions = {}): Promise<GrayImage> {
  if (buf.length === 0) fail(where, 'empty image file');
  const lim = resolveLimits(opts);
  const maxPixels = lim.maxPixels;
  let pipeline: Sharp;
  let W = 0,
    H = 0; // the decoded raster's size, for a region
  if (looksLikeDicom(buf) || /\.dcm$/i.test(where)) {
    // decodeDicom enforces the same limits inside, before it decodes.
    const d = await decodeDicom(buf, where, lim);
    checkSize(where, d.width, d.height, lim, 1);
    pipeline = sharp(d.pixels, { raw: { width: d.width, height: d.height, channels: 1 } });
    W = d.width;
    H = d.height;
  } else {
    let meta: Metadata;
    try {
      meta = await sharp(buf, { limitInputPixels: maxPixels }).metadata();
    } catch (err) {
      failDecode(where, err, lim);
    }
    const sample = BYTES_PER_SAMPLE[meta.depth ?? 'uchar'] ?? 8;
    const channels = Math.max(1, meta.channels ?? 1);
    // The 16-bit path below holds the 16-bit raster plus an 8-bit copy.
    checkSize(where, meta.width ?? 0, meta.height ?? 0, lim, channels * sample + (meta.depth === 'ushort' ? 1 : 0));
    if (meta.depth === 'ushort') {
      // 16-bit PNG/TIFF: sharp would keep only the high byte (dark 12-bit data); stretch
      // the actual value range to 8 bits instead.
      const g = await run(
        where,
        sharp(buf, { limitInputPixels: maxPixels }).toColourspace('grey16').raw({ depth: 'ushort' }),
        lim,
      );
      const n = g.info.width * g.info.height;
      const ch = g.info.channels;
      const src = new Uint16Array(g.data.buffer, g.data.byteOffset, n * ch);
      let lo = 65535;
      let hi = 0;
      for (let i = 0; i < n; i++) {
        const v = src[i * ch];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const span = hi > lo ? hi - lo : 1;
      const px = new Uint8Array(n);
      for (let i = 0; i < n; i++) px[i] = Math.round(((src[i * ch] - lo) * 255) / span);
      pipeline = sharp(px, { raw: { width: g.info.width, height: g.info.height, channels: 1 } });
      W = g.info.width;
      H = g.info.height;
    } else {
      pipeline = sharp(buf, { limitInputPixels: maxPixels, failOn: 'error' }).removeAlpha();
      W = meta.width ?? 0;
      H = meta.height ?? 0;
    }
  }
  // sharp extracts before it resizes when extract is called first.
  if (opts.region) pipeline = pipeline.extract(regionPixels(opts.region, W, H));
  if (opts.size !== undefined) {
    const s = opts.size;
    if (!Number.isInteger(s) || s < 8 || s > 4096) fail(where, `invalid output size ${s}`);
    const fit = opts.fit ?? 'letterbox';
    pipeline = pipeline.resize(s, s, {
      fit: fit === 'letterbox' ? 'contain' : fit === 'crop' ? 'cover' : 'fill',
      background: { r: 0, g: 0, b: 0 },
    });
  }
  if (opts.equalize === 'clahe') {
    const w = Math.max(3, Math.round((opts.size ?? 256) / 8));
    pipeline = pipeline.clahe({ width: w, height: w, maxSlope: 3 });
  }
  const out = await run(where, pipeline.grayscale().raw(), lim);
  const n = out.info.width * out.info.height;
  const ch = out.info.channels;
  let pixels: Uint8Array;
  if (ch === 1) pixels = new Uint8Array(out.data.buffer, out.data.byteOffset, n).slice();
  else {
    pixels = new Uint8Array(n);
    for (let i = 0; i < n; i++) pixels[i] = out.data[i * ch];
  }
  if (opts.equalize === 'hist') equalizeHistogram(pixels);
  if (opts.standardize === 'image') standardizeImage(pixels);
  return { pixels, width: out.info.width, height: out.info.height };
}

async function run(where: string, p: Sharp, lim: ResolvedLimits): Promise<{ data: Buffer; info: OutputInfo }> {
  try {
    return await p.toBuffer({ resolveWithObject: true });
  } catch (err) {
    failDecode(where, err, lim);
  }
}

function checkSize(where: string, w: number, h: number, lim: ResolvedLimits, bytesPerPixel: number): void {
  if (w < MIN_SIDE || h < MIN_SIDE) fail(where, `image too small (${w}×${h}; at least ${MIN_SIDE}×${MIN_SIDE})`);
  checkRaster(where, w, h, bytesPerPixel, lim);
}

/** Encode grayscale as PNG (lossless: augmented outputs and phantoms stay exact). */
export async function encodePng(img: GrayImage): Promise<Buffer> {
  return sharp(img.pixels, { raw: { width: img.width, height: img.height, channels: 1 } })
    .png({ compressionLevel: 6 })
    .toBuffer();
}
