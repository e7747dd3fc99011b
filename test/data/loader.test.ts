import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writePhantoms } from '../../src/data/phantom.js';
import { BatchLoader, type LoaderBatch } from '../../src/data/batchLoader.js';
import { ImageCache } from '../../src/data/imageCache.js';
import { readManifest, rowPath, type Manifest } from '../../src/data/manifest.js';
import { decodeImage, type GrayImage } from '../../src/data/image.js';

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

/** An image cache whose decodes the test finishes: it records each one asked for and holds it until released. */
class HeldDecodes extends ImageCache {
  readonly asked: string[] = [];
  private readonly held: Array<() => void> = [];
  constructor(private readonly side: number) {
    super();
  }
  override get(path: string): Promise<GrayImage> {
    this.asked.push(path);
    const img = { pixels: new Uint8Array(this.side * this.side), width: this.side, height: this.side };
    return new Promise((resolve) => this.held.push(() => resolve(img)));
  }
  releaseAll(): void {
    for (const release of this.held.splice(0)) release();
  }
}

// The held decodes do no I/O, so everything the loader chains on them runs in microtasks: one
// setImmediate later it has all run.
const settle = () => new Promise((r) => setImmediate(r));

test('prefetch: while the consumer holds batch k, the batches after it are already asked for and decoded', async () => {
  const S = 16;
  const B = 6;
  const cache = new HeldDecodes(S);
  const L = new BatchLoader(manifest, undefined, { size: S, batch: B, prefetch: 2, cache, concurrency: 64 });
  assert.equal(L.batchesPerEpoch, 5);
  const order = L.order(1);
  const paths = (...ks: number[]) =>
    ks
      .flatMap((k) => order.slice(k * B, (k + 1) * B))
      .map((pos) => rowPath(manifest, manifest.rows[L.indices[pos]!]!))
      .sort();
  const it = L.epoch(1);
  const first = it.next();
  await settle();
  // Before any decode has finished, batch 0 and the prefetch + 1 batches after it are asked for.
  assert.deepEqual([...cache.asked].sort(), paths(0, 1, 2, 3));
  cache.releaseAll();
  const b0 = (await first).value!;
  assert.deepEqual(
    b0.rows,
    order.slice(0, B).map((pos) => L.indices[pos]),
  );
  // The consumer holds batch 0. Batch 1 was decoded meanwhile: asking for it needs no decode to
  // finish (batch 4's, asked for now, stay held), and it arrives.
  let second: LoaderBatch | undefined;
  const next = it.next().then((r) => (second = r.value));
  await settle();
  assert.ok(second, 'batch 1 waited for a decode');
  assert.deepEqual(
    second.rows,
    order.slice(B, 2 * B).map((pos) => L.indices[pos]),
  );
  assert.deepEqual(cache.asked.slice(4 * B).sort(), paths(4));
  cache.releaseAll();
  await next;
});

test('errors: unknown label, empty split, missing image names the file', async () => {
  assert.throws(
    () => new BatchLoader(manifest, 'train', { size: 32, batch: 2, classes: ['normal'] }),
    /unknown label 'covid'/,
  );
  assert.throws(() => new BatchLoader(manifest, 'test', { size: 32, batch: 2 }), /no rows in split test/);
  const bad: Manifest = { ...manifest, rows: [{ ...manifest.rows[0], path: 'images/missing.png' }] };
  const L = new BatchLoader(bad, undefined, { size: 32, batch: 1 });
  await assert.rejects(L.epoch(0).next(), /missing\.png: image file not found/);
});
