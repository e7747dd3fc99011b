import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  constantGroupHyper,
  discriminativeGroups,
  groupHyper,
  layerGroups,
  scheduleGroupHyper,
} from '../../src/recipe/discriminative.js';
import { constant, oneCycle, paperCycle } from '../../src/recipe/schedules.js';
import { close, rclose } from './helpers.js';
import { resnetLike } from './fixtures.js';

const { layers } = resnetLike(); // 11 layers, 6 stages, params 0..16

test("'layer' mode: one group per parameterised layer, input → output", () => {
  const g = discriminativeGroups(layers, 'layer');
  assert.equal(g.length, 11);
  assert.deepEqual(g[0], [0]); // conv1.weight
  assert.deepEqual(g[1], [1, 2]); // bn1.weight, bn1.bias
  assert.deepEqual(g[10], [15, 16]); // fc
});

test("'stage' mode: stem, stage1..4, head", () => {
  const g = layerGroups(layers, 'stage');
  assert.deepEqual(
    g.map((x) => x.stages[0]),
    ['stem', 'stage1', 'stage2', 'stage3', 'stage4', 'head'],
  );
  assert.deepEqual(g[0]!.params, [0, 1, 2]);
  assert.deepEqual(g[5]!.params, [15, 16]);
  assert.deepEqual(g[2]!.layers, ['layer2.0.conv1', 'layer2.0.bn1']);
});

test('N equal groups: contiguous, sizes differ by at most one, every param once', () => {
  const g = layerGroups(layers, 3); // 11 layers → [0,3), [3,7), [7,11)
  assert.deepEqual(
    g.map((x) => x.layers.length),
    [3, 4, 4],
  );
  assert.deepEqual(
    g.flatMap((x) => x.params),
    Array.from({ length: 17 }, (_, i) => i),
  );
  assert.equal(layerGroups(layers, 1)[0]!.params.length, 17);
  assert.throws(() => layerGroups(layers, 0), /group count must be an integer in \[1, 11\]/);
  assert.throws(() => layerGroups(layers, 12), /the model has 11 parameterised layers/);
  assert.throws(() => layerGroups(layers, 'block' as never), /'layer', 'stage' or a positive integer/);
  assert.throws(() => layerGroups([], 'stage'), /no parameterised layers/);
  const dup = [...layers, { ...layers[0]!, name: 'again' }];
  assert.throws(() => layerGroups(dup, 'layer'), /parameter 0 belongs to two layers/);
});

test('geometric spacing: first α_min, last α_t, constant ratio', () => {
  const h = groupHyper(3, 1e-1, 0.85, { lrMin: 1e-3, momFirst: 0.95 });
  assert.equal(h[0]!.lr, 1e-3);
  rclose(h[1]!.lr, 1e-2, 1e-12);
  assert.equal(h[2]!.lr, 1e-1);
  close(h[1]!.momentum, 0.9, 1e-15); // momentum linear by default
  assert.equal(h[0]!.momentum, 0.95);
  assert.equal(h[2]!.momentum, 0.85);
  const five = groupHyper(5, 1e-2, 0.9, { lrMin: 1e-4, momFirst: 0.9, weightDecay: 0.01 });
  for (let g = 1; g < 5; g++) rclose(five[g]!.lr / five[g - 1]!.lr, Math.sqrt(10), 1e-12, `ratio ${g}`);
  assert.ok(five.every((x) => x.weightDecay === 0.01));
});

test('linear spacing and per-group weight decay', () => {
  const h = groupHyper(3, 1e-1, 0.85, { lrMin: 1e-3, momFirst: 0.95, spacing: 'linear', weightDecay: [0, 0.01, 0.02] });
  close(h[1]!.lr, 0.0505, 1e-15);
  assert.deepEqual(
    h.map((x) => x.weightDecay),
    [0, 0.01, 0.02],
  );
  const lin0 = groupHyper(2, 1e-2, 0.9, { lrMin: 0, momFirst: 0.9, spacing: 'linear' });
  assert.equal(lin0[0]!.lr, 0);
  assert.throws(() => groupHyper(2, 1e-2, 0.9, { lrMin: 0, momFirst: 0.9 }), /geometric spacing needs lrMin > 0/);
  assert.throws(
    () => groupHyper(3, 1e-2, 0.9, { lrMin: 1e-4, momFirst: 0.9, weightDecay: [0, 1] }),
    /2 values for 3 groups/,
  );
  assert.throws(
    () => groupHyper(0, 1e-2, 0.9, { lrMin: 1e-4, momFirst: 0.9 }),
    /groupCount must be a positive integer/,
  );
  assert.throws(
    () => groupHyper(2, 1e-2, 1.2, { lrMin: 1e-4, momFirst: 0.9 }),
    /schedule momentum must be in \[0, 1\)/,
  );
});

