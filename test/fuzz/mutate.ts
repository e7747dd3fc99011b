// fast-check arbitraries that mutate valid PNG/JPEG/DICOM bytes: bit flips, truncations,
// inserted/deleted bytes and header field lies (PNG IHDR, JPEG SOF, DICOM Rows/Columns/
// BitsAllocated/BitsStored/SamplesPerPixel/NumberOfFrames and the pixel data length).
import fc from 'fast-check';
import { crc32 } from 'node:zlib';

export type Format = 'png' | 'jpeg' | 'dicom';

interface Field {
  name: string;
  /** Offset of the value in the seed. */
  at: number;
  size: 1 | 2 | 4;
  endian: 'LE' | 'BE';
  /** A fixed-width decimal string field (DICOM IS) instead of a binary integer. */
  text?: number;
}

/** The header fields of a seed that the fuzzer may lie about. */
function fieldsOf(format: Format, seed: Buffer): Field[] {
  if (format === 'png') {
    return [
      { name: 'png.width', at: 16, size: 4, endian: 'BE' },
      { name: 'png.height', at: 20, size: 4, endian: 'BE' },
      { name: 'png.bitDepth', at: 24, size: 1, endian: 'BE' },
      { name: 'png.colorType', at: 25, size: 1, endian: 'BE' },
    ];
  }
  const out: Field[] = [];
  // A baseline SOF0 (FF C0) anywhere: the plain JPEG's or the one inside a DICOM.
  const sof = seed.indexOf(Buffer.from([0xff, 0xc0]));
  if (sof >= 0) {
    out.push(
      { name: 'jpeg.precision', at: sof + 4, size: 1, endian: 'BE' },
      { name: 'jpeg.height', at: sof + 5, size: 2, endian: 'BE' },
      { name: 'jpeg.width', at: sof + 7, size: 2, endian: 'BE' },
      { name: 'jpeg.components', at: sof + 9, size: 1, endian: 'BE' },
    );
  }
  if (format === 'dicom') {
    const tag = (g: number, e: number, vr: string) => {
      const b = Buffer.alloc(6);
      b.writeUInt16LE(g, 0);
      b.writeUInt16LE(e, 2);
      b.write(vr, 4, 'latin1');
      return seed.indexOf(b);
    };
    const us = (name: string, e: number) => {
      const at = tag(0x0028, e, 'US');
      if (at > 0) out.push({ name, at: at + 8, size: 2, endian: 'LE' });
    };
    us('dicom.samplesPerPixel', 0x0002);
    us('dicom.rows', 0x0010);
    us('dicom.columns', 0x0011);
    us('dicom.bitsAllocated', 0x0100);
    us('dicom.bitsStored', 0x0101);
    us('dicom.pixelRepresentation', 0x0103);
    const frames = tag(0x0028, 0x0008, 'IS');
    if (frames > 0)
      out.push({
        name: 'dicom.numberOfFrames',
        at: frames + 8,
        size: 4,
        endian: 'LE',
        text: seed.readUInt16LE(frames + 6),
      });
    for (const vr of ['OB', 'OW']) {
      const px = tag(0x7fe0, 0x0010, vr);
      if (px > 0) out.push({ name: 'dicom.pixelDataLength', at: px + 8, size: 4, endian: 'LE' });
    }
  }
  return out;
}

type Mutation =
  | { kind: 'flip'; pos: number; bit: number }
  | { kind: 'truncate'; pos: number }
  | { kind: 'insert'; pos: number; bytes: Uint8Array }
  | { kind: 'delete'; pos: number; len: number }
  | { kind: 'field'; field: number; value: number; fixCrc: boolean }
  /** Recompute every PNG chunk CRC last, so flipped bytes reach the decoder instead of libpng's CRC check. */
  | { kind: 'pngCrcs' };

/** Values that sit on the edges decoders get wrong. */
const edgy = fc.oneof(
  fc.constantFrom(
    0,
    1,
    2,
    3,
    7,
    8,
    9,
    12,
    15,
    16,
    17,
    32,
    63,
    64,
    65,
    127,
    128,
    255,
    256,
    4096,
    16383,
    16384,
    16385,
    32767,
    65535,
    0x7fffffff,
    0xffffffff,
  ),
  fc.nat({ max: 0xffffffff }),
);

/**
 * Positions are taken modulo the current length, so one arbitrary serves every seed; half
 * fall in the first 300 bytes, where the headers are. (Integers, not doubles in [0, 1):
 * fast-check biases doubles towards 0, which would mostly hit the magic bytes.)
 */
const pos = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.nat());

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('flip' as const), pos, bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), pos }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('insert' as const),
      pos,
      bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('delete' as const), pos, len: fc.integer({ min: 1, max: 64 }) }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('field' as const), field: fc.nat(), value: edgy, fixCrc: fc.boolean() }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'pngCrcs' as const }) },
);

/** Walks the PNG chunks (as far as their lengths allow) and rewrites each CRC. */
function fixPngCrcs(b: Buffer): void {
  for (let at = 8; at + 12 <= b.length; ) {
    const len = b.readUInt32BE(at);
    if (at + 12 + len > b.length) break;
    b.writeUInt32BE(crc32(b.subarray(at + 4, at + 8 + len)) >>> 0, at + 8 + len);
    at += 12 + len;
  }
}

function writeField(b: Buffer, f: Field, value: number): void {
  if (f.at + f.size > b.length) return;
  if (f.text) {
    const s = (value % 2 ? -value : value).toString().slice(0, f.text).padEnd(f.text, ' ');
    b.write(s, f.at, f.text, 'latin1');
    return;
  }
  const v = value >>> 0;
  if (f.size === 1) b[f.at] = v & 0xff;
  else if (f.size === 2) f.endian === 'LE' ? b.writeUInt16LE(v & 0xffff, f.at) : b.writeUInt16BE(v & 0xffff, f.at);
  else f.endian === 'LE' ? b.writeUInt32LE(v, f.at) : b.writeUInt32BE(v, f.at);
}

/** Applies the mutations in order; field offsets refer to the seed, so field lies come first. */
export function applyMutations(format: Format, seed: Buffer, ms: Mutation[]): Buffer {
  const fields = fieldsOf(format, seed);
  let b = Buffer.from(seed);
  const ordered = [
    ...ms.filter((m) => m.kind === 'field'),
    ...ms.filter((m) => m.kind !== 'field' && m.kind !== 'pngCrcs'),
    ...ms.filter((m) => m.kind === 'pngCrcs'),
  ];
  for (const m of ordered) {
    const pos = 'pos' in m && b.length ? m.pos % b.length : 0;
    switch (m.kind) {
      case 'flip':
        if (b.length) b[pos] = b[pos]! ^ (1 << m.bit);
        break;
      case 'truncate':
        b = b.subarray(0, pos);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, pos), m.bytes, b.subarray(pos)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, pos), b.subarray(pos + m.len)]);
        break;
      case 'pngCrcs':
        if (format === 'png') fixPngCrcs(b);
        break;
      case 'field': {
        if (!fields.length) break;
        writeField(b, fields[m.field % fields.length]!, m.value);
        // Keep the PNG IHDR CRC valid half the time, so the lie reaches the size checks.
        if (format === 'png' && m.fixCrc && b.length >= 33) b.writeUInt32BE(crc32(b.subarray(12, 29)) >>> 0, 29);
        break;
      }
    }
  }
  return b;
}

export const mutations = fc.array(mutation, { minLength: 1, maxLength: 4 });
