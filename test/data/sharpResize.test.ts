// The page's preprocessing (data/preparePixels.ts, plain TypeScript) against the engine's decoder
// (data/image.ts, sharp/libvips) on the same decoded raster: every fit, box shrinks of even and odd
// factors, a lung box, histogram equalisation and standardisation. Exact, grey level for grey level,
// except one size pair noted below.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeImageBuffer, encodePng, type GrayImage } from '../../src/data/image.js';
import { grayOfRgba, preparePixels, type RasterPreprocessing } from '../../src/data/preparePixels.js';
import { generatePhantom } from '../../src/data/phantom.js';
import { projectRoot } from '../../src/engine/native.js';

const NIH = join(projectRoot(), '..', 'shared', 'data', 'nih', 'No_findings');

async function raster(buf: Buffer): Promise<GrayImage> {
  const { data, info } = await sharp(buf).grayscale().raw().toBuffer({ resolveWithObject: true });
  return { pixels: new Uint8Array(data), width: info.width, height: info.height };
}

/** Largest grey-level difference and the number of differing pixels. */
async function compare(png: Buffer, o: RasterPreprocessing): Promise<{ max: number; n: number }> {
  const engine = await decodeImageBuffer(png, 'test.png', {
    size: o.size,
    fit: o.fit,
    equalize: o.equalize,
    ...(o.standardize === 'image' ? { standardize: 'image' as const } : {}),
    ...(o.region ? { region: o.region } : {}),
  });
  const page = preparePixels(await raster(png), o);
  assert.equal(page.width, engine.width);
  assert.equal(page.height, engine.height);
  let max = 0;
  let n = 0;
  for (let i = 0; i < page.pixels.length; i++) {
    const d = Math.abs(page.pixels[i]! - engine.pixels[i]!);
    if (d) n++;
    max = Math.max(max, d);
  }
  return { max, n };
}

async function resized(png: Buffer, w: number, h: number): Promise<Buffer> {
  return sharp(png).resize(w, h, { fit: 'fill' }).png().toBuffer();
}

test('the page resize equals sharp on phantoms: fits, sizes, even and odd box shrinks', async () => {
  const p = generatePhantom(5, 1, { size: 512, label: 'covid' });
  const base = await encodePng({ pixels: p.pixels, width: 512, height: 512 });
  const cases: Array<[number, number, number, RasterPreprocessing['fit']]> = [
    [512, 512, 224, 'letterbox'],
    [1024, 1024, 224, 'letterbox'], // box shrink 2
    [1000, 877, 224, 'stretch'],
    [2048, 1999, 256, 'letterbox'], // box shrink 4 and 3
    [997, 1003, 100, 'crop'], // odd box shrinks
    [386, 512, 224, 'letterbox'], // padded left and right
    [512, 291, 224, 'crop'],
    [4000, 3000, 224, 'letterbox'],
    [300, 700, 224, 'stretch'],
  ];
  for (const [w, h, size, fit] of cases) {
    const r = await compare(await resized(base, w, h), { size, fit, equalize: 'none' });
    assert.deepEqual(r, { max: 0, n: 0 }, `${w}×${h} → ${size} ${fit}`);
  }
});

test('lung box, histogram equalisation and standardisation follow the record as the decoder does', async () => {
  const p = generatePhantom(8, 1, { size: 640, label: 'normal' });
  const png = await encodePng({ pixels: p.pixels, width: 640, height: 640 });
  const region = { left: 0.13, top: 0.21, width: 0.71, height: 0.6 };
  assert.deepEqual(await compare(png, { size: 224, fit: 'letterbox', equalize: 'hist', region }), { max: 0, n: 0 });
  assert.deepEqual(await compare(png, { size: 128, fit: 'crop', equalize: 'none', standardize: 'image' }), {
    max: 0,
    n: 0,
  });
  assert.throws(
    () => preparePixels({ pixels: p.pixels, width: 640, height: 640 }, { size: 64, fit: 'stretch', equalize: 'clahe' }),
    /CLAHE/,
  );
});

test('real radiographs (NIH JPEG, 512 px) to 224 and 128 px: the same pixels', async (t) => {
  if (!existsSync(NIH)) return t.skip('../shared/data/nih is absent');
  const files = readdirSync(NIH)
    .filter((f) => f.endsWith('.jpg'))
    .slice(0, 4);
  for (const f of files) {
    // Decoded once (the same raster on both sides; the browser's own JPEG decoder is the e2e test's).
    const png = await encodePng(await raster(readFileSync(join(NIH, f))));
    for (const size of [224, 128])
      assert.deepEqual(await compare(png, { size, fit: 'letterbox', equalize: 'none' }), { max: 0, n: 0 }, f);
  }
});

test('an odd-sized case off by one grey level on a few pixels (measured, kept as the known bound)', async () => {
  const p = generatePhantom(5, 1, { size: 512, label: 'covid' });
  const png = await resized(await encodePng({ pixels: p.pixels, width: 512, height: 512 }), 1024, 999);
  const r = await compare(png, { size: 64, fit: 'stretch', equalize: 'none' });
  assert.ok(r.max <= 1, `max ${r.max}`);
});

test('RGBA to grey: a grey image keeps its values; colour follows sRGB luminance', () => {
  const rgba = new Uint8Array([10, 10, 10, 255, 200, 200, 200, 255]);
  assert.deepEqual(Array.from(grayOfRgba(rgba, 2, 1).pixels), [10, 200]);
  const red = grayOfRgba(new Uint8Array([255, 0, 0, 255]), 1, 1).pixels[0]!;
  assert.ok(Math.abs(red - 127) <= 1, `pure red → ${red}`);
});
