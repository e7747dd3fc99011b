import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  constant,
  createSchedule,
  drawPct,
  oneCycle,
  paperCycle,
  triangular,
  type Schedule,
} from '../../src/recipe/schedules.js';
import { close, rclose } from './helpers.js';

const base = { totalSteps: 101, lrMin: 1e-3, lrMax: 1e-1, momMin: 0.85, momMax: 0.95 };

function values(s: Schedule, f: (t: number) => number): number[] {
  return Array.from({ length: s.totalSteps }, (_, t) => f(t));
}

test('oneCycle: endpoints, peak, cosine midpoints (T=101, pct 0.25)', () => {
  const s = oneCycle({ ...base, pct: 0.25 });
  close(s.lr(0), 1e-3);
  close(s.lr(25), 1e-1, 1e-15); // p = 25/100 = pct
  close(s.lr(100), 1e-3, 1e-15);
  // cosine: half way through each phase is the arithmetic middle
  close(s.lr(12.5), (1e-3 + 1e-1) / 2, 1e-15);
  close(s.lr(62.5), (1e-3 + 1e-1) / 2, 1e-15);
  // a quarter into the warm-up: (1 − cos(π/4))/2 = 0.146446…
  close(s.lr(6.25), 1e-3 + (0.099 * (1 - Math.SQRT1_2)) / 2, 1e-15);
  assert.equal(s.phase(10), 'warmup');
  assert.equal(s.phase(26), 'anneal');
  assert.equal(s.describe().peakStep, 25);
});

test('oneCycle: monotone up then down; momentum inverse to the LR', () => {
  const s = oneCycle({ ...base, pct: 0.3 });
  const lr = values(s, s.lr);
  const m = values(s, s.momentum);
  for (let t = 1; t <= 30; t++) {
    assert.ok(lr[t]! > lr[t - 1]!, `lr rises at ${t}`);
    assert.ok(m[t]! < m[t - 1]!, `momentum falls at ${t}`);
  }
  for (let t = 31; t <= 100; t++) {
    assert.ok(lr[t]! < lr[t - 1]!, `lr falls at ${t}`);
    assert.ok(m[t]! > m[t - 1]!, `momentum rises at ${t}`);
  }
  close(m[0]!, 0.95);
  close(m[30]!, 0.85, 1e-15);
  close(m[100]!, 0.95, 1e-15);
  // momentum is the mirror image of the LR level
  for (let t = 0; t <= 100; t++) close((0.95 - m[t]!) / 0.1, (lr[t]! - 1e-3) / 0.099, 1e-12);
});

test('oneCycle: momentum "with" the LR, default pct 0.25, lrEnd below lrMin', () => {
  const s = oneCycle({ ...base, momentumMode: 'with', lrEnd: 1e-5 });
  assert.equal(s.describe().pct, 0.25);
  assert.equal(s.describe().pctSource, 'default');
  close(s.momentum(0), 0.85);
  close(s.momentum(25), 0.95, 1e-15);
  close(s.lr(100), 1e-5, 1e-18);
  close(s.momentum(100), 0.85, 1e-15); // momentum returns to rest even though the LR goes lower
});

test('paperCycle: linear up for pct·T then linear down (given pct)', () => {
  const s = paperCycle({ totalSteps: 11, lrMin: 1e-4, lrMax: 1e-2, momMin: 0.79, momMax: 0.9, pct: 0.6 });
  close(s.lr(0), 1e-4);
  close(s.lr(3), 1e-4 + 0.5 * (1e-2 - 1e-4), 1e-15); // p 0.3 = half of pct
  close(s.lr(6), 1e-2, 1e-15); // p 0.6 = peak
  close(s.lr(8), 1e-4 + 0.5 * (1e-2 - 1e-4), 1e-15); // half way down
  close(s.lr(10), 1e-4, 1e-15);
  // linear: equal increments
  close(s.lr(2) - s.lr(1), s.lr(5) - s.lr(4), 1e-15);
  close(s.momentum(6), 0.79, 1e-15);
  close(s.momentum(0), 0.9);
  assert.equal(s.phase(6), 'up');
  assert.equal(s.phase(7), 'down');
  assert.equal(s.describe().shape, 'linear');
});

test('paperCycle: pct drawn from the seed in [0.5, 1), reproducibly', () => {
  const a = paperCycle({ ...base, seed: 42 });
  const b = paperCycle({ ...base, seed: 42 });
  const d = a.describe();
  assert.equal(d.pctSource, 'seed');
  assert.equal(d.seed, 42);
  assert.equal(d.pct, b.describe().pct);
  assert.equal(d.pct, drawPct(42));
  const draws = Array.from({ length: 2000 }, (_, i) => drawPct(i));
  assert.ok(draws.every((p) => p >= 0.5 && p < 1));
  assert.ok(Math.min(...draws) < 0.51 && Math.max(...draws) > 0.99, 'draws cover [0.5, 1)');
  assert.ok(new Set(draws).size > 1990, 'different seeds give different pct');
  const mean = draws.reduce((x, y) => x + y, 0) / draws.length;
  close(mean, 0.75, 0.01);
  // the peak sits where the drawn pct says
  const peak = d.peakStep!;
  assert.equal(peak, Math.round(d.pct! * 100));
  const lr = values(a, a.lr);
  assert.equal(lr.indexOf(Math.max(...lr)), peak);
});

