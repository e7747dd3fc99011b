// The distributed sampler: torch DistributedSampler's split of an epoch, and BatchLoader
// serving one rank's shard.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shardLength, shardOrder } from '../../src/data/distributedSampler.js';
import { BatchLoader } from '../../src/data/batchLoader.js';
import { writePhantoms } from '../../src/data/phantom.js';

let manifest = '';
before(async () => {
  const r = await writePhantoms({
    n: 23,
    size: 32,
    seed: 6,
    out: mkdtempSync(join(tmpdir(), 'cxrtune-shard-')),
    sheetSize: 0,
    split: '1,0',
  });
  manifest = r.manifestFile;
});

test('shards: disjoint, equal lengths, padded by wrapping as torch DistributedSampler', () => {
  const order = [9, 3, 7, 1, 0, 5, 2, 8, 6, 4];
  const shards = [0, 1, 2, 3].map((rank) => shardOrder(order, { rank, world: 4 }, true));
  assert.deepEqual(shards, [
    [9, 0, 6],
    [3, 5, 4],
    [7, 2, 9],
    [1, 8, 3],
  ]);
  assert.deepEqual(
    shards.map((s) => s.length),
    [3, 3, 3, 3],
  );
  assert.equal(shardLength(10, { rank: 3, world: 4 }, true), 3);
  // Validation: no repeats, every item once over all ranks.
  const valid = [0, 1, 2, 3].map((rank) => shardOrder(order, { rank, world: 4 }, false));
  assert.deepEqual(
    valid.map((s) => s.length),
    [3, 3, 2, 2],
  );
  assert.deepEqual(
    valid.flat().sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  assert.equal(shardLength(10, { rank: 3, world: 4 }, false), 2);
  assert.throws(() => shardOrder(order, { rank: 4, world: 4 }, true), /rank must be in \[0, 4\)/);
});

test('BatchLoader shards: 3 ranks serve the seeded epoch order, padded, in equal numbers of batches', async () => {
  const full = new BatchLoader(manifest, 'train', { size: 32, batch: 4, seed: 1 });
  const n = full.length;
  const ranks = [0, 1, 2].map(
    (rank) => new BatchLoader(manifest, 'train', { size: 32, batch: 4, seed: 1, shard: { rank, world: 3, pad: true } }),
  );
  assert.deepEqual(
    ranks.map((l) => l.length),
    [Math.ceil(n / 3), Math.ceil(n / 3), Math.ceil(n / 3)],
  );
  assert.deepEqual(
    ranks.map((l) => l.batchesPerEpoch),
    ranks.map(() => Math.ceil(Math.ceil(n / 3) / 4)),
  );
  const order = full.order(77).map((k) => full.indices[k]!);
  const rows = await Promise.all(
    ranks.map(async (l) => {
      const out: number[] = [];
      for await (const b of l.epoch(77)) out.push(...b.rows);
      return out;
    }),
  );
  rows.forEach((r, rank) => {
    assert.deepEqual(r, shardOrder(order, { rank, world: 3 }, true));
  });
  assert.deepEqual(new Set(rows.flat()), new Set(order), 'every row is served');
  assert.throws(
    () => new BatchLoader(manifest, 'train', { size: 32, batch: 4, shard: { rank: 3, world: 3, pad: true } }),
    /rank must be in \[0, 3\)/,
  );
});

test('online augmentation: the images of a rank get the draws a single process gives them', async () => {
  const pixels = async (l: BatchLoader) => {
    const out = new Map<number, string>();
    for await (const b of l.epoch(5)) {
      const px = b.shape[1] * b.shape[2];
      b.rows.forEach((r, i) => {
        if (!out.has(r)) out.set(r, Buffer.from(b.pixels.subarray(i * px, (i + 1) * px)).toString('base64'));
      });
    }
    return out;
  };
  const one = await pixels(new BatchLoader(manifest, 'train', { size: 32, batch: 4, seed: 1, augment: true }));
  for (const rank of [0, 1]) {
    const part = await pixels(
      new BatchLoader(manifest, 'train', {
        size: 32,
        batch: 4,
        seed: 1,
        augment: true,
        shard: { rank, world: 2, pad: false },
      }),
    );
    assert.ok(part.size > 5);
    for (const [row, px] of part) assert.equal(px, one.get(row), `row ${row} on rank ${rank}`);
  }
});
