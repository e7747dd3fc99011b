// The provenance-blind ("robust") online augmentation set: each transform against hand-computed
// values, the drawn ranges, seeding, the loader and the --aug parser / model.json record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyRobust,
  applyTone,
  robustRecord,
  ROBUST_TRANSFORMS,
  sampleRobust,
  type RobustParams,
} from '../../src/data/robustAugment.js';
import { augmentRecord, parseAug } from '../../src/data/augmentMode.js';
import { BatchLoader, type LoaderBatch } from '../../src/data/batchLoader.js';
import { decodeImage } from '../../src/data/image.js';
import { readManifest, rowPath } from '../../src/data/manifest.js';
import { writePhantoms } from '../../src/data/phantom.js';
import { resolveTrainConfig } from '../../src/app/train/trainConfig.js';
import { Rng } from '../../src/util/rng.js';

const img = (w: number, h: number, f: (x: number, y: number) => number) => ({
  width: w,
  height: h,
  pixels: Uint8Array.from({ length: w * h }, (_, i) => f(i % w, Math.floor(i / w))),
});
const mean = (px: Uint8Array) => px.reduce((a, b) => a + b, 0) / px.length;
/** A CXR-like test card: smooth gradient, a bright disc and seeded texture. */
const card = (S: number) => {
  const r = new Rng(5);
  return img(S, S, (x, y) =>
    Math.max(
      0,
      Math.min(
        255,
        Math.round(
          40 + 120 * (y / S) + ((x - S / 2) ** 2 + (y - S / 2) ** 2 < (S / 4) ** 2 ? 60 : 0) + 10 * r.normal(),
        ),
      ),
    ),
  );
};

test('gamma on a ramp and contrast about the mean match hand-computed values', async () => {
  const ramp = img(256, 1, (x) => x);
  const g = await applyRobust(ramp, { gamma: { gamma: 0.7 } });
  for (let v = 0; v < 256; v++) assert.equal(g.pixels[v], Math.round(255 * (v / 255) ** 0.7), `v=${v}`);
  assert.deepEqual([g.pixels[0], g.pixels[50], g.pixels[128], g.pixels[255]], [0, 82, 157, 255]);
  // Mean 100: factor 1.2 → 100 ± 60; 0.75 → 100 ± 37.5 (rounded half up).
  assert.deepEqual(
    [
      ...(
        await applyRobust(
          img(2, 1, (x) => [40, 160][x]),
          { contrast: { factor: 1.2 } },
        )
      ).pixels,
    ],
    [28, 172],
  );
  assert.deepEqual(
    [
      ...(
        await applyRobust(
          img(2, 1, (x) => [40, 160][x]),
          { contrast: { factor: 0.75 } },
        )
      ).pixels,
    ],
    [55, 145],
  );
  // Both: gamma 2 → 255·(v/255)² = 6.2745…, 100.392… (mean 53.333…); contrast 0.8 about it.
  const px = Uint8Array.from([40, 160]);
  applyTone(px, 2, 0.8);
  const g0 = 255 * (40 / 255) ** 2,
    g1 = 255 * (160 / 255) ** 2,
    m = (g0 + g1) / 2;
  assert.deepEqual([...px], [Math.round(m + 0.8 * (g0 - m)), Math.round(m + 0.8 * (g1 - m))]);
  assert.deepEqual([...px], [16, 91]);
  // Clipped, not wrapped: contrast 1.5 sends 6.27 to −17.3 → 0.
  const hi = Uint8Array.from([40, 160]);
  applyTone(hi, 2, 1.5);
  assert.deepEqual([...hi], [0, 124]);
});

test('noise: measured σ and mean within tolerance, fixed by its recorded seed', async () => {
  const flat = img(128, 128, () => 128);
  const a = await applyRobust(flat, { noise: { sigma: 6, seed: 11 } });
  const m = mean(a.pixels);
  const sd = Math.sqrt(a.pixels.reduce((s, v) => s + (v - m) ** 2, 0) / a.pixels.length);
  // Rounding adds 1/12 grey level² of variance.
  assert.ok(Math.abs(m - 128) < 0.15, `mean ${m}`);
  assert.ok(Math.abs(sd - Math.sqrt(36 + 1 / 12)) < 0.15, `σ ${sd}`);
  assert.deepEqual((await applyRobust(flat, { noise: { sigma: 6, seed: 11 } })).pixels, a.pixels);
  assert.notDeepEqual((await applyRobust(flat, { noise: { sigma: 6, seed: 12 } })).pixels, a.pixels);
  assert.ok(
    flat.pixels.every((v) => v === 128),
    'input untouched',
  );
  // Clipped at 0 and 255, never wrapped.
  const dark = await applyRobust(
    img(64, 64, () => 0),
    { noise: { sigma: 8, seed: 1 } },
  );
  assert.ok(dark.pixels.every((v) => v < 40) && dark.pixels.some((v) => v === 0));
});

