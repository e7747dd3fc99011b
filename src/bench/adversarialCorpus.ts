// The adversarial corpus: hostile inputs every decoder path must refuse quickly and clearly
// (header lies, decompression bombs, truncations). Generated, not committed: the bombs are
// 0.25–1 MB. The PNG bombs' zlib stream takes ~1.5 s to deflate, so it is cached in the folder given.
// Reused by the decoder fuzz test, the server's fuzz test and `bench --serve --hostile`.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDeflate, crc32 } from 'node:zlib';
import sharp from 'sharp';
import type { StudyInputProblem } from '../app/serve/screen.js';
import { encodeDicom } from './dicomWriter.js';

export interface AdversarialCase {
  name: string;
  bytes: Buffer;
  /** What prepareStudy must do: refuse with this problem kind, or decode ('ok'). Names
   * starting with 'ok-' are honest controls; every other member is hostile. */
  expect: StudyInputProblem | 'ok';
  /** The refusal message must match this. */
  message?: RegExp;
}

/** Side of the bombs: 256 Mpx, under sharp's own default limit (0x3FFF²) so only ours stops it. */
export const BOMB_SIDE = 16000;

async function cached(dir: string, name: string, make: () => Promise<Buffer>): Promise<Buffer> {
  const f = join(dir, name);
  if (existsSync(f)) return readFileSync(f);
  mkdirSync(dir, { recursive: true });
  const b = await make();
  writeFileSync(`${f}.${process.pid}.tmp`, b);
  renameSync(`${f}.${process.pid}.tmp`, f);
  return b;
}

function segment(marker: number, body: number[]): Buffer {
  const head = Buffer.from([0xff, marker, 0, 0]);
  head.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([head, Buffer.from(body)]);
}

/**
 * A valid baseline grayscale JPEG of width×height, every pixel mid-grey, written by hand
 * (encoding a 256 Mpx image with sharp takes seconds and over 1 GB). Both Huffman tables
 * hold one 1-bit code, so each 8×8 block is 2 zero bits (DC difference 0, end of block):
 * 16000×16000 is 1 MB of zero bytes. Decoding it takes a full-size raster.
 */
export function flatJpeg(width: number, height: number): Buffer {
  const blocks = Math.ceil(width / 8) * Math.ceil(height / 8);
  const dqt = segment(0xdb, [0x00, ...new Array<number>(64).fill(1)]);
  const sof0 = segment(0xc0, [8, height >> 8, height & 255, width >> 8, width & 255, 1, 1, 0x11, 0]);
  const huffman = (tableClass: number) => segment(0xc4, [tableClass << 4, 1, ...new Array<number>(15).fill(0), 0x00]);
  const sos = segment(0xda, [1, 1, 0x00, 0, 63, 0]);
  const bits = blocks * 2;
  const data = Buffer.alloc(Math.ceil(bits / 8));
  if (bits % 8) data[data.length - 1] = (1 << (8 - (bits % 8))) - 1; // padding bits are 1s
  return Buffer.concat([
    Buffer.from([0xff, 0xd8]),
    dqt,
    sof0,
    huffman(0),
    huffman(1),
    sos,
    data,
    Buffer.from([0xff, 0xd9]),
  ]);
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td) >>> 0);
  return Buffer.concat([len, td, crc]);
}

/** An 8-bit grayscale PNG with the given IHDR size around the given zlib stream. */
export function pngWith(width: number, height: number, idat: Buffer): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grayscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', idat),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The zlib stream of a side² 8-bit grayscale PNG of zeros, deflated as it streams (never held uncompressed). */
async function zerosZlib(side: number): Promise<Buffer> {
  const z = createDeflate({ level: 9 });
  const parts: Buffer[] = [];
  z.on('data', (b: Buffer) => parts.push(b));
  const done = new Promise((res, rej) => {
    z.on('end', res);
    z.on('error', rej);
  });
  const rows = Buffer.alloc((side + 1) * 100); // 100 rows: filter byte 0 + zeros
  for (let y = 0; y < side; y += 100) {
    const chunkRows = Math.min(100, side - y);
    if (!z.write(rows.subarray(0, chunkRows * (side + 1)))) await new Promise((r) => z.once('drain', r));
  }
  z.end();
  await done;
  return Buffer.concat(parts);
}

