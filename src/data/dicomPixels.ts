// DICOM pixel modules read without I/O or sharp: the header fields, the checks of what a decoder here
// supports, and the native (uncompressed) pixels with rescale, VOI window (else min–max). data/dicom.ts
// uses them with dicom-parser under Node; the in-browser page (app/export/web) with dicom-parser's
// browser build, so a DICOM gives the same 8-bit image in both.
type DataSet = import('dicom-parser').DataSet;
type Element = DataSet['elements'][string];

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
export const UNCOMPRESSED = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1']);
export const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';

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

export function headerOf(ds: DataSet, where: string): DicomHeader {
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
export function assertPixelModule(h: DicomHeader, where: string): void {
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

export function assertSupported(h: DicomHeader, where: string): void {
  if (UNCOMPRESSED.has(h.transferSyntax) || h.transferSyntax === JPEG_BASELINE) return;
  const name = TRANSFER_SYNTAXES[h.transferSyntax] ?? 'unknown';
  throw new Error(
    `${where}: unsupported DICOM transfer syntax ${h.transferSyntax} (${name}); supported: uncompressed ` +
      `little endian and JPEG Baseline (1.2.840.10008.1.2.4.50)`,
  );
}

export function firstNumber(ds: DataSet, tag: string): number | undefined {
  const s = ds.string(tag);
  if (!s) return undefined;
  const v = parseFloat(s.split('\\')[0]);
  return Number.isFinite(v) ? v : undefined;
}

/**
 * Native pixels, read in place (no copy of the input) in two passes, range then mapping,
 * so the only allocation is the 8-bit output: Rows × Columns bytes.
 */
export function decodeNative(buf: Uint8Array, ds: DataSet, pe: Element, h: DicomHeader, where: string): Uint8Array {
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
