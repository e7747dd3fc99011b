// DICOM decoding with dicom-parser: uncompressed (implicit/explicit VR little endian) and
// JPEG baseline (frame decoded by sharp). Modality rescale and the VOI window are applied
// and MONOCHROME1 is inverted, so every image comes out as "bones bright" 8-bit grayscale.
// Single-frame only (CXRs are): a multi-frame file is refused rather than silently cut to
// its first frame. Every size, depth and length is checked against the header and the
// limits (decodeLimits.ts) before a pixel is decoded.
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { errorMessage } from '../util/errorMessage.js';
import {
  checkRaster,
  isSharpPixelLimit,
  resolveLimits,
  type DecodeLimits,
  type ResolvedLimits,
} from './decodeLimits.js';

// dicom-parser ships a UMD bundle: load it through require so its exports are reliable.
const dicomParser = createRequire(import.meta.url)('dicom-parser') as typeof import('dicom-parser');
type DataSet = import('dicom-parser').DataSet;

const TRANSFER_SYNTAXES: Record<string, string> = {
  '1.2.840.10008.1.2': 'Implicit VR Little Endian',
  '1.2.840.10008.1.2.1': 'Explicit VR Little Endian',
  '1.2.840.10008.1.2.1.99': 'Deflated Explicit VR Little Endian',
  '1.2.840.10008.1.2.2': 'Explicit VR Big Endian',
  '1.2.840.10008.1.2.4.50': 'JPEG Baseline (Process 1)',
  '1.2.840.10008.1.2.4.51': 'JPEG Extended (Process 2 & 4)',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless (Process 14)',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless SV1',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Near-Lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 Lossless',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000',
  '1.2.840.10008.1.2.5': 'RLE Lossless',
};
const UNCOMPRESSED = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1']);
const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';

export interface DicomHeader {
  transferSyntax: string;
  rows: number;
  columns: number;
  /** Raw PatientID (0010,0020); store only `hashPatientId(...)` of it. */
  patientId: string;
  /** ViewPosition (0018,5101), e.g. PA/AP. */
  view: string;
  photometric: string;
  modality: string;
  /** NumberOfFrames (0028,0008), 1 when absent. */
  frames: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
}

interface DicomImage extends DicomHeader {
  /** 8-bit grayscale, rows × columns, bones bright. */
  pixels: Uint8Array;
  width: number;
  height: number;
}

/** Stable pseudonym for a PatientID, so manifests never carry the real identifier. */
export function hashPatientId(raw: string): string {
  return createHash('sha256').update(raw.trim()).digest('hex').slice(0, 16);
}

/** Cheap check used to recognise DICOM files regardless of extension ('DICM' at 128). */
export function looksLikeDicom(buf: Uint8Array): boolean {
  return buf.length >= 132 && buf[128] === 0x44 && buf[129] === 0x49 && buf[130] === 0x43 && buf[131] === 0x4d;
}

function parse(buf: Uint8Array, where: string): DataSet {
  try {
    return dicomParser.parseDicom(buf);
  } catch (err) {
    // dicom-parser throws strings and `{ exception, dataSet }` objects, not Errors.
    const msg = errorMessage(err);
    throw new Error(
      `${where}: not a readable DICOM file (${/eof|buffer|end of/i.test(msg) ? 'truncated: ' : ''}${msg})`,
    );
  }
}

function headerOf(ds: DataSet, where: string): DicomHeader {
  const ts = (ds.string('x00020010') ?? '').trim();
  const rows = ds.uint16('x00280010') ?? 0;
  const columns = ds.uint16('x00280011') ?? 0;
  if (!ts) throw new Error(`${where}: DICOM without a transfer syntax (0002,0010)`);
  return {
    transferSyntax: ts,
    rows,
    columns,
    patientId: (ds.string('x00100020') ?? '').trim(),
    view: (ds.string('x00185101') ?? '').trim(),
    photometric: (ds.string('x00280004') ?? 'MONOCHROME2').trim().toUpperCase(),
    modality: (ds.string('x00080060') ?? '').trim(),
    frames: frameCount(ds, where),
    samplesPerPixel: ds.uint16('x00280002') ?? 1,
    bitsAllocated: ds.uint16('x00280100') ?? (ts === JPEG_BASELINE ? 8 : 16),
    bitsStored: ds.uint16('x00280101') ?? ds.uint16('x00280100') ?? (ts === JPEG_BASELINE ? 8 : 16),
  };
}