/** `png` with an extra chunk right after IHDR. */
function withChunk(png: Buffer, type: string, data: Buffer): Buffer {
  return Buffer.concat([png.subarray(0, 33), chunk(type, data), png.subarray(33)]);
}

/** A small real JPEG whose SOF0 frame header is rewritten to claim width×height. */
export function jpegClaiming(small: Buffer, width: number, height: number): Buffer {
  const b = Buffer.from(small);
  for (let i = 2; i + 9 < b.length; ) {
    if (b[i] !== 0xff) break;
    const marker = b[i + 1]!;
    const len = b.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xc2) {
      b.writeUInt16BE(height, i + 5);
      b.writeUInt16BE(width, i + 7);
      return b;
    }
    i += 2 + len;
  }
  throw new Error('no SOF marker in the JPEG');
}

/** Every member; `dir` (optional) caches the PNG bomb between runs. */
export async function adversarialCorpus(dir?: string): Promise<AdversarialCase[]> {
  const bigJpeg = flatJpeg(BOMB_SIDE, BOMB_SIDE);
  const zeros = dir
    ? await cached(dir, `zeros-${BOMB_SIDE}.zlib`, () => zerosZlib(BOMB_SIDE))
    : await zerosZlib(BOMB_SIDE);
  const bigPng = pngWith(BOMB_SIDE, BOMB_SIDE, zeros);
  const grey = new Uint8Array(64 * 64).map((_, i) => (i * 7) % 251);
  const smallJpeg = await sharp(grey, { raw: { width: 64, height: 64, channels: 1 } })
    .jpeg({ quality: 90 })
    .toBuffer();
  const smallPng = await sharp(grey, { raw: { width: 64, height: 64, channels: 1 } })
    .png()
    .toBuffer();
  const okDicom = encodeDicom({ rows: 64, columns: 64, bitsAllocated: 8, values: grey });
  const jpegDicom = encodeDicom({ rows: 64, columns: 64, bitsAllocated: 8, frame: smallJpeg });
  const tooLarge = /too large|exceeds|does not match/;
  return [
    // Controls: the same path accepts honest inputs.
    { name: 'ok-png', bytes: smallPng, expect: 'ok' },
    { name: 'ok-jpeg', bytes: smallJpeg, expect: 'ok' },
    { name: 'ok-dicom-native', bytes: okDicom, expect: 'ok' },
    { name: 'ok-dicom-jpeg', bytes: jpegDicom, expect: 'ok' },
    // The header-lie attack: 64×64 in the header, 16000×16000 in the embedded JPEG.
    {
      name: 'dicom-header-lie-16000-jpeg',
      bytes: encodeDicom({ rows: 64, columns: 64, bitsAllocated: 8, frame: bigJpeg }),
      expect: 'too_large',
      message: tooLarge,
    },
    {
      name: 'dicom-jpeg-smaller-than-header',
      bytes: encodeDicom({ rows: 128, columns: 128, bitsAllocated: 8, frame: smallJpeg }),
      expect: 'corrupt',
      message: /does not match/,
    },
    {
      name: 'dicom-jpeg-sof-claims-60000',
      bytes: encodeDicom({ rows: 64, columns: 64, bitsAllocated: 8, frame: jpegClaiming(smallJpeg, 60000, 60000) }),
      expect: 'too_large',
      message: tooLarge,
    },
    {
      name: 'dicom-rows-cols-65535',
      bytes: encodeDicom({ rows: 65535, columns: 65535, bitsAllocated: 8, pixelBytes: new Uint8Array(64) }),
      expect: 'too_large',
      message: tooLarge,
    },
    {
      name: 'dicom-pixel-data-short',
      bytes: encodeDicom({ rows: 64, columns: 64, bitsAllocated: 16, pixelBytes: new Uint8Array(64 * 64) }),
      expect: 'corrupt',
      message: /pixel data/,
    },
    {
      name: 'dicom-frames-5',
      bytes: encodeDicom({
        rows: 64,
        columns: 64,
        bitsAllocated: 8,
        numberOfFrames: 5,
        pixelBytes: new Uint8Array(5 * 64 * 64),
      }),
      expect: 'unsupported_dicom',
      message: /frames/,
    },
    {
      name: 'dicom-bits-allocated-32',
      bytes: encodeDicom({
        rows: 64,
        columns: 64,
        bitsAllocated: 32,
        bitsStored: 32,
        pixelBytes: new Uint8Array(4 * 64 * 64),
      }),
      expect: 'unsupported_dicom',
      message: /BitsAllocated/,
    },
    {
      name: 'dicom-bits-stored-over-allocated',
      bytes: encodeDicom({ rows: 64, columns: 64, bitsAllocated: 8, bitsStored: 12, values: grey }),
      expect: 'unsupported_dicom',
      message: /BitsStored/,
    },
    {
      name: 'dicom-samples-per-pixel-3',
      bytes: encodeDicom({
        rows: 64,
        columns: 64,
        bitsAllocated: 8,
        samplesPerPixel: 3,
        pixelBytes: new Uint8Array(3 * 64 * 64),
      }),
      expect: 'unsupported_dicom',
      message: /SamplesPerPixel|samples/,
    },
    {
      name: 'dicom-uncompressed-syntax-encapsulated-data',
      bytes: encodeDicom({
        rows: 64,
        columns: 64,
        bitsAllocated: 8,
        frame: smallJpeg,
        transferSyntax: '1.2.840.10008.1.2.1',
      }),
      expect: 'corrupt',
      message: /encapsulated/,
    },
    { name: 'dicom-truncated', bytes: okDicom.subarray(0, okDicom.length - 1000), expect: 'corrupt' },
    { name: 'dicom-truncated-in-header', bytes: okDicom.subarray(0, 200), expect: 'corrupt' },
    { name: 'dicom-jpeg-truncated', bytes: jpegDicom.subarray(0, jpegDicom.length - 300), expect: 'corrupt' },
    // Bombs and lies in plain images.
    { name: 'png-bomb-16000', bytes: bigPng, expect: 'too_large', message: tooLarge },
    { name: 'jpeg-bomb-16000', bytes: bigJpeg, expect: 'too_large', message: tooLarge },
    {
      name: 'png-ihdr-claims-100000',
      bytes: pngWith(100000, 100000, Buffer.alloc(0)),
      expect: 'too_large',
      message: tooLarge,
    },
    // A 64×64 image carrying a compressed text chunk that inflates to 256 MB: libpng's chunk
    // limit stops it, the image decodes (checked for memory with the rest of the corpus).
    {
      name: 'png-ztxt-bomb',
      bytes: withChunk(smallPng, 'zTXt', Buffer.concat([Buffer.from('Comment\0\0', 'latin1'), zeros])),
      expect: 'ok',
    },
    {
      name: 'jpeg-sof-claims-60000',
      bytes: jpegClaiming(smallJpeg, 60000, 60000),
      expect: 'too_large',
      message: tooLarge,
    },
    { name: 'png-truncated', bytes: smallPng.subarray(0, Math.floor(smallPng.length / 2)), expect: 'corrupt' },
    { name: 'jpeg-truncated', bytes: smallJpeg.subarray(0, Math.floor(smallJpeg.length / 2)), expect: 'corrupt' },
    { name: 'png-magic-only', bytes: smallPng.subarray(0, 8), expect: 'corrupt' },
    { name: 'jpeg-magic-only', bytes: smallJpeg.subarray(0, 3), expect: 'corrupt' },
  ];
}
