import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writePhantoms } from '../../src/data/phantom.js';
import { BatchLoader } from '../../src/data/batchLoader.js';
import { readManifest, rowPath, type Manifest } from '../../src/data/manifest.js';
import { decodeImage } from '../../src/data/image.js';

let manifest: Manifest;
before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cxr-loader-'));
  const r = await writePhantoms({ n: 30, size: 64, seed: 4, out: dir, sheetSize: 0, split: '0.7,0.3' });
  manifest = readManifest(r.manifestFile);
});

test('batches: NHWC uint8, int32 labels by class order, row ids, all rows once per epoch', async () => {
  const L = new BatchLoader(manifest, 'train', { size: 32, batch: 4, classes: ['normal', 'covid'], seed: 1 });
  const nTrain = manifest.rows.filter((r) => r.split === 'train').length;
  assert.ok(nTrain === 20 || nTrain === 21 || nTrain === 22, `train ${nTrain}`);
  assert.equal(L.length, nTrain);
  assert.equal(L.batchesPerEpoch, Math.ceil(nTrain / 4));
  const seen: number[] = [];
  for await (const b of L.epoch(3)) {
    assert.equal(b.shape[1], 32);
    assert.equal(b.shape[3], 1);
    assert.equal(b.pixels.length, b.shape[0] * 32 * 32);
    assert.ok(b.labels instanceof Int32Array);
    b.rows.forEach((ri, i) => {
      assert.equal(b.labels[i], manifest.rows[ri].label === 'normal' ? 0 : 1);
      assert.equal(manifest.rows[ri].split, 'train');
    });
    seen.push(...b.rows);
  }
  assert.equal(seen.length, nTrain);
  assert.equal(new Set(seen).size, nTrain);
  // Pixels are the decoded, resized image of that row.
  const first = (await L.epoch(3).next()).value!;
  const ref = await decodeImage(rowPath(manifest, manifest.rows[first.rows[0]]), { size: 32 });
  assert.deepEqual(first.pixels.subarray(0, 32 * 32), ref.pixels);
});

test('reproducible order per seed; different seeds shuffle differently; channels 3 replicate', async () => {
  const L = new BatchLoader(manifest, 'train', { size: 32, batch: 5, seed: 1 });
  const rows = async (seed: number) => {
    const out: number[] = [];
    for await (const b of L.epoch(seed)) out.push(...b.rows);
    return out;
  };
  assert.deepEqual(await rows(7), await rows(7));
  assert.notDeepEqual(await rows(7), await rows(8));
  const L3 = new BatchLoader(manifest, 'valid', { size: 16, batch: 2, channels: 3, shuffle: false });
  const b = (await L3.epoch(0).next()).value!;
  assert.deepEqual(b.shape, [2, 16, 16, 3]);
  assert.equal(b.pixels[3 * 40], b.pixels[3 * 40 + 2]);
  assert.deepEqual(b.rows, L3.indices.slice(0, 2));
});

test('balanced sampler draws classes ~equally from an imbalanced set; augment is seeded', async () => {
  // Keep 3 covid + all normals → imbalanced.
  let covid = 0;
  const rows = manifest.rows.filter((r) => r.label === 'normal' || covid++ < 3);
  const m: Manifest = { ...manifest, rows };
  const L = new BatchLoader(m, undefined, { size: 16, batch: 8, balanced: true });
  const order = L.order(1);
  const nCovid = order.filter((k) => m.rows[L.indices[k]].label === 'covid').length;
  assert.equal(order.length, 18);
  assert.ok(nCovid >= 5 && nCovid <= 13, `covid draws ${nCovid}/18`);
  const big = Array.from({ length: 20 }, (_, s) => L.order(s)).flat();
  const frac = big.filter((k) => m.rows[L.indices[k]].label === 'covid').length / big.length;
  assert.ok(Math.abs(frac - 0.5) < 0.08, `covid fraction ${frac}`);
  const A = new BatchLoader(m, undefined, { size: 32, batch: 6, augment: true });
  const a1 = (await A.epoch(2).next()).value!;
  const a2 = (await A.epoch(2).next()).value!;
  assert.deepEqual(a1.pixels, a2.pixels);
  const plain = (await new BatchLoader(m, undefined, { size: 32, batch: 6 }).epoch(2).next()).value!;
  assert.deepEqual(plain.rows, a1.rows);
  assert.notDeepEqual(plain.pixels, a1.pixels);
});

test('prefetch: the next batches are decoded while the consumer works', async () => {
  const L = new BatchLoader(manifest, undefined, { size: 64, batch: 6, prefetch: 2, cache: false });
  const it = L.epoch(1);
  await it.next();
  await new Promise((r) => setTimeout(r, 150)); // consumer "trains"
  const t = process.hrtime.bigint();
  await it.next();
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  assert.ok(ms < 20, `second batch waited ${ms.toFixed(1)} ms`);
});

test('errors: unknown label, empty split, missing image names the file', async () => {
  assert.throws(() => new BatchLoader(manifest, 'train', { size: 32, batch: 2, classes: ['normal'] }), /unknown label 'covid'/);
  assert.throws(() => new BatchLoader(manifest, 'test', { size: 32, batch: 2 }), /no rows in split test/);
  const bad: Manifest = { ...manifest, rows: [{ ...manifest.rows[0], path: 'images/missing.png' }] };
  const L = new BatchLoader(bad, undefined, { size: 32, batch: 1 });
  await assert.rejects(L.epoch(0).next(), /missing\.png: image file not found/);
});