function frameCount(ds: DataSet, where: string): number {
  const s = (ds.string('x00280008') ?? '').trim();
  if (!s) return 1;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${where}: invalid DICOM NumberOfFrames '${s.slice(0, 20)}'`);
  return n;
}

/** Frames, samples and bit depths a decoder here can handle (before any pixel is read). */
function assertPixelModule(h: DicomHeader, where: string): void {
  const bad = (what: string) => new Error(`${where}: unsupported DICOM pixel format: ${what}`);
  if (h.frames > 1) throw bad(`multi-frame DICOM (${h.frames} frames); only single-frame images are supported`);
  if (h.transferSyntax === JPEG_BASELINE) {
    if (h.samplesPerPixel !== 1 && h.samplesPerPixel !== 3)
      throw bad(`SamplesPerPixel ${h.samplesPerPixel} (JPEG: 1 or 3)`);
    if (h.bitsAllocated !== 8) throw bad(`BitsAllocated ${h.bitsAllocated} with JPEG Baseline (8-bit only)`);
  } else {
    if (h.samplesPerPixel !== 1) throw bad(`SamplesPerPixel ${h.samplesPerPixel} (grayscale only: 1)`);
    if (h.bitsAllocated !== 8 && h.bitsAllocated !== 16) throw bad(`BitsAllocated ${h.bitsAllocated} (8 or 16)`);
  }
  if (h.bitsStored < 1 || h.bitsStored > h.bitsAllocated)
    throw bad(`BitsStored ${h.bitsStored} with BitsAllocated ${h.bitsAllocated}`);
}

function assertSupported(h: DicomHeader, where: string): void {
  if (UNCOMPRESSED.has(h.transferSyntax) || h.transferSyntax === JPEG_BASELINE) return;
  const name = TRANSFER_SYNTAXES[h.transferSyntax] ?? 'unknown';
  throw new Error(
    `${where}: unsupported DICOM transfer syntax ${h.transferSyntax} (${name}); supported: uncompressed ` +
      `little endian and JPEG Baseline (1.2.840.10008.1.2.4.50)`,
  );
}

/** Parse the header only (for building manifests); throws on unsupported transfer syntax. */
export function readDicomHeader(buf: Uint8Array, where = 'DICOM'): DicomHeader {
  const h = headerOf(parse(buf, where), where);
  assertSupported(h, where);
  assertPixelModule(h, where);
  return h;
}

function firstNumber(ds: DataSet, tag: string): number | undefined {
  const s = ds.string(tag);
  if (!s) return undefined;
  const v = parseFloat(s.split('\\')[0]);
  return Number.isFinite(v) ? v : undefined;
}

type DicomDecodeOptions = DecodeLimits;

/**
 * Decode to 8-bit grayscale with rescale, VOI window (else min–max) and MONOCHROME1 inversion.
 * Rows × Columns, the embedded JPEG's own size, the pixel data length and the bit depths are
 * all checked (against each other and `limits`) before any pixel is decoded.
 */
export async function decodeDicom(
  buf: Uint8Array,
  where = 'DICOM',
  limits: DicomDecodeOptions = {},
): Promise<DicomImage> {
  const lim = resolveLimits(limits);
  const ds = parse(buf, where);
  const h = headerOf(ds, where);
  assertSupported(h, where);
  const pe = ds.elements.x7fe00010;
  if (!pe) throw new Error(`${where}: DICOM has no pixel data (7FE0,0010)`);
  if (!h.rows || !h.columns) throw new Error(`${where}: DICOM without Rows/Columns`);
  // The size first: a lying Rows/Columns is "too large" whatever else is wrong.
  checkRaster(where, h.columns, h.rows, 1, lim);
  assertPixelModule(h, where);
  const px =
    h.transferSyntax === JPEG_BASELINE
      ? await decodeJpegFrame(ds, pe, h, where, lim)
      : decodeNative(buf, ds, pe, h, where);
  if (h.photometric === 'MONOCHROME1') for (let i = 0; i < px.length; i++) px[i] = 255 - px[i];
  return { ...h, pixels: px, width: h.columns, height: h.rows };
}

type Element = DataSet['elements'][string];

/** The encapsulated JPEG: its SOF header is read (cheap) and must match Rows/Columns before decoding. */
async function decodeJpegFrame(
  ds: DataSet,
  pe: Element,
  h: DicomHeader,
  where: string,
  lim: ResolvedLimits,
): Promise<Uint8Array> {
  let frame: Uint8Array;
  try {
    frame =
      pe.fragments && pe.fragments.length > 0
        ? dicomParser.readEncapsulatedPixelDataFromFragments(ds, pe, 0, pe.fragments.length)
        : dicomParser.readEncapsulatedImageFrame(ds, pe, 0);
  } catch (err) {
    throw new Error(`${where}: cannot read encapsulated JPEG frame (${errorMessage(err)})`);
  }
  let meta: Metadata;
  try {
    meta = await sharp(frame, { limitInputPixels: lim.maxPixels }).metadata();
  } catch (err) {
    if (isSharpPixelLimit(err))
      throw new Error(
        `${where}: embedded JPEG too large (more than ${lim.maxPixels} pixels; header says ${h.columns}×${h.rows})`,
      );
    throw new Error(`${where}: corrupt JPEG frame in DICOM (${errorMessage(err, { firstLine: true })})`);
  }
  if (meta.format !== 'jpeg')
    throw new Error(`${where}: the encapsulated frame is not a JPEG (${meta.format ?? 'unknown format'})`);
  const w = meta.width ?? 0;
  const hgt = meta.height ?? 0;
  checkRaster(`${where}: embedded JPEG`, w, hgt, Math.max(1, meta.channels ?? 1), lim);
  if (w !== h.columns || hgt !== h.rows) {
    throw new Error(`${where}: embedded JPEG is ${w}×${hgt}, which does not match the header's ${h.columns}×${h.rows}`);
  }
  let out: Buffer;
  let info: OutputInfo;
  try {
    ({ data: out, info } = await sharp(frame, { limitInputPixels: lim.maxPixels })
      .grayscale()
      .raw()
      .toBuffer({ resolveWithObject: true }));
  } catch (err) {
    throw new Error(`${where}: corrupt JPEG frame in DICOM (${errorMessage(err, { firstLine: true })})`);
  }
  if (info.width !== h.columns || info.height !== h.rows) {
    throw new Error(
      `${where}: JPEG frame is ${info.width}×${info.height}, which does not match the header's ${h.columns}×${h.rows}`,
    );
  }
  // JPEG frames carry display values already; only MONOCHROME1 needs flipping (by the caller).
  const n = h.rows * h.columns;
  if (info.channels === 1) return new Uint8Array(out.buffer, out.byteOffset, n).slice();
  const px = new Uint8Array(n);
  for (let i = 0; i < n; i++) px[i] = out[i * info.channels]!;
  return px;
}