test('random resized crop keeps the chosen region, resampled back to the input size', async () => {
  // Quadrants 0 / 80 / 160 / 240 (TL, TR, BL, BR) of a 64×64 image.
  const quad = img(64, 64, (x, y) => (y < 32 ? 0 : 160) + (x < 32 ? 0 : 80));
  const tl = await applyRobust(quad, { crop: { x: 0, y: 0, w: 32, h: 32 } });
  assert.equal(tl.width, 64);
  assert.ok(
    tl.pixels.every((v) => v === 0),
    'top-left quadrant only',
  );
  const br = await applyRobust(quad, { crop: { x: 40, y: 36, w: 24, h: 28 } });
  assert.ok(
    br.pixels.every((v) => v === 240),
    'bottom-right quadrant only',
  );
  // Centred 32×32 crop: the four quadrants, each now 32 px wide (edges blended over ~2 px).
  const c = await applyRobust(quad, { crop: { x: 16, y: 16, w: 32, h: 32 } });
  const at = (x: number, y: number) => c.pixels[y * 64 + x];
  assert.deepEqual(
    [at(0, 0), at(29, 29), at(34, 0), at(63, 29), at(0, 34), at(29, 63), at(34, 34), at(63, 63)],
    [0, 0, 80, 80, 160, 160, 240, 240],
  );
  // A horizontal ramp cropped to columns 16…47 is stretched ×2: output x ↦ source 16 + (x + 0.5)/2 − 0.5.
  const ramp = img(64, 8, (x) => x * 4);
  const r = await applyRobust(ramp, { crop: { x: 16, y: 0, w: 32, h: 8 } });
  for (const x of [2, 10, 31, 50, 61])
    assert.ok(Math.abs(r.pixels[x] - 4 * (16 + (x + 0.5) / 2 - 0.5)) <= 1, `x=${x}: ${r.pixels[x]}`);
});

test('blur: a Gaussian of the drawn σ (impulse response), a flat image unchanged', async () => {
  const imp = img(21, 21, (x, y) => (x === 10 && y === 10 ? 255 : 0));
  const b = await applyRobust(imp, { blur: { sigma: 1 } });
  const k = [0, 1, 2, 3].map((i) => Math.exp(-(i * i) / 2));
  const ksum = k[0] + 2 * (k[1] + k[2] + k[3]);
  for (const [dx, dy] of [
    [0, 0],
    [1, 0],
    [1, 1],
    [2, 0],
    [2, 1],
  ]) {
    const want = (255 * k[dx] * k[dy]) / (ksum * ksum);
    assert.ok(
      Math.abs(b.pixels[(10 + dy) * 21 + 10 + dx] - want) <= 1,
      `(${dx},${dy}) ${b.pixels[(10 + dy) * 21 + 10 + dx]} vs ${want.toFixed(2)}`,
    );
  }
  assert.ok(Math.abs(b.pixels[10 * 21 + 10] - 255 / (2 * Math.PI)) <= 1); // 255 / (2π σ²) ≈ 40.6
  const flat = await applyRobust(
    img(16, 16, () => 90),
    { blur: { sigma: 1.4 } },
  );
  assert.ok(flat.pixels.every((v) => v === 90));
});

test('JPEG re-compression changes the pixels, keeps the mean, and quality 95 is closer than 30', async () => {
  const a = card(96);
  const q30 = await applyRobust(a, { jpeg: { quality: 30 } });
  const q95 = await applyRobust(a, { jpeg: { quality: 95 } });
  const mae = (p: Uint8Array) => p.reduce((s, v, i) => s + Math.abs(v - a.pixels[i]), 0) / p.length;
  assert.notDeepEqual(q30.pixels, a.pixels);
  assert.ok(Math.abs(mean(q30.pixels) - mean(a.pixels)) < 1, `mean ${mean(q30.pixels)} vs ${mean(a.pixels)}`);
  assert.ok(
    mae(q95.pixels) < mae(q30.pixels) && mae(q30.pixels) > 2 && mae(q95.pixels) < 3,
    `MAE q30 ${mae(q30.pixels)} q95 ${mae(q95.pixels)}`,
  );
  assert.deepEqual((await applyRobust(a, { jpeg: { quality: 30 } })).pixels, q30.pixels);
});

