import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareRun, compareTable } from '../../src/app/evaluate/compare.js';

function fakeRun(root: string, name: string, cfg: object, best: number, bestEpoch: number): string {
  const d = join(root, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(
    join(d, 'config.json'),
    JSON.stringify({ arch: 'resnet18', precision: 'bf16', optimizer: 'adamw', ...cfg }),
  );
  writeFileSync(
    join(d, 'summary.json'),
    JSON.stringify({
      status: 'completed',
      monitor: 'valid_accuracy',
      best: { value: best, epoch: bestEpoch + 1 },
      epochsDone: 3,
      seconds: 30,
      imagesPerSecond: 20,
      peakRssMiB: 900,
    }),
  );
  const rec = (epoch: number, acc: number) => ({
    epoch,
    valid: { accuracy: acc, sensitivity: 0.9, specificity: acc, auc: 0.95 },
    bestEpoch,
  });
  writeFileSync(join(d, 'history.json'), JSON.stringify([rec(0, 0.7), rec(1, best), rec(2, 0.8)]));
  return d;
}

test('compare: the metrics at the best epoch, side by side, and a clear error for a non-run', () => {
  const root = mkdtempSync(join(tmpdir(), 'cxrtune-compare-'));
  const a = compareRun(
    fakeRun(
      root,
      'dft',
      { schedule: 'oneCycle', groups: 'stage', lrMin: 1e-4, lrMax: 1e-2, momMin: 0.85, momMax: 0.95 },
      0.95,
      1,
    ),
  );
  const b = compareRun(
    fakeRun(root, 'trad', { schedule: 'constant', discriminative: false, lrMax: 1e-3, momMax: 0.99 }, 0.85, 1),
  );
  assert.equal(a.accuracy, 0.95);
  assert.equal(a.bestEpoch, 2);
  assert.match(a.method, /^DFT stage groups, oneCycle 0.0001..0.01/);
  assert.match(b.method, /^constant lr 0.001, m 0.99/);
  const t = compareTable([a, b]);
  assert.match(t, /dft .*INTERNAL .*95\.0%/, 'no manifest here: the validation figure is labelled INTERNAL');
  assert.equal(a.protocol, 'internal');
  assert.match(t, /trad .*85\.0%/);
  assert.throws(() => compareRun(join(root, 'nope')), /not a finished cxrtune run/);
});