/**
 * Native pixels, read in place (no copy of the input) in two passes, range then mapping,
 * so the only allocation is the 8-bit output: Rows × Columns bytes.
 */
function decodeNative(buf: Uint8Array, ds: DataSet, pe: Element, h: DicomHeader, where: string): Uint8Array {
  if (!h.photometric.startsWith('MONOCHROME')) {
    throw new Error(`${where}: unsupported DICOM photometric interpretation ${h.photometric} (grayscale only)`);
  }
  const n = h.rows * h.columns;
  const bytes = h.bitsAllocated / 8;
  if (pe.encapsulatedPixelData || pe.hadUndefinedLength) {
    throw new Error(
      `${where}: corrupt DICOM: encapsulated pixel data under the uncompressed syntax ${h.transferSyntax}`,
    );
  }
  const available = Number.isFinite(pe.length) ? Math.max(0, Math.min(pe.length, buf.length - pe.dataOffset)) : 0;
  if (available < n * bytes) {
    throw new Error(
      `${where}: truncated DICOM pixel data (${available} bytes, header says ${h.columns}×${h.rows} × ` +
        `${bytes} = ${n * bytes})`,
    );
  }
  const signed = (ds.uint16('x00280103') ?? 0) === 1;
  const bitsStored = h.bitsStored;
  const dv = new DataView(buf.buffer, buf.byteOffset + pe.dataOffset, n * bytes);
  const slope = firstNumber(ds, 'x00281053') ?? 1;
  const intercept = firstNumber(ds, 'x00281052') ?? 0;
  const mask = bitsStored >= 32 ? 0xffffffff : (1 << bitsStored) - 1;
  const value = (i: number): number => {
    let raw = bytes === 1 ? dv.getUint8(i) : dv.getUint16(i * 2, true);
    raw &= mask;
    // Sign-extend from BitsStored for signed data.
    if (signed && raw & (1 << (bitsStored - 1))) raw -= 1 << bitsStored;
    // float32 like the raster this used to be stored in, so outputs are unchanged.
    return Math.fround(raw * slope + intercept);
  };
  const wc = firstNumber(ds, 'x00281050');
  const ww = firstNumber(ds, 'x00281051');
  const px = new Uint8Array(n);
  if (wc !== undefined && ww !== undefined && ww >= 1) {
    // DICOM PS3.3 C.11.2.1.2 linear VOI function.
    const c = wc - 0.5;
    const w = ww - 1;
    for (let i = 0; i < n; i++) {
      const x = value(i);
      const y = x <= c - w / 2 ? 0 : x > c + w / 2 ? 255 : ((x - c) / w + 0.5) * 255;
      px[i] = Math.round(Math.min(255, Math.max(0, y)));
    }
  } else {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < n; i++) {
      const v = value(i);
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const span = hi > lo ? hi - lo : 1;
    for (let i = 0; i < n; i++) px[i] = Math.round(((value(i) - lo) / span) * 255);
  }
  return px;
}
