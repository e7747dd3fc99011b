// Limits inside the decoders: pixel count and decode budget from the headers, DICOM checked
// against itself (embedded JPEG size, pixel data length, frames, bit depths) before decoding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp, { type SharpOptions } from 'sharp';
import { decodeDicom, readDicomHeader } from '../../src/data/dicom.js';
import { decodeImageBuffer } from '../../src/data/image.js';
import { checkDecodeBytes, decodeBudget, resolveLimits } from '../../src/data/decodeLimits.js';
import { encodeDicom } from './helpers/dicomWriter.js';
import { flatJpeg } from '../fixtures/adversarial.js';

test('resolveLimits: the default budget is 8 bytes per allowed pixel; a tighter one is kept', () => {
  assert.deepEqual(resolveLimits({}), { maxPixels: 64 * 1024 * 1024, maxBytes: 8 * 64 * 1024 * 1024 });
  assert.deepEqual(resolveLimits({ maxPixels: 1000 }), { maxPixels: 1000, maxBytes: 8000 });
  assert.deepEqual(resolveLimits({ maxPixels: 1000, maxBytes: 1500 }), { maxPixels: 1000, maxBytes: 1500 });
  assert.equal(decodeBudget(25_000_000), 200_000_000);
  assert.throws(
    () => checkDecodeBytes('x', 100, 100, 2, { maxPixels: 1e9, maxBytes: 19_999 }),
    /^Error: x: image too large to decode \(100×100 × 2 bytes = 0\.0 MB; the decode budget is 0\.0 MB\)$/,
  );
});

test('decode budget: channels and sample depth count (RGBA 8-bit = 4 B/px, 16-bit gray = 2 + 1 B/px)', async () => {
  const rgba = await sharp({
    create: { width: 64, height: 64, channels: 4, background: { r: 10, g: 20, b: 30, alpha: 1 } },
  })
    .png()
    .toBuffer();
  await assert.rejects(
    decodeImageBuffer(rgba, 'rgba.png', { maxBytes: 64 * 64 * 4 - 1 }),
    /^Error: rgba\.png: image too large to decode \(64×64 × 4 bytes/,
  );
  assert.equal((await decodeImageBuffer(rgba, 'rgba.png', { maxBytes: 64 * 64 * 4 })).width, 64);
  const wide = new Uint16Array(64 * 64).fill(3000);
  const png16 = await sharp(Buffer.from(wide.buffer), {
    raw: { width: 64, height: 64, channels: 1, depth: 'ushort' },
  } as SharpOptions)
    .toColourspace('grey16')
    .png()
    .toBuffer();
  await assert.rejects(decodeImageBuffer(png16, 'g16.png', { maxBytes: 64 * 64 * 3 - 1 }), /64×64 × 3 bytes/);
  assert.equal((await decodeImageBuffer(png16, 'g16.png', { maxBytes: 64 * 64 * 3 })).height, 64);
});

test('sharp’s own pixel refusal reads as "image too large", not "corrupt"', async () => {
  await assert.rejects(decodeImageBuffer(flatJpeg(4096, 4096), 'big.jpg', { maxPixels: 4095 * 4096 }), {
    message: `big.jpg: image too large (more than ${4095 * 4096} pixels)`,
  });
});

test(
  'decodeDicom: Rows × Columns over maxPixels refused inside the decoder, before the (missing) pixel data is ' +
    'looked at',
  async () => {
    const dcm = encodeDicom({ rows: 300, columns: 300, bitsAllocated: 8, pixelBytes: new Uint8Array(16) });
    await assert.rejects(decodeDicom(dcm, 'a.dcm', { maxPixels: 300 * 300 - 1 }), {
      message: `a.dcm: image too large (300×300; limit 16384 px per side and ${300 * 300 - 1} pixels)`,
    });
    await assert.rejects(decodeDicom(dcm, 'a.dcm', { maxPixels: 300 * 300 }), {
      message: 'a.dcm: truncated DICOM pixel data (16 bytes, header says 300×300 × 1 = 90000)',
    });
    await assert.rejects(
      decodeDicom(dcm, 'a.dcm', { maxPixels: 1e6, maxBytes: 300 * 300 - 1 }),
      /a\.dcm: image too large to decode/,
    );
  },
);

test('decodeDicom: the embedded JPEG’s own size is compared with the header before decoding', async () => {
  const lie = encodeDicom({ rows: 64, columns: 64, bitsAllocated: 8, frame: flatJpeg(2048, 2048) });
  // Within the pixel limit: refused as a mismatch. Over it: refused as too large.
  await assert.rejects(decodeDicom(lie, 'lie.dcm', { maxPixels: 8e6 }), {
    message: "lie.dcm: embedded JPEG is 2048×2048, which does not match the header's 64×64",
  });
  await assert.rejects(decodeDicom(lie, 'lie.dcm', { maxPixels: 1e6 }), {
    message: 'lie.dcm: embedded JPEG too large (more than 1000000 pixels; header says 64×64)',
  });
  const honest = encodeDicom({
    rows: 64,
    columns: 64,
    bitsAllocated: 8,
    frame: flatJpeg(64, 64),
    photometric: 'MONOCHROME1',
  });
  const d = await decodeDicom(honest, 'ok.dcm', { maxPixels: 4096 });
  assert.equal(d.pixels.length, 4096);
  assert.equal(d.pixels[100], 255 - 128); // mid-grey, inverted for MONOCHROME1
});

test('DICOM pixel module: frames, samples and bit depths checked in the header read too', () => {
  const h = readDicomHeader(encodeDicom({ rows: 16, columns: 16, bitsStored: 12, numberOfFrames: 1 }));
  assert.deepEqual([h.frames, h.samplesPerPixel, h.bitsAllocated, h.bitsStored], [1, 1, 16, 12]);
  const cases: [Parameters<typeof encodeDicom>[0], string][] = [
    [
      { rows: 16, columns: 16, numberOfFrames: 3 },
      'multi-frame DICOM (3 frames); only single-frame images are supported',
    ],
    [{ rows: 16, columns: 16, samplesPerPixel: 3 }, 'SamplesPerPixel 3 (grayscale only: 1)'],
    [{ rows: 16, columns: 16, bitsAllocated: 12, pixelBytes: new Uint8Array(512) }, 'BitsAllocated 12 (8 or 16)'],
    [{ rows: 16, columns: 16, bitsAllocated: 8, bitsStored: 9 }, 'BitsStored 9 with BitsAllocated 8'],
    [
      { rows: 16, columns: 16, bitsAllocated: 16, frame: flatJpeg(16, 16) },
      'BitsAllocated 16 with JPEG Baseline (8-bit only)',
    ],
  ];
  for (const [spec, what] of cases)
    assert.throws(() => readDicomHeader(encodeDicom(spec), 'p.dcm'), {
      message: `p.dcm: unsupported DICOM pixel format: ${what}`,
    });
  assert.throws(() => readDicomHeader(encodeDicom({ rows: 16, columns: 16, numberOfFrames: 'x1' }), 'p.dcm'), {
    message: "p.dcm: invalid DICOM NumberOfFrames 'x1'",
  });
});
