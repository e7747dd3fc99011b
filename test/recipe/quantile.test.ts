// The project's two quantile definitions on samples small enough to work out by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linearQuantile, linearQuantileSorted, nearestRankQuantile } from '../../src/recipe/quantile.js';

test('linear (type 7): interpolates between order statistics, input in any order', () => {
  // [1, 2, 3, 4]: q = 0.25 sits at rank 0.75 → 1 + 0.75·(2 − 1) = 1.75; q = 0.9 at rank 2.7 → 3.7.
  assert.equal(linearQuantile([4, 1, 3, 2], 0.25), 1.75);
  assert.ok(Math.abs(linearQuantile([4, 1, 3, 2], 0.9) - 3.7) < 1e-12);
  assert.equal(linearQuantile([4, 1, 3, 2], 0), 1);
  assert.equal(linearQuantile([4, 1, 3, 2], 1), 4);
  assert.equal(linearQuantileSorted(Float64Array.from([1, 2, 3, 4]), 0.5), 2.5);
  assert.ok(Number.isNaN(linearQuantile([], 0.5)));
});

test('nearest rank: a value of the sample, never between two', () => {
  // 10 latencies 10..100: p50 is the 5th (50), p95 the 10th (100), p10 the 1st (10), p11 the 2nd.
  const ms = [100, 90, 80, 70, 60, 50, 40, 30, 20, 10];
  assert.equal(nearestRankQuantile(ms, 0.5), 50);
  assert.equal(nearestRankQuantile(ms, 0.95), 100);
  assert.equal(nearestRankQuantile(ms, 0.1), 10);
  assert.equal(nearestRankQuantile(ms, 0.11), 20);
  assert.equal(nearestRankQuantile(ms, 0), 10);
  // The two definitions differ on the same sample: linear puts the median between 50 and 60.
  assert.equal(linearQuantile(ms, 0.5), 55);
  assert.ok(Number.isNaN(nearestRankQuantile([], 0.5)));
});