test('paperCycle without pct or seed is refused', () => {
  assert.throws(() => paperCycle(base), /give pct .* or a seed/);
});

test('triangular: Smith 2017 triangle waves', () => {
  const s = triangular({ ...base, totalSteps: 21, cycles: 2 });
  assert.equal(s.describe().stepSize, 5);
  for (const [t, v] of [
    [0, 1e-3],
    [5, 1e-1],
    [10, 1e-3],
    [15, 1e-1],
    [20, 1e-3],
  ] as const)
    close(s.lr(t), v, 1e-15, `t=${t}`);
  close(s.lr(2.5), (1e-3 + 1e-1) / 2, 1e-15);
  close(s.momentum(5), 0.85, 1e-15);
  close(s.momentum(10), 0.95, 1e-15);
  const fixed = triangular({ ...base, totalSteps: 100, stepSize: 4 });
  close(fixed.lr(4), 1e-1, 1e-15);
  close(fixed.lr(8), 1e-3, 1e-15);
  close(fixed.lr(12), 1e-1, 1e-15);
  const t2 = triangular({ ...base, totalSteps: 100, stepSize: 4, triangularMode: 'triangular2' });
  close(t2.lr(12), 1e-3 + 0.099 / 2, 1e-15); // second cycle: half amplitude
  close(t2.lr(20), 1e-3 + 0.099 / 4, 1e-15);
  const ex = triangular({ ...base, totalSteps: 100, stepSize: 4, triangularMode: 'exp_range', gamma: 0.99 });
  close(ex.lr(4), 1e-3 + 0.099 * 0.99 ** 4, 1e-15);
});

test('constant: the baseline is flat', () => {
  const s = constant({ totalSteps: 50, lr: 1e-3, momentum: 0.99 });
  for (const t of [0, 10, 49]) {
    assert.equal(s.lr(t), 1e-3);
    assert.equal(s.momentum(t), 0.99);
  }
  const viaMax = createSchedule({ kind: 'constant', totalSteps: 5, lrMax: 2e-4, momMax: 0.9 });
  assert.equal(viaMax.lr(4), 2e-4);
  assert.equal(viaMax.momentum(0), 0.9);
});

test('single-step runs sit at the start', () => {
  const s = oneCycle({ ...base, totalSteps: 1 });
  assert.equal(s.lr(0), 1e-3);
});

test('configs are validated with clear messages', () => {
  assert.throws(
    () => createSchedule({ ...base, kind: 'cosine' as never }),
    /kind must be one of oneCycle, paperCycle, triangular, constant/,
  );
  assert.throws(() => oneCycle({ ...base, totalSteps: 0 }), /totalSteps must be a positive integer/);
  assert.throws(() => oneCycle({ ...base, totalSteps: 2.5 }), /totalSteps/);
  assert.throws(() => oneCycle({ ...base, lrMin: 1, lrMax: 0.1 }), /lrMax \(0.1\) must be >= lrMin \(1\)/);
  assert.throws(() => oneCycle({ ...base, lrMax: NaN }), /lrMax must be a number/);
  assert.throws(() => oneCycle({ ...base, lrMin: undefined }), /lrMin is required/);
  assert.throws(() => oneCycle({ ...base, momMax: 1 }), /momMax must be a number in \[0, 1\)/);
  assert.throws(() => oneCycle({ ...base, momMin: 0.99, momMax: 0.9 }), /momMax \(0.9\) must be >= momMin \(0.99\)/);
  assert.throws(() => oneCycle({ ...base, pct: 1 }), /pct must be a number in \(0, 1\)/);
  assert.throws(() => oneCycle({ ...base, lrEnd: 1 }), /lrEnd/);
  assert.throws(
    () => oneCycle({ ...base, momentumMode: 'against' as never }),
    /momentumMode must be 'inverse' or 'with'/,
  );
  assert.throws(() => triangular({ ...base, stepSize: 0 }), /stepSize/);
  assert.throws(() => constant({ totalSteps: 3, momentum: 0.9 }), /give lr/);
  const s = oneCycle(base);
  assert.throws(() => s.lr(101), RangeError);
  assert.throws(() => s.lr(-1), /step t must be in \[0, 100\]/);
  assert.throws(() => s.momentum(NaN), RangeError);
});

test('describe() is plain JSON and complete', () => {
  const d = oneCycle(base).describe();
  assert.deepEqual(JSON.parse(JSON.stringify(d)), d);
  rclose(d.lrMax, 0.1);
  assert.equal(d.momentumMode, 'inverse');
});