test('parameters stay in their ranges over many draws; each transform is on about half the time', () => {
  const n = 3000;
  const on = Object.fromEntries(ROBUST_TRANSFORMS.map((t) => [t, 0])) as Record<string, number>;
  const q = new Set<number>();
  for (let i = 0; i < n; i++) {
    const p = sampleRobust(Rng.derive(9, 'robust', i), 160, 160);
    for (const t of Object.keys(p)) on[t]++;
    if (p.crop) {
      const { x, y, w, h } = p.crop;
      assert.ok(Number.isInteger(x + y + w + h) && x >= 0 && y >= 0 && x + w <= 160 && y + h <= 160);
      const area = (w * h) / 160 ** 2;
      // Rounding w and h to whole pixels moves the area and aspect by < 1.5 %.
      assert.ok(area >= 0.6 * 0.985 && area <= 1, `area ${area}`);
      assert.ok(w / h >= 0.75 * 0.985 && w / h <= (4 / 3) * 1.015, `aspect ${w / h}`);
    }
    if (p.blur) assert.ok(p.blur.sigma >= 0.5 && p.blur.sigma <= 1.5);
    if (p.noise)
      assert.ok(
        p.noise.sigma >= 2 &&
          p.noise.sigma <= 8 &&
          Number.isInteger(p.noise.seed) &&
          p.noise.seed >= 0 &&
          p.noise.seed < 2 ** 32,
      );
    if (p.gamma) assert.ok(p.gamma.gamma >= 0.7 && p.gamma.gamma <= 1.4);
    if (p.contrast) assert.ok(p.contrast.factor >= 0.75 && p.contrast.factor <= 1.3334);
    if (p.jpeg) {
      assert.ok(Number.isInteger(p.jpeg.quality) && p.jpeg.quality >= 30 && p.jpeg.quality <= 95);
      q.add(p.jpeg.quality);
    }
  }
  for (const t of ROBUST_TRANSFORMS) assert.ok(Math.abs(on[t] / n - 0.5) < 0.04, `${t} on ${on[t]}/${n}`);
  assert.ok(q.has(30) && q.has(95), 'both ends of the quality range are drawn');
  // Same seed → same parameters; a restricted set draws the same numbers for what it keeps.
  assert.deepEqual(
    sampleRobust(Rng.derive(9, 'robust', 7), 160, 160),
    sampleRobust(Rng.derive(9, 'robust', 7), 160, 160),
  );
  const only = sampleRobust(Rng.derive(9, 'robust', 7), 160, 160, { transforms: ['jpeg'], p: 1 });
  assert.deepEqual(Object.keys(only), ['jpeg']);
});

test('same seed → same pixels, through every transform at once', async () => {
  const a = card(64);
  const p: RobustParams = sampleRobust(new Rng(1), 64, 64, { p: 1 });
  assert.deepEqual(Object.keys(p), [...ROBUST_TRANSFORMS]);
  const x = await applyRobust(a, p);
  const y = await applyRobust(a, sampleRobust(new Rng(1), 64, 64, { p: 1 }));
  assert.deepEqual(x.pixels, y.pixels);
  assert.notDeepEqual((await applyRobust(a, sampleRobust(new Rng(2), 64, 64, { p: 1 }))).pixels, x.pixels);
  // Parameters are plain data: a JSON round trip reproduces the image.
  assert.deepEqual((await applyRobust(a, JSON.parse(JSON.stringify(p)))).pixels, x.pixels);
  // No transform drawn: a copy of the input.
  const none = await applyRobust(a, {});
  assert.deepEqual(none.pixels, a.pixels);
  assert.notEqual(none.pixels, a.pixels);
});

test("loader with robust: identical batches for a seed, each image = decode then the slot's draw", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cxr-robust-'));
  const m = readManifest((await writePhantoms({ n: 10, size: 48, seed: 2, out: dir, sheetSize: 0 })).manifestFile);
  const L = () => new BatchLoader(m, undefined, { size: 32, batch: 5, robust: true, seed: 3 });
  const b1: LoaderBatch[] = [];
  for await (const b of L().epoch(4)) b1.push(b);
  const b2: LoaderBatch[] = [];
  for await (const b of L().epoch(4)) b2.push(b);
  assert.deepEqual(
    b1.map((b) => b.pixels),
    b2.map((b) => b.pixels),
  );
  const other = (await L().epoch(5).next()).value!;
  assert.notDeepEqual(other.pixels, b1[0].pixels);
  for (const slot of [0, 6]) {
    const b = b1[Math.floor(slot / 5)];
    const i = slot % 5;
    const dec = await decodeImage(rowPath(m, m.rows[b.rows[i]]), { size: 32 });
    const want = await applyRobust(dec, sampleRobust(Rng.derive(4, 'robust', slot), 32, 32));
    assert.deepEqual(b.pixels.subarray(i * 1024, (i + 1) * 1024), want.pixels, `slot ${slot}`);
  }
  // online+robust keeps the Table 1 draws of 'online' and adds its own.
  const on = (await new BatchLoader(m, undefined, { size: 32, batch: 5, augment: true }).epoch(4).next()).value!;
  const both = (
    await new BatchLoader(m, undefined, { size: 32, batch: 5, augment: true, robust: true }).epoch(4).next()
  ).value!;
  assert.deepEqual(both.rows, on.rows);
  assert.notDeepEqual(both.pixels, on.pixels);
});

