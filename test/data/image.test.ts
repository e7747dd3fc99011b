import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeImage, decodeImageBuffer, equalizeHistogram } from '../../src/data/image.js';
import { ImageCache } from '../../src/data/imageCache.js';

const dir = mkdtempSync(join(tmpdir(), 'cxr-img-'));
const gray = (w: number, h: number, f: (x: number, y: number) => number) =>
  sharp(
    Uint8Array.from({ length: w * h }, (_, i) => f(i % w, Math.floor(i / w))),
    { raw: { width: w, height: h, channels: 1 } },
  );

test('8-bit PNG decodes exactly; RGB JPEG becomes one channel', async () => {
  const f = join(dir, 'a.png');
  await gray(20, 20, (x) => x * 10)
    .png()
    .toFile(f);
  const img = await decodeImage(f);
  assert.equal(img.width, 20);
  assert.deepEqual([...img.pixels.subarray(0, 5)], [0, 10, 20, 30, 40]);
  const j = join(dir, 'rgb.jpg');
  await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 200, g: 200, b: 200 } } })
    .jpeg({ quality: 100 })
    .toFile(j);
  const r = await decodeImage(j, { size: 16 });
  assert.equal(r.pixels.length, 256);
  assert.ok(Math.abs(r.pixels[100] - 200) <= 2);
});

test('16-bit PNG: the value range is stretched to 8 bits', async () => {
  const f = join(dir, 'b16.png');
  const raw = new Uint16Array([1000, 2000, 3000, 4000, 1000, 2000, 3000, 4000, ...new Array(16 * 16 - 8).fill(1000)]);
  await sharp(raw, { raw: { width: 16, height: 16, channels: 1 } })
    .toColourspace('grey16')
    .png()
    .toFile(f);
  const meta = await sharp(f).metadata();
  assert.equal(meta.depth, 'ushort');
  const img = await decodeImage(f);
  assert.deepEqual([...img.pixels.subarray(0, 4)], [0, 85, 170, 255]);
});

test('fit: letterbox pads, crop centres, stretch fills (known masks)', async () => {
  const f = join(dir, 'wide.png');
  await gray(40, 20, () => 200)
    .png()
    .toFile(f);
  const lb = await decodeImage(f, { size: 20, fit: 'letterbox' });
  // 40×20 → 20×10 centred: rows 0–4 and 15–19 are padding (0), rows 5–14 are 200.
  const rowMean = (img: { pixels: Uint8Array }, y: number) =>
    img.pixels.subarray(y * 20, y * 20 + 20).reduce((a, b) => a + b, 0) / 20;
  assert.equal(rowMean(lb, 0), 0);
  assert.equal(rowMean(lb, 4), 0);
  assert.equal(rowMean(lb, 10), 200);
  assert.equal(rowMean(lb, 19), 0);
  const cr = await decodeImage(f, { size: 20, fit: 'crop' });
  assert.ok(cr.pixels.every((v) => v === 200));
  const half = join(dir, 'halves.png');
  await gray(40, 20, (x) => (x < 20 ? 0 : 255))
    .png()
    .toFile(half);
  const st = await decodeImage(half, { size: 20, fit: 'stretch' });
  assert.equal(st.pixels[20 * 10 + 2], 0);
  assert.equal(st.pixels[20 * 10 + 17], 255);
  const crop = await decodeImage(half, { size: 20, fit: 'crop' });
  // centre crop keeps x 10..29: left half dark, right half bright
  assert.equal(crop.pixels[20 * 10 + 2], 0);
  assert.equal(crop.pixels[20 * 10 + 17], 255);
});

test('histogram equalisation: hand-computed CDF mapping; CLAHE runs', async () => {
  // values 10 ×2, 20 ×1, 30 ×1 → cdf 2,3,4; cdfMin 2 → (cdf−2)/(4−2)·255 = 0, 127.5→128, 255
  assert.deepEqual([...equalizeHistogram(Uint8Array.from([10, 10, 20, 30]))], [0, 0, 128, 255]);
  const f = join(dir, 'grad.png');
  await gray(64, 64, (x) => 100 + (x >> 2))
    .png()
    .toFile(f);
  const e = await decodeImage(f, { size: 32, equalize: 'hist' });
  assert.equal(Math.min(...e.pixels), 0);
  assert.equal(Math.max(...e.pixels), 255);
  const c = await decodeImage(f, { size: 32, equalize: 'clahe' });
  assert.equal(c.pixels.length, 32 * 32);
});

test('bad input: missing, corrupt, truncated, too small, too large — one clear line naming the file', async () => {
  const missing = join(dir, 'nope.png');
  await assert.rejects(decodeImage(missing), { message: `${missing}: image file not found` });
  const junk = join(dir, 'junk.jpg');
  writeFileSync(junk, 'this is not an image');
  await assert.rejects(
    decodeImage(junk),
    (e: Error) => e.message.startsWith(`${junk}: corrupt or unsupported image`) && !e.message.includes('\n'),
  );
  const good = await gray(64, 64, (x, y) => (x * y) % 256)
    .jpeg()
    .toBuffer();
  const cut = join(dir, 'cut.jpg');
  writeFileSync(cut, good.subarray(0, Math.floor(good.length / 2)));
  await assert.rejects(decodeImage(cut, { size: 32 }), (e: Error) =>
    e.message.startsWith(`${cut}: corrupt or unsupported image`),
  );
  const pngCut = join(dir, 'cut.png');
  const png = await gray(64, 64, (x, y) => (x * 7 + y * 13) % 256)
    .png()
    .toBuffer();
  writeFileSync(pngCut, png.subarray(0, png.length - 40));
  await assert.rejects(decodeImage(pngCut, { size: 32 }), (e: Error) =>
    e.message.startsWith(`${pngCut}: corrupt or unsupported image`),
  );
  const tiny = join(dir, 'tiny.png');
  await gray(4, 4, () => 0)
    .png()
    .toFile(tiny);
  await assert.rejects(decodeImage(tiny), /image too small \(4×4/);
  const big = await gray(100, 100, () => 0)
    .png()
    .toBuffer();
  await assert.rejects(
    decodeImageBuffer(big, 'bomb.png', { maxPixels: 5000 }),
    /^Error: bomb\.png: (image too large|corrupt or unsupported image)/,
  );
  await assert.rejects(decodeImageBuffer(new Uint8Array(0), 'empty.png'), /empty\.png: empty image file/);
});

test('image cache: memory hits, disk hits across instances, identical pixels', async () => {
  const f = join(dir, 'c.png');
  await gray(50, 30, (x, y) => (x + y) * 3)
    .png()
    .toFile(f);
  const cdir = join(dir, 'cache');
  const c1 = new ImageCache({ dir: cdir });
  const a = await c1.get(f, { size: 24 });
  const b = await c1.get(f, { size: 24 });
  assert.equal(a, b);
  assert.deepEqual(c1.stats, { ...c1.stats, memoryHits: 1, misses: 1, diskHits: 0 });
  const c2 = new ImageCache({ dir: cdir });
  const d = await c2.get(f, { size: 24 });
  assert.equal(c2.stats.diskHits, 1);
  assert.deepEqual([...d.pixels], [...(await decodeImage(f, { size: 24 })).pixels]);
  // Different parameters → a different entry.
  await c2.get(f, { size: 24, fit: 'crop' });
  assert.equal(c2.stats.misses, 1);
  const files = readdirSync(cdir, { recursive: true }).filter((x) => String(x).endsWith('.gray'));
  assert.equal(files.length, 2);
  assert.equal(readFileSync(join(cdir, String(files[0]))).length, 8 + 24 * 24);
});
