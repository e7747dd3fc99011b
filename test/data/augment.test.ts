import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyAugment,
  gaussianBlur3,
  homography,
  sampleAugment,
  parseTransforms,
  augmentColumns,
} from '../../src/data/augment.js';
import { augmentDataset } from '../../src/data/augmentDataset.js';
import { writePhantoms } from '../../src/data/phantom.js';
import { readManifest } from '../../src/data/manifest.js';
import { Rng } from '../../src/util/rng.js';

const img = (w: number, h: number, f: (x: number, y: number) => number) => ({
  width: w,
  height: h,
  pixels: Uint8Array.from({ length: w * h }, (_, i) => f(i % w, Math.floor(i / w))),
});

test('geometry: identity params reproduce the image; 180° rotation flips it', () => {
  const a = img(9, 7, (x, y) => x * 20 + y);
  assert.deepEqual(
    [...applyAugment(a, { rotate: { deg: 0 }, zoom: { scale: 1, cx: 0, cy: 0 } }).pixels],
    [...a.pixels],
  );
  const r = applyAugment(a, { rotate: { deg: 180 } });
  for (let y = 0; y < 7; y++)
    for (let x = 0; x < 9; x++) assert.equal(r.pixels[y * 9 + x], a.pixels[(6 - y) * 9 + (8 - x)]);
  // Zoom ×2 about the centre: output pixel (x) samples source x/2 + W/4.
  const z = applyAugment(
    img(8, 8, (x) => x * 30),
    { zoom: { scale: 2, cx: 0, cy: 0 } },
  );
  assert.deepEqual([...z.pixels.subarray(0, 8)], [53, 68, 83, 98, 113, 128, 143, 158]);
  const h = homography(
    [
      [-1, -1],
      [-1, 1],
      [1, -1],
      [1, 1],
    ],
    [
      [-1, -1],
      [-1, 1],
      [1, -1],
      [1, 1],
    ],
  );
  // An 8×8 solve in doubles on the unit square (condition number ~10): error ~10 × 2^-52.
  h.forEach((v, i) => {
    assert.ok(Math.abs(v - [1, 0, 0, 0, 1, 0, 0, 0][i]) < 1e-12);
  });
  const w0 = applyAugment(a, { warp: { m: [0, 0, 0, 0] } });
  assert.deepEqual([...w0.pixels], [...a.pixels]);
});

test('photometric: blur keeps a constant image, smooths an impulse by hand-computed weights; lighting LUT', () => {
  assert.ok(gaussianBlur3(new Uint8Array(25).fill(77), 5, 5, 0.8).every((v) => v === 77));
  const imp = new Uint8Array(25);
  imp[12] = 255;
  const b = gaussianBlur3(imp, 5, 5, 1);
  const e = Math.exp(-0.5);
  const k0 = 1 / (1 + 2 * e);
  const k1 = e * k0;
  assert.equal(b[12], Math.round(255 * k0 * k0));
  assert.equal(b[11], Math.round(255 * k0 * k1));
  assert.equal(b[6], Math.round(255 * k1 * k1));
  // mean 100 (two pixels 50/150): contrast 1.4 → 30/170, brightness 1.2 → 36/204
  const l = applyAugment(
    { width: 2, height: 1, pixels: Uint8Array.from([50, 150]) },
    { lighting: { brightness: 1.2, contrast: 1.4 } },
  );
  assert.deepEqual([...l.pixels], [36, 204]);
});

test('sampling follows Table 1 ranges and is seeded', () => {
  const ps = Array.from({ length: 400 }, (_, i) => sampleAugment(Rng.derive(1, i)));
  assert.deepEqual(sampleAugment(Rng.derive(1, 7)), ps[7]);
  // Parameters are rounded to 4 decimals (≤ 5e-5); zoom's room comes from the scale before its rounding,
  // which moves 1 − 1/scale by ≤ 5e-5 more.
  for (const p of ps) {
    assert.ok(Object.keys(p).length >= 1);
    if (p.rotate) assert.ok([5, 10, 15].includes(Math.abs(p.rotate.deg)));
    if (p.zoom)
      assert.ok(p.zoom.scale >= 1 && p.zoom.scale <= 1.3 && Math.abs(p.zoom.cx) <= 1 - 1 / p.zoom.scale + 1e-4);
    if (p.warp) assert.ok(p.warp.m.every((m) => Math.abs(m) <= 0.4));
    if (p.lighting) assert.ok(p.lighting.brightness >= 1 / 1.4 - 5e-5 && p.lighting.contrast <= 1.4);
    if (p.blur) assert.ok(p.blur.sigma >= 0.5 && p.blur.sigma <= 1);
  }
  const only = sampleAugment(new Rng(3), { transforms: ['blur'] });
  assert.deepEqual(Object.keys(only), ['blur']);
  assert.throws(() => parseTransforms('rotate,flip'), /unknown transform 'flip'/);
  assert.equal(augmentColumns({ rotate: { deg: -10 } }).transforms, 'rotate');
});

