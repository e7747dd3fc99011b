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
import {
  assertPixelModule,
  assertSupported,
  decodeNative,
  type DicomHeader,
  headerOf,
  JPEG_BASELINE,
} from './dicomPixels.js';
export type { DicomHeader } from './dicomPixels.js';

// dicom-parser ships a UMD bundle: load it through require so its exports are reliable.
const dicomParser = createRequire(import.meta.url)('dicom-parser') as typeof import('dicom-parser');
type DataSet = import('dicom-parser').DataSet;

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

/** Parse the header only (for building manifests); throws on unsupported transfer syntax. */
export function readDicomHeader(buf: Uint8Array, where = 'DICOM'): DicomHeader {
  const h = headerOf(parse(buf, where), where);
  assertSupported(h, where);
  assertPixelModule(h, where);
  return h;
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
