// Provenance cues of one image file: what its origin leaves on it regardless of the anatomy
// (file format, stored size and bit depth, colour channels, compression, and the intensity of
// the frame around the lungs). The audit's metadata-only baseline fits a probe on these alone:
// if they predict the label, the dataset is confounded whatever a network learns.
//
// The intensity cues are measured on an outer band (FRAME_BAND of the side on each edge) and
// a thinner border inside it, not on the whole image: whole-image mean/std also respond to
// lung opacities, i.e. to the disease itself, which would make the baseline score on a
// perfectly unconfounded set. (The fixed lung box of occlusion.ts is too tight for this: lung
// fields reach 10–15 % from the sides, and on clean phantoms with strong lesions a frame
// outside that box still gave AUC 0.71.) File bytes per pixel is recorded but kept out of the
// baseline's features: compression follows content too (lesion texture compresses worse:
// alone it gave AUC 0.61 on 400 clean phantoms).
import { readFileSync, statSync } from 'node:fs';
import sharp, { type Metadata } from 'sharp';
import { looksLikeDicom, readDicomHeader } from './dicom.js';
import { decodeImageBuffer } from './image.js';

const FORMATS = ['png', 'jpeg', 'dicom', 'other'] as const;
/** Side of the thumbnail the intensity cues are measured on. */
const CUE_SIZE = 64;
/** Width of the outer border band, in thumbnail pixels (≈ 5 %). */
const BORDER_PX = 3;
/** The frame: pixel centres outside [FRAME_BAND, 1 − FRAME_BAND)² (the outer 10 % on each edge). */
const FRAME_BAND = 0.1;

interface ProvenanceCues {
  width: number;
  height: number;
  /** Bits per sample as stored (8 or 16; DICOM counts as 16). */
  bitDepth: number;
  /** Colour channels as stored (1 gray, 3 RGB, 4 RGBA; DICOM 1). */
  channels: number;
  format: (typeof FORMATS)[number];
  /** File bytes per stored pixel (compression and quality leave their mark here). */
  bytesPerPixel: number;
  /** Mean and std (0–1) of the outer border band of a stretched 64×64 thumbnail. */
  borderMean: number;
  borderStd: number;
  /** Mean and std (0–1) of the outer 10 % band (FRAME_BAND). */
  frameMean: number;
  frameStd: number;
  /** Share of the frame that is pure black (≤ 2/255) or white (≥ 253/255): padding, burnt-in text. */
  frameBlack: number;
  frameWhite: number;
}

/** Names of the numeric features cueVector() returns, in order. */
export const CUE_FEATURES = [
  'log width',
  'log height',
  'aspect',
  'bit depth',
  'channels',
  ...FORMATS.map((f) => `format ${f}`),
  'border mean',
  'border std',
  'frame mean',
  'frame std',
  'frame black',
  'frame white',
];

export function cueVector(c: ProvenanceCues): number[] {
  return [
    Math.log(c.width),
    Math.log(c.height),
    c.width / c.height,
    c.bitDepth,
    c.channels,
    ...FORMATS.map((f) => (c.format === f ? 1 : 0)),
    c.borderMean,
    c.borderStd,
    c.frameMean,
    c.frameStd,
    c.frameBlack,
    c.frameWhite,
  ];
}

function stats(
  px: Uint8Array,
  keep: (i: number) => boolean,
): { mean: number; std: number; black: number; white: number } {
  let n = 0,
    s = 0,
    s2 = 0,
    black = 0,
    white = 0;
  for (let i = 0; i < px.length; i++) {
    if (!keep(i)) continue;
    const v = px[i]! / 255;
    n++;
    s += v;
    s2 += v * v;
    if (px[i]! <= 2) black++;
    if (px[i]! >= 253) white++;
  }
  const mean = s / n;
  return { mean, std: Math.sqrt(Math.max(0, s2 / n - mean * mean)), black: black / n, white: white / n };
}

/** Intensity cues of a grayscale S×S thumbnail (exported for tests). */
export function intensityCues(
  px: Uint8Array,
  S: number,
): Pick<ProvenanceCues, 'borderMean' | 'borderStd' | 'frameMean' | 'frameStd' | 'frameBlack' | 'frameWhite'> {
  const c = (p: number) => (p + 0.5) / S;
  const inner = (p: number) => c(p) >= FRAME_BAND && c(p) < 1 - FRAME_BAND;
  const border = (i: number) => {
    const x = i % S;
    const y = (i - x) / S;
    return x < BORDER_PX || y < BORDER_PX || x >= S - BORDER_PX || y >= S - BORDER_PX;
  };
  const b = stats(px, border);
  const f = stats(px, (i) => {
    const x = i % S;
    return !(inner(x) && inner((i - x) / S));
  });
  return {
    borderMean: b.mean,
    borderStd: b.std,
    frameMean: f.mean,
    frameStd: f.std,
    frameBlack: f.black,
    frameWhite: f.white,
  };
}

export async function provenanceCues(path: string): Promise<ProvenanceCues> {
  const buf = readFileSync(path);
  const bytes = statSync(path).size;
  let width: number, height: number, bitDepth: number, channels: number;
  let format: ProvenanceCues['format'];
  if (looksLikeDicom(buf) || /\.dcm$/i.test(path)) {
    const h = readDicomHeader(buf, path);
    [width, height, bitDepth, channels, format] = [h.columns, h.rows, 16, 1, 'dicom'];
  } else {
    let meta: Metadata;
    try {
      meta = await sharp(buf).metadata();
    } catch (err) {
      throw new Error(`${path}: corrupt or unsupported image (${(err as Error).message.split('\n')[0]})`);
    }
    width = meta.width ?? 0;
    height = meta.height ?? 0;
    bitDepth = meta.depth === 'ushort' || meta.depth === 'short' ? 16 : 8;
    channels = meta.channels ?? 1;
    format = meta.format === 'png' ? 'png' : meta.format === 'jpeg' ? 'jpeg' : 'other';
  }
  const thumb = await decodeImageBuffer(buf, path, { size: CUE_SIZE, fit: 'stretch' });
  return {
    width,
    height,
    bitDepth,
    channels,
    format,
    bytesPerPixel: bytes / Math.max(1, width * height),
    ...intensityCues(thumb.pixels, CUE_SIZE),
  };
}
