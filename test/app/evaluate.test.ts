// Evaluation metrics against hand-computed cases (pure, no engine): the paper's Fig. 8
// counts, Wilson intervals against Newcombe (1998), AUC against brute-force pair counting,
// ECE on a known case, per-row losses, the patient-overlap check and generated limitations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkOverlap } from '../../src/app/evaluate/evaluatedSet.js';
import { scoreSet } from '../../src/app/evaluate/scoring.js';
import { limitations } from '../../src/app/report/limitations.js';
import { wilson } from '../../src/recipe/metrics.js';
import { summarise } from '../../src/data/summary.js';
import type { ModelRef } from '../../src/app/train/modelRef.js';
import type { Evaluation } from '../../src/app/evaluate/evaluationRecord.js';

/** [N, 2] softmax rows from positive probabilities. */
const rows2 = (p: number[]) => Float32Array.from(p.flatMap((x) => [1 - x, x]));
const close = (a: number, b: number, tol = 1e-4, what = '') =>
  assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b}`);

test('hand-computed case: confusion, rates, F1, per-row predictions and losses', () => {
  // labels 1,1,1,0,0,0 with p = .9,.6,.3,.4,.2,.7 at threshold .5 → TP 2, FN 1, TN 2, FP 1.
  const p = [0.9, 0.6, 0.3, 0.4, 0.2, 0.7];
  const y = [1, 1, 1, 0, 0, 0];
  const { summary: s, rows } = scoreSet(rows2(p), y, 2, { bootstrapIterations: 0 });
  assert.deepEqual(s.confusion, { tp: 2, fn: 1, tn: 2, fp: 1 });
  close(s.accuracy.value, 4 / 6);
  close(s.sensitivity.value, 2 / 3);
  close(s.specificity.value, 2 / 3);
  close(s.ppv.value, 2 / 3);
  close(s.npv.value, 2 / 3);
  close(s.f1, 4 / 6);
  close(s.balancedAccuracy, 2 / 3);
  // AUC: positives .9,.6,.3 vs negatives .4,.2,.7 → pairs won: .9 beats 3, .6 beats 2, .3 beats 1 → 6/9.
  close(s.auc.value, 6 / 9);
  assert.deepEqual(
    rows.map((r) => r.predicted),
    [1, 1, 0, 0, 0, 1],
  );
  close(rows[0]!.loss, -Math.log(0.9), 1e-6);
  close(rows[3]!.loss, -Math.log(0.6), 1e-6);
  close(rows[5]!.loss, -Math.log(0.3), 1e-6);
  // A threshold moves the calls, not the AUC.
  const t = scoreSet(rows2(p), y, 2, { threshold: 0.25, bootstrapIterations: 0 }).summary;
  assert.deepEqual(t.confusion, { tp: 3, fn: 0, tn: 1, fp: 2 });
  close(t.auc.value, 6 / 9);
});

test("the paper's Fig. 8 counts: TP 103, FN 5, TN 107, FP 4 → sensitivity 95.4 %, specificity 96.4 %", () => {
  const p = [...Array(103).fill(0.9), ...Array(5).fill(0.2), ...Array(107).fill(0.1), ...Array(4).fill(0.8)];
  const y = [...Array(108).fill(1), ...Array(111).fill(0)];
  const { summary: s } = scoreSet(rows2(p), y, 2, { bootstrapIterations: 200 });
  assert.deepEqual(s.confusion, { tp: 103, fn: 5, tn: 107, fp: 4 });
  assert.equal((100 * s.sensitivity.value).toFixed(1), '95.4');
  assert.equal((100 * s.specificity.value).toFixed(1), '96.4');
  assert.equal((100 * s.accuracy.value).toFixed(1), '95.9'); // 210/219
  // The paper's eq. 12 (TN/(TN+FN)) would give 107/112 = 95.5 % — that is the NPV, not specificity.
  assert.equal((100 * s.npv.value).toFixed(1), '95.5');
  // Wilson 95 % for 103/108 (hand computation with z = 1.96): 0.8964 – 0.9801.
  close(s.sensitivity.lo, 0.8964, 5e-4, 'sens lo');
  close(s.sensitivity.hi, 0.9801, 5e-4, 'sens hi');
});

test('Wilson intervals match the published values (Newcombe 1998, Table I, method 3)', () => {
  for (const [x, n, lo, hi] of [
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0, 0.1611],
    [1, 29, 0.0061, 0.1718],
  ] as const) {
    const w = wilson(x, n);
    close(w.lo, lo, 1e-4, `${x}/${n} lo`);
    close(w.hi, hi, 1e-4, `${x}/${n} hi`);
  }
});

test('AUC equals brute-force pair counting (ties count one half), with a bootstrap interval around it', () => {
  let s = 7;
  const rnd = () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
  const p = Array.from({ length: 150 }, () => Math.round(rnd() * 20) / 20); // many ties
  const y = p.map((x) => (rnd() < 0.3 + 0.4 * x ? 1 : 0));
  let wins = 0,
    pairs = 0;
  for (let i = 0; i < p.length; i++)
    for (let j = 0; j < p.length; j++) {
      if (y[i] === 1 && y[j] === 0) {
        pairs++;
        wins += p[i]! > p[j]! ? 1 : p[i] === p[j] ? 0.5 : 0;
      }
    }
  const { summary: m } = scoreSet(rows2(p), y, 2, { bootstrapIterations: 300, seed: 3 });
  close(m.auc.value, wins / pairs, 1e-6 * 5, 'auc'); // float32 rows: probabilities round-trip exactly at these values
  assert.ok(m.auc.lo <= m.auc.value && m.auc.value <= m.auc.hi);
  assert.deepEqual(
    scoreSet(rows2(p), y, 2, { bootstrapIterations: 300, seed: 3 }).summary.auc,
    m.auc,
    'seeded bootstrap is reproducible',
  );
});

test('ECE on a known case', () => {
  // p .1,.1 (labels 0,1) → bin [0.1,0.2): mean .1, observed .5, gap .4; p .9,.9 (labels 1,1) → gap .1;
  // ECE = .5·.4 + .5·.1 = .25.
  const { summary: s } = scoreSet(rows2([0.1, 0.1, 0.9, 0.9]), [0, 1, 1, 1], 2, { bootstrapIterations: 0 });
  close(s.calibration.ece, 0.25, 1e-6, 'ece');
  close(s.calibration.mce, 0.4, 1e-6, 'mce');
});

test('patient overlap with the training split is found and described', async () => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'cxr-ovl-'));
  const man = join(dir, 'm.csv');
  writeFileSync(
    man,
    'path,label,patient_id,source,view,split\na.png,covid,p1,s,PA,train\nb.png,normal,p2,s,PA,train\n' +
      'c.png,covid,p3,s,PA,valid\n',
  );
  const ref = {
    checkpoint: dir,
    runDir: null,
    meta: { training: { config: { manifest: man, trainSplit: 'train' } } },
  } as unknown as ModelRef;
  const clean = checkOverlap(ref, [{ patientId: 'p3' }], false);
  assert.equal(clean.checked, true);
  assert.equal(clean.sharedPatients, 0);
  const dirty = checkOverlap(ref, [{ patientId: 'p1' }, { patientId: 'p1' }, { patientId: 'p3' }], true);
  assert.equal(dirty.sharedPatients, 1);
  assert.equal(dirty.sharedImages, 2);
  assert.match(dirty.note, /optimistic.*allow-train-overlap/);
  const unknown = checkOverlap({ ...ref, meta: {} } as unknown as ModelRef, [{ patientId: 'p1' }], false);
  assert.equal(unknown.checked, false);
});

test('limitations name source confounding, pediatric negatives, small sets and missing external validation', () => {
  const row = (label: string, source: string, split: string, i: number) => ({
    path: `${i}.png`,
    label,
    patientId: `${source}:${i}`,
    source,
    view: 'PA',
    split,
    extra: {},
  });
  const rows = [
    ...Array.from({ length: 20 }, (_, i) => row('covid', 'covid-chestxray', i < 14 ? 'train' : 'valid', i)),
    ...Array.from({ length: 20 }, (_, i) => row('normal', 'kermany', i < 14 ? 'train' : 'valid', 100 + i)),
  ];
  const ev = {
    name: 'D_A validation',
    metrics: scoreSet(rows2([0.9, 0.1]), [1, 0], 2, { bootstrapIterations: 0 }).summary,
    overlap: { sharedPatients: 0, checked: true, note: '' },
    data: { external: false },
  } as unknown as Evaluation;
  const lines = limitations(summarise(rows), [ev], 'covid').join('\n');
  assert.match(lines, /Positives \(covid\) come only from covid-chestxray and negatives only from kermany/);
  assert.match(lines, /pediatric/);
  assert.match(lines, /small/);
  assert.match(lines, /No source-held-out or external validation/);
});
