// Segmentation metrics on masks small enough to work out by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bootstrapMean,
  dice,
  edges,
  hausdorff95,
  iou,
  squaredDistanceTransform,
} from '../../src/recipe/segmentationMetrics.js';
import { linearQuantile } from '../../src/recipe/quantile.js';

// 4×4: a = 2×2 square at rows 1–2, cols 1–2; b = the same square one column to the right.
const a = Uint8Array.from([0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
const b = Uint8Array.from([0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0]);

test('Dice and IoU of two 2×2 squares overlapping by one column: 4/8 and 2/6', () => {
  assert.equal(dice(a, b), 0.5);
  assert.equal(iou(a, b), 2 / 6);
  assert.equal(dice(a, a), 1);
  assert.equal(dice(new Uint8Array(4), new Uint8Array(4)), 1); // both empty: perfect agreement
  assert.equal(iou(a, new Uint8Array(16)), 0);
  assert.throws(() => dice(a, new Uint8Array(3)), /differ in size/);
});

test('distance transform of one row [1,0,0,0,0] is the squared distances 0,1,4,9,16', () => {
  assert.deepEqual([...squaredDistanceTransform([1, 0, 0, 0, 0], 5, 1)], [0, 1, 4, 9, 16]);
  // 3×3 with the centre set: corners at squared distance 2.
  assert.deepEqual([...squaredDistanceTransform([0, 0, 0, 0, 1, 0, 0, 0, 0], 3, 3)], [2, 1, 2, 1, 0, 1, 2, 1, 2]);
});

test('edges: a filled 3×3 block in 5×5 keeps its ring of 8, not its centre', () => {
  const m = new Uint8Array(25);
  for (let y = 1; y <= 3; y++) for (let x = 1; x <= 3; x++) m[y * 5 + x] = 1;
  const e = edges(m, 5, 5);
  assert.equal(
    e.reduce((s, v) => s + v, 0),
    8,
  );
  assert.equal(e[12], 0);
});

test('HD95: shifted squares 1 px; single pixels at (0,0) and (4,3) 5 px; empty mask NaN', () => {
  // Directed distances a→b are 0,1,0,1: the 95th percentile (linear) of [0,0,1,1] is 1.
  assert.equal(hausdorff95(a, b, 4, 4), 1);
  const p = new Uint8Array(25),
    q = new Uint8Array(25);
  p[0] = 1;
  q[3 * 5 + 4] = 1;
  assert.equal(hausdorff95(p, q, 5, 5), 5);
  assert.ok(Number.isNaN(hausdorff95(p, new Uint8Array(25), 5, 5)));
});

test('percentile interpolates linearly like numpy', () => {
  assert.equal(linearQuantile([0, 0, 1, 1], 0.95), 1);
  assert.equal(linearQuantile([1, 2, 3, 4, 5], 0.5), 3);
  assert.ok(Math.abs(linearQuantile([0, 10], 0.25) - 2.5) < 1e-12);
});

test('bootstrapMean: equal values give a zero-width interval; NaNs are left out; patients are the unit', () => {
  const same = bootstrapMean([0.9, 0.9, 0.9, NaN], ['a', 'b', 'c', 'd']);
  assert.equal(same.mean, 0.9);
  assert.equal(same.lo, 0.9);
  assert.equal(same.hi, 0.9);
  assert.equal(same.n, 3);
  const r = bootstrapMean([1, 1, 0, 0.5], ['p', 'p', 'q', 'r'], { seed: 7 });
  assert.equal(r.mean, 2.5 / 4);
  assert.equal(r.patients, 3);
  assert.ok(r.lo >= 0 && r.lo < r.mean && r.hi > r.mean && r.hi <= 1, JSON.stringify(r));
});
