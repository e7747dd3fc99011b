// Encodes minimal valid DICOM Part 10 files (explicit VR little endian dataset; native or
// encapsulated pixel data): test fixtures, and the hostile inputs of `bench --serve --hostile`.

export interface DicomSpec {
  rows: number;
  columns: number;
  /** Native pixel values (row-major) for uncompressed syntaxes. */
  values?: number[] | Uint16Array | Uint8Array;
  /** 8 or 16 for valid files; other values make header-lie fixtures. */
  bitsAllocated?: number;
  bitsStored?: number;
  /** SamplesPerPixel (0028,0002); default 1. */
  samplesPerPixel?: number;
  /** NumberOfFrames (0028,0008); written only when set. */
  numberOfFrames?: number | string;
  signed?: boolean;
  photometric?: 'MONOCHROME1' | 'MONOCHROME2';
  slope?: number;
  intercept?: number;
  windowCenter?: number;
  windowWidth?: number;
  patientId?: string;
  view?: string;
  transferSyntax?: string;
  /** Encapsulated frame bytes (JPEG etc.); when set, pixel data is encapsulated. */
  frame?: Uint8Array;
  /** Drop this many bytes from the end (truncated file). */
  truncate?: number;
  /** Native pixel data bytes as given (overrides `values`): e.g. shorter than the header says. */
  pixelBytes?: Uint8Array;
}

const LONG_VRS = new Set(['OB', 'OW', 'OF', 'SQ', 'UT', 'UN']);

function element(group: number, elem: number, vr: string, value: Uint8Array): Uint8Array {
  const pad = value.length % 2;
  const v = pad ? Uint8Array.from([...value, vr === 'UI' || vr === 'OB' ? 0 : 0x20]) : value;
  const long = LONG_VRS.has(vr);
  const head = new Uint8Array(long ? 12 : 8);
  const dv = new DataView(head.buffer);
  dv.setUint16(0, group, true);
  dv.setUint16(2, elem, true);
  head[4] = vr.charCodeAt(0);
  head[5] = vr.charCodeAt(1);
  if (long) dv.setUint32(8, v.length, true);
  else dv.setUint16(6, v.length, true);
  return concat([head, v]);
}

const str = (s: string) => new TextEncoder().encode(s);
const us = (n: number) => {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, n, true);
  return b;
};
const ul = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function item(tagElem: number, data: Uint8Array): Uint8Array {
  const h = new Uint8Array(8);
  const dv = new DataView(h.buffer);
  dv.setUint16(0, 0xfffe, true);
  dv.setUint16(2, tagElem, true);
  dv.setUint32(4, data.length, true);
  return concat([h, data]);
}

export function encodeDicom(spec: DicomSpec): Buffer {
  const ts = spec.transferSyntax ?? (spec.frame ? '1.2.840.10008.1.2.4.50' : '1.2.840.10008.1.2.1');
  const metaBody = concat([
    element(0x0002, 0x0001, 'OB', Uint8Array.from([0, 1])),
    element(0x0002, 0x0002, 'UI', str('1.2.840.10008.5.1.4.1.1.1.1')),
    element(0x0002, 0x0003, 'UI', str('1.2.3.4.5.6.7')),
    element(0x0002, 0x0010, 'UI', str(ts)),
  ]);
  const meta = concat([element(0x0002, 0x0000, 'UL', ul(metaBody.length)), metaBody]);
  const bits = spec.bitsAllocated ?? 16;
  const ds: Uint8Array[] = [
    element(0x0008, 0x0060, 'CS', str('DX')),
    element(0x0010, 0x0020, 'LO', str(spec.patientId ?? 'PAT001')),
    element(0x0018, 0x5101, 'CS', str(spec.view ?? 'PA')),
    element(0x0028, 0x0002, 'US', us(spec.samplesPerPixel ?? 1)),
    element(0x0028, 0x0004, 'CS', str(spec.photometric ?? 'MONOCHROME2')),
    ...(spec.numberOfFrames !== undefined ? [element(0x0028, 0x0008, 'IS', str(String(spec.numberOfFrames)))] : []),
    element(0x0028, 0x0010, 'US', us(spec.rows)),
    element(0x0028, 0x0011, 'US', us(spec.columns)),
    element(0x0028, 0x0100, 'US', us(bits)),
    element(0x0028, 0x0101, 'US', us(spec.bitsStored ?? bits)),
    element(0x0028, 0x0102, 'US', us((spec.bitsStored ?? bits) - 1)),
    element(0x0028, 0x0103, 'US', us(spec.signed ? 1 : 0)),
  ];
  if (spec.windowCenter !== undefined) ds.push(element(0x0028, 0x1050, 'DS', str(String(spec.windowCenter))));
  if (spec.windowWidth !== undefined) ds.push(element(0x0028, 0x1051, 'DS', str(String(spec.windowWidth))));
  if (spec.intercept !== undefined) ds.push(element(0x0028, 0x1052, 'DS', str(String(spec.intercept))));
  if (spec.slope !== undefined) ds.push(element(0x0028, 0x1053, 'DS', str(String(spec.slope))));
  if (spec.frame) {
    const head = new Uint8Array(12);
    const dv = new DataView(head.buffer);
    dv.setUint16(0, 0x7fe0, true);
    dv.setUint16(2, 0x0010, true);
    head[4] = 0x4f; // 'O'
    head[5] = 0x42; // 'B'
    dv.setUint32(8, 0xffffffff, true);
    const frame = spec.frame.length % 2 ? concat([spec.frame, new Uint8Array(1)]) : spec.frame;
    ds.push(head, item(0xe000, new Uint8Array(0)), item(0xe000, frame), item(0xe0dd, new Uint8Array(0)));
  } else if (spec.pixelBytes) {
    ds.push(element(0x7fe0, 0x0010, bits === 8 ? 'OB' : 'OW', spec.pixelBytes));
  } else {
    const n = spec.rows * spec.columns;
    const vals = spec.values ?? new Array(n).fill(0);
    const px = new Uint8Array(n * (bits / 8));
    const dv = new DataView(px.buffer);
    for (let i = 0; i < n; i++) {
      if (bits === 8) px[i] = Number(vals[i]) & 0xff;
      else dv.setUint16(i * 2, Number(vals[i]) & 0xffff, true);
    }
    ds.push(element(0x7fe0, 0x0010, bits === 8 ? 'OB' : 'OW', px));
  }
  const preamble = new Uint8Array(132);
  preamble.set(str('DICM'), 128);
  const all = concat([preamble, meta, ...ds]);
  return Buffer.from(spec.truncate ? all.subarray(0, all.length - spec.truncate) : all);
}
