// DICOM decoding with dicom-parser: uncompressed (implicit/explicit VR little endian) and
// JPEG baseline (frame decoded by sharp). Modality rescale and the VOI window are applied
// and MONOCHROME1 is inverted, so every image comes out as "bones bright" 8-bit grayscale.
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { errorMessage } from '../util/errorMessage.js';
import sharp, { type Sharp, type Metadata, type OutputInfo } from 'sharp';

// dicom-parser ships a UMD bundle: load it through require so its exports are reliable.
const dicomParser = createRequire(import.meta.url)('dicom-parser') as typeof import('dicom-parser');
type DataSet = import('dicom-parser').DataSet;

export const TRANSFER_SYNTAXES: Record<string, string> = {
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
export const SUPPORTED_TRANSFER_SYNTAXES = [...UNCOMPRESSED, JPEG_BASELINE];

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
}

export interface DicomImage extends DicomHeader {
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
    const msg = errorMessage(err);
    throw new Error(`${where}: not a readable DICOM file (${/eof|buffer|end of/i.test(msg) ? 'truncated: ' : ''}${msg})`);
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
  };
}

function assertSupported(h: DicomHeader, where: string): void {
  if (UNCOMPRESSED.has(h.transferSyntax) || h.transferSyntax === JPEG_BASELINE) return;
  const name = TRANSFER_SYNTAXES[h.transferSyntax] ?? 'unknown';
  throw new Error(
    `${where}: unsupported DICOM transfer syntax ${h.transferSyntax} (${name}); supported: uncompressed little endian and JPEG Baseline (1.2.840.10008.1.2.4.50)`,
  );
}

/** Parse the header only (for building manifests); throws on unsupported transfer syntax. */
export function readDicomHeader(buf: Uint8Array, where = 'DICOM'): DicomHeader {
  const h = headerOf(parse(buf, where), where);
  assertSupported(h, where);
  return h;
}

function firstNumber(ds: DataSet, tag: string): number | undefined {
  const s = ds.string(tag);
  if (!s) return undefined;
  const v = parseFloat(s.split('\\')[0]);
  return Number.isFinite(v) ? v : undefined;
}

/** Decode to 8-bit grayscale with rescale, VOI window (else min–max) and MONOCHROME1 inversion. */
export async function decodeDicom(buf: Uint8Array, where = 'DICOM'): Promise<DicomImage> {
  const ds = parse(buf, where);
  const h = headerOf(ds, where);
  assertSupported(h, where);
  const pe = ds.elements.x7fe00010;
  if (!pe) throw new Error(`${where}: DICOM has no pixel data (7FE0,0010)`);
  if (!h.rows || !h.columns) throw new Error(`${where}: DICOM without Rows/Columns`);
  const n = h.rows * h.columns;
  const spp = ds.uint16('x00280002') ?? 1;

  if (h.transferSyntax === JPEG_BASELINE) {
    let frame: Uint8Array;
    try {
      frame = pe.fragments && pe.fragments.length > 0
        ? dicomParser.readEncapsulatedPixelDataFromFragments(ds, pe, 0, pe.fragments.length)
        : dicomParser.readEncapsulatedImageFrame(ds, pe, 0);
    } catch (err) {
      throw new Error(`${where}: cannot read encapsulated JPEG frame (${(err as Error).message})`);
    }
    let out: Buffer;
    let info: OutputInfo;
    try {
      ({ data: out, info } = await sharp(frame).grayscale().raw().toBuffer({ resolveWithObject: true }));
    } catch (err) {
      throw new Error(`${where}: corrupt JPEG frame in DICOM (${(err as Error).message})`);
    }
    if (info.width !== h.columns || info.height !== h.rows) {
      throw new Error(`${where}: JPEG frame is ${info.width}×${info.height}, header says ${h.columns}×${h.rows}`);
    }
    const px = new Uint8Array(out.buffer, out.byteOffset, n).slice();
    // JPEG frames carry display values already; only MONOCHROME1 needs flipping.
    if (h.photometric === 'MONOCHROME1') for (let i = 0; i < n; i++) px[i] = 255 - px[i];
    return { ...h, pixels: px, width: h.columns, height: h.rows };
  }

  if (spp !== 1 || !h.photometric.startsWith('MONOCHROME')) {
    throw new Error(`${where}: unsupported DICOM photometric interpretation ${h.photometric} with ${spp} samples (grayscale only)`);
  }
  const bitsAllocated = ds.uint16('x00280100') ?? 16;
  const bitsStored = ds.uint16('x00280101') ?? bitsAllocated;
  const signed = (ds.uint16('x00280103') ?? 0) === 1;
  if (bitsAllocated !== 8 && bitsAllocated !== 16) throw new Error(`${where}: unsupported BitsAllocated ${bitsAllocated} (8 or 16)`);
  const bytes = bitsAllocated / 8;
  if (pe.length < n * bytes || pe.dataOffset + n * bytes > buf.length) {
    throw new Error(`${where}: truncated DICOM pixel data (${Math.max(0, Math.min(pe.length, buf.length - pe.dataOffset))} bytes, expected ${n * bytes})`);
  }
  const dv = new DataView(buf.buffer, buf.byteOffset + pe.dataOffset, n * bytes);
  const slope = firstNumber(ds, 'x00281053') ?? 1;
  const intercept = firstNumber(ds, 'x00281052') ?? 0;
  const mask = bitsStored >= 32 ? 0xffffffff : (1 << bitsStored) - 1;
  const values = new Float32Array(n);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    let raw = bytes === 1 ? dv.getUint8(i) : dv.getUint16(i * 2, true);
    raw &= mask;
    // Sign-extend from BitsStored for signed data.
    if (signed && raw & (1 << (bitsStored - 1))) raw -= 1 << bitsStored;
    const v = raw * slope + intercept;
    values[i] = v;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const wc = firstNumber(ds, 'x00281050');
  const ww = firstNumber(ds, 'x00281051');
  const px = new Uint8Array(n);
  if (wc !== undefined && ww !== undefined && ww >= 1) {
    // DICOM PS3.3 C.11.2.1.2 linear VOI function.
    const c = wc - 0.5;
    const w = ww - 1;
    for (let i = 0; i < n; i++) {
      const x = values[i];
      const y = x <= c - w / 2 ? 0 : x > c + w / 2 ? 255 : ((x - c) / w + 0.5) * 255;
      px[i] = Math.round(Math.min(255, Math.max(0, y)));
    }
  } else {
    const span = hi > lo ? hi - lo : 1;
    for (let i = 0; i < n; i++) px[i] = Math.round(((values[i] - lo) / span) * 255);
  }
  if (h.photometric === 'MONOCHROME1') for (let i = 0; i < n; i++) px[i] = 255 - px[i];
  return { ...h, pixels: px, width: h.columns, height: h.rows };
}