test('--aug values: modes, manifests, a typo named in one line; the model.json record lists every range', () => {
  assert.deepEqual(parseAug('none'), { table1: false, robust: false, manifest: null });
  assert.deepEqual(parseAug('online'), { table1: true, robust: false, manifest: null });
  assert.deepEqual(parseAug('robust'), { table1: false, robust: true, manifest: null });
  assert.deepEqual(parseAug('online+robust'), { table1: true, robust: true, manifest: null });
  assert.deepEqual(parseAug('out/aug/manifest.csv'), {
    table1: false,
    robust: false,
    manifest: 'out/aug/manifest.csv',
  });
  assert.throws(
    () => parseAug('robsut'),
    new RegExp(
      /^Error: invalid aug: 'robsut' is not one of none, online, robust, online\+robust /.source +
        /nor an offline-augmented manifest path \(\.csv\)$/.source,
    ),
  );
  const base = { manifest: 'm.csv', arch: 'resnet18' as const, out: 'runs/x' };
  assert.throws(() => resolveTrainConfig({}, { ...base, aug: 'robust+online' }), /invalid aug: 'robust\+online'/);
  assert.equal(resolveTrainConfig({}, { ...base, aug: 'online+robust' }).data.aug, 'online+robust');

  assert.deepEqual(augmentRecord('none'), { mode: 'none', sets: [] });
  const rec = augmentRecord('online+robust') as {
    mode: string;
    sets: { set: string; transforms: Record<string, unknown>[] }[];
  };
  assert.deepEqual(
    rec.sets.map((s) => s.set),
    ['table1', 'robust'],
  );
  assert.deepEqual(
    rec.sets[0].transforms.map((t) => t.name),
    ['rotate', 'zoom', 'warp', 'lighting', 'blur'],
  );
  assert.deepEqual(rec.sets[1], robustRecord());
  assert.deepEqual(robustRecord().transforms, [
    { name: 'crop', p: 0.5, scale: [0.6, 1], aspect: [0.75, 4 / 3], aspectDraw: 'log-uniform', resample: 'bilinear' },
    { name: 'blur', p: 0.5, sigmaPx: [0.5, 1.5] },
    { name: 'noise', p: 0.5, sigmaGreyLevels: [2, 8] },
    { name: 'gamma', p: 0.5, gamma: [0.7, 1.4], draw: 'log-uniform' },
    { name: 'contrast', p: 0.5, factor: [0.75, 4 / 3], draw: 'log-uniform', about: 'image mean' },
    { name: 'jpeg', p: 0.5, quality: [30, 95] },
  ]);
  assert.equal((augmentRecord('a/b.csv') as { mode: string }).mode, 'offline');
});

test('the model card carries training.augment (an offline manifest by file name only)', async () => {
  const { modelCard } = await import('../../src/app/serve/modelCard.js');
  const card = (aug: string) =>
    modelCard({
      sha256: '0'.repeat(64),
      version: 'test',
      meta: {
        arch: 'resnet18',
        classes: ['normal', 'covid'],
        positiveClass: 1,
        threshold: 0.5,
        preprocessing: {
          size: 64,
          fit: 'letterbox',
          equalize: 'none',
          channels: 1,
          normalisation: { mean: [0.5], std: [0.25] },
        },
        training: { config: { aug }, augment: augmentRecord(aug) },
      } as never,
    }).training as Record<string, unknown>;
  assert.deepEqual(card('robust').augment, augmentRecord('robust'));
  const off = card('/data/St-Elsewhere/aug/manifest.csv');
  assert.equal(off.aug, 'manifest.csv');
  assert.deepEqual(off.augment, { ...augmentRecord('x.csv'), manifest: 'manifest.csv' });
});