test('one group follows the schedule', () => {
  const [h] = groupHyper(1, 5e-2, 0.88, { lrMin: 1e-3, momFirst: 0.95 });
  assert.deepEqual(h, { lr: 5e-2, momentum: 0.88, weightDecay: 0 });
});

test("scheduleGroupHyper: group 0 stays at the schedule's rest point, the last group follows it", () => {
  const s = oneCycle({ totalSteps: 101, lrMin: 1e-3, lrMax: 1e-1, momMin: 0.85, momMax: 0.95, pct: 0.25 });
  const atStart = scheduleGroupHyper(s, 0, 4);
  assert.ok(
    atStart.every((x) => x.lr === 1e-3 && x.momentum === 0.95),
    'at t = 0 every group is at rest',
  );
  const atPeak = scheduleGroupHyper(s, 25, 3, { weightDecay: 0.01 });
  close(atPeak[0]!.lr, 1e-3, 1e-18);
  rclose(atPeak[1]!.lr, 1e-2, 1e-12);
  close(atPeak[2]!.lr, 1e-1, 1e-15);
  assert.equal(atPeak[0]!.momentum, 0.95);
  close(atPeak[2]!.momentum, 0.85, 1e-15);
  // momentum 'with' the LR: rest momentum is m_min
  const w = paperCycle({
    totalSteps: 11,
    lrMin: 1e-4,
    lrMax: 1e-2,
    momMin: 0.79,
    momMax: 0.9,
    pct: 0.5,
    momentumMode: 'with',
  });
  const hw = scheduleGroupHyper(w, 5, 2);
  assert.equal(hw[0]!.momentum, 0.79);
  close(hw[1]!.momentum, 0.9, 1e-15);
  // discriminative: false → every group follows the schedule
  const flat = scheduleGroupHyper(s, 25, 3, { discriminative: false });
  assert.ok(flat.every((x) => Math.abs(x.lr - 0.1) < 1e-15));
});

test('baseline: constant schedule and constantGroupHyper give every group the same', () => {
  const s = constant({ totalSteps: 10, lr: 1e-3, momentum: 0.99 });
  const h = scheduleGroupHyper(s, 7, 6, { weightDecay: 0.01 });
  assert.deepEqual(h, new Array(6).fill({ lr: 1e-3, momentum: 0.99, weightDecay: 0.01 }));
  assert.deepEqual(constantGroupHyper(2, 1e-4, 0.9), [
    { lr: 1e-4, momentum: 0.9, weightDecay: 0 },
    { lr: 1e-4, momentum: 0.9, weightDecay: 0 },
  ]);
});

test('discriminative at a constant rate: lrMin below the rate spreads the groups, geometric, every step alike', () => {
  const s = constant({ totalSteps: 10, lrMin: 1e-5, lr: 1e-3, momentum: 0.9 });
  for (const t of [0, 9]) {
    const h = scheduleGroupHyper(s, t, 3, { spacing: 'geometric' });
    // 1e-5 · (1e-3 / 1e-5)^f for f = 0, ½, 1: 1e-5, 1e-4, 1e-3; momentum is constant, so every group has it.
    close(h[0]!.lr, 1e-5, 1e-20);
    close(h[1]!.lr, 1e-4, 1e-18);
    close(h[2]!.lr, 1e-3, 1e-18);
    assert.ok(h.every((x) => x.momentum === 0.9));
  }
  // discriminative: false wins over lrMin, and an lrMin at the rate is the baseline.
  assert.ok(scheduleGroupHyper(s, 3, 3, { discriminative: false }).every((x) => x.lr === 1e-3));
  const same = constant({ totalSteps: 10, lrMin: 1e-3, lr: 1e-3, momentum: 0.9 });
  assert.ok(scheduleGroupHyper(same, 3, 3).every((x) => x.lr === 1e-3));
});
