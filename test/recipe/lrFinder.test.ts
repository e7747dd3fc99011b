import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LrFindError, lrFind, minimumIndex, steepestIndex, valleyIndex } from '../../src/recipe/lrFinder.js';
import { createRng } from '../../src/util/rng.js';
import { close, rclose } from './helpers.js';

test('the sweep is exponential from start to end, both included', async () => {
  const seen: [number, number][] = [];
  const r = await lrFind(async (lr, i) => {
    seen.push([lr, i]);
    return 1;
  });
  assert.equal(r.lrs.length, 100);
  assert.equal(r.stopped, 'completed');
  rclose(r.lrs[0]!, 1e-7, 1e-12);
  rclose(r.lrs[99]!, 10, 1e-12);
  for (let i = 1; i < 100; i++) rclose(r.lrs[i]! / r.lrs[i - 1]!, 10 ** (8 / 99), 1e-9);
  assert.deepEqual(
    seen.map((s) => s[1]),
    Array.from({ length: 100 }, (_, i) => i),
  );
  // bias correction: a constant loss smooths to itself from the first step
  assert.ok(r.smoothed.every((s) => Math.abs(s - 1) < 1e-12));
});

test('EMA with bias correction, by hand', async () => {
  const seq = [4, 2, 3, 1, 1];
  const r = await lrFind(async (_lr, i) => seq[i]!, { iterations: 5, beta: 0.5, divergeFactor: 100 });
  // avg: 2, 2, 2.5, 1.75, 1.375; corrections 1−0.5^k: .5, .75, .875, .9375, .96875
  const expect = [4, 2 / 0.75, 2.5 / 0.875, 1.75 / 0.9375, 1.375 / 0.96875];
  r.smoothed.forEach((s, i) => {
    close(s, expect[i]!, 1e-12, `i=${i}`);
  });
});

test('suggestions on a known curve, no smoothing: loss = 1 + (log10 lr + 2)²', async () => {
  const r = await lrFind(async (lr) => 1 + (Math.log10(lr) + 2) ** 2, { beta: 0 });
  // stops once 1 + (x+2)² > 4·1, i.e. x > −2 + √3 = −0.268
  assert.equal(r.stopped, 'diverged');
  const last = Math.log10(r.lrs[r.lrs.length - 1]!);
  assert.ok(last > -0.268 && last < -0.268 + 8 / 99 + 1e-9, `stopped at 10^${last}`);
  // minimum at lr = 1e-2 (to the grid), so minimum/10 ≈ 1e-3
  close(Math.log10(r.suggestions.minimumDiv10), -3, 8 / 99 / 2 + 1e-9);
  // a parabola falls fastest at its left end: the first analysed point (index ⌊100/10⌋)
  assert.equal(r.suggestionIndex.steepest, 10);
  // the valley pick lies inside the descent, before the minimum
  assert.ok(r.suggestionIndex.valley > 10 && r.suggestionIndex.valley < r.suggestionIndex.minimumDiv10);
  rclose(r.proposed.lrMin, r.proposed.lrMax / 100, 1e-12);
  assert.equal(r.proposed.by, 'steepest');
  const v = await lrFind(async (lr) => 1 + (Math.log10(lr) + 2) ** 2, { beta: 0, suggestion: 'minimumDiv10' });
  assert.equal(v.proposed.lrMax, v.suggestions.minimumDiv10);
});

test('lands in the good region of a noisy SGD problem (stable iff lr < 2/h_max = 2)', async () => {
  for (const seed of [1, 2, 3]) {
    const rng = createRng(seed);
    const h = Array.from({ length: 10 }, (_, i) => 0.1 + 0.1 * i); // curvatures 0.1 … 1
    const w = new Array<number>(10).fill(1);
    const r = await lrFind(async (lr) => {
      let loss = 0;
      const g = w.map((wi, i) => h[i]! * wi + 0.1 * (rng.next() - 0.5)); // noisy gradient
      w.forEach((wi, i) => {
        loss += 0.5 * h[i]! * wi * wi;
      });
      g.forEach((gi, i) => {
        w[i]! -= lr * gi;
      });
      return loss;
    });
    assert.equal(r.stopped, 'diverged', 'the loss blows up past lr = 2');
    assert.ok(r.lrs[r.lrs.length - 1]! > 2, 'divergence detected only beyond the stability limit');
    const { lrMax, lrMin } = r.proposed;
    assert.ok(lrMax > 0.05 && lrMax < 2, `seed ${seed}: α_max = ${lrMax} should be in (0.05, 2)`);
    assert.ok(lrMin < lrMax);
    assert.ok(r.suggestions.minimumDiv10 < 2);
  }
});

test('NaN stops the sweep; too little data is an LrFindError with the partial record', async () => {
  const r = await lrFind(async (lr, i) => (i === 40 ? NaN : 1 / (1 + lr)));
  assert.equal(r.stopped, 'non-finite');
  assert.equal(r.lrs.length, 41);
  assert.ok(Number.isFinite(r.proposed.lrMax));
  await assert.rejects(
    lrFind(async () => Infinity),
    (e: unknown) =>
      e instanceof LrFindError && /only 0 usable loss value/.test(e.message) && e.partial.lrs.length === 1,
  );
});

test('options are validated', async () => {
  const step = async () => 1;
  await assert.rejects(lrFind(step, { start: 0 }), /start must be a finite number > 0/);
  await assert.rejects(lrFind(step, { start: 1, end: 0.1 }), /end must be finite and > start/);
  await assert.rejects(lrFind(step, { iterations: 3 }), /iterations must be an integer >= 5/);
  await assert.rejects(
    lrFind(step, { suggestion: 'elbow' as never }),
    /suggestion must be steepest, valley or minimumDiv10/,
  );
});

test('suggestion helpers by hand', () => {
  // steepest: slopes per ln-LR step (lrs ×e): −1, −3, −0.5, +2 → index 1
  const lrs = [1, Math.E, Math.E ** 2, Math.E ** 3, Math.E ** 4];
  assert.equal(steepestIndex(lrs, [10, 9, 6, 5.5, 7.5]), 1);
  assert.equal(minimumIndex([3, 2, 1, 1, 4]), 2);
  // valley: losses fall strictly over indices 2..9 (lds[9] = 8 → start = 1, end = 9):
  // sections = 8/3 → idx = 1 + 2 + 1 = 4, as fastai computes it
  assert.equal(valleyIndex([5, 5, 5, 4, 3, 2.5, 2, 1.5, 1.2, 1, 3, 9]), 4);
});