test('offline augmentation: inputs × K − excluded, reproducible bytes, parameters recorded, test refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cxr-aug-'));
  const ph = await writePhantoms({ n: 8, size: 64, seed: 2, out: join(dir, 'ph'), sheetSize: 0, split: '0.5,0.5' });
  const m = readManifest(ph.manifestFile);
  const nTrain = m.rows.filter((r) => r.split === 'train').length;
  const a = await augmentDataset({
    manifest: ph.manifestFile,
    out: join(dir, 'a1'),
    perImage: 3,
    seed: 9,
    sheetSize: 8,
  });
  assert.equal(a.inputs, nTrain);
  assert.equal(a.outputs, nTrain * 3);
  assert.equal(a.sheets.length, Math.ceil((nTrain * 3) / 8));
  const out = readManifest(a.manifestFile);
  assert.equal(out.rows.length, nTrain * 3);
  const r0 = out.rows[0];
  assert.ok(r0.extra.parent && r0.extra.aug_index === '1' && r0.extra.transforms.length > 0);
  assert.ok(out.rows.every((r) => r.split === 'train'));
  for (const col of ['rotate_deg', 'zoom_scale', 'warp_m', 'lighting_brightness', 'lighting_contrast', 'blur_sigma'])
    assert.ok(col in r0.extra);
  const b = await augmentDataset({
    manifest: ph.manifestFile,
    out: join(dir, 'a2'),
    perImage: 3,
    seed: 9,
    sheetSize: 0,
  });
  for (const r of out.rows)
    assert.ok(readFileSync(join(dir, 'a1', r.path)).equals(readFileSync(join(dir, 'a2', r.path))), r.path);
  assert.equal(readFileSync(a.manifestFile, 'utf8'), readFileSync(b.manifestFile, 'utf8'));
  // Exclude two outputs (one by relative path, one by bare name) in place.
  const ex = join(dir, 'exclude.txt');
  writeFileSync(ex, `# rejects\n${out.rows[0].path}\n${out.rows[4].path.split('/').pop()}\n`);
  const c = await augmentDataset({
    manifest: ph.manifestFile,
    out: join(dir, 'a2'),
    perImage: 3,
    seed: 9,
    exclude: ex,
    sheetSize: 0,
  });
  assert.equal(c.outputs, nTrain * 3 - 2);
  assert.equal(c.excluded, 2);
  assert.ok(!existsSync(join(dir, 'a2', out.rows[0].path)));
  const kept = readManifest(c.manifestFile).rows;
  assert.ok(readFileSync(join(dir, 'a2', kept[2].path)).equals(readFileSync(join(dir, 'a1', kept[2].path))));
  await assert.rejects(
    augmentDataset({ manifest: ph.manifestFile, out: join(dir, 'a3'), perImage: 2, splits: ['train', 'test'] }),
    /refusing to augment the test split/,
  );
  // Another seed: the same files (each parent's aug1) with other parameters and other pixels. aug_seed is left
  // out of the comparison: it records the seed, so it differs even when the seed never reaches the sampler.
  const other = await augmentDataset({
    manifest: ph.manifestFile,
    out: join(dir, 'a4'),
    perImage: 1,
    seed: 10,
    sheetSize: 0,
  });
  const firsts = (rows: typeof out.rows) =>
    rows
      .filter((r) => r.extra.aug_index === '1')
      .map(({ extra: { aug_seed: _, ...params }, ...r }) => ({ ...r, extra: params }));
  const o = firsts(readManifest(other.manifestFile).rows);
  const nine = firsts(out.rows);
  assert.deepEqual(
    o.map((r) => r.path),
    nine.map((r) => r.path),
  );
  assert.equal(o.length, nTrain);
  for (const [i, r] of o.entries()) {
    assert.notDeepEqual(r.extra, nine[i]!.extra, `${r.path}: seed 10 drew seed 9's parameters`);
    assert.ok(!readFileSync(join(dir, 'a4', r.path)).equals(readFileSync(join(dir, 'a1', r.path))), r.path);
  }
});
