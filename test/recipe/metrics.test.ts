import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  auc,
  averagePrecision,
  bootstrapAuc,
  calibration,
  confusionAtThreshold,
  confusionByGroup,
  confusionMatrix,
  positiveColumn,
  prCurve,
  rates,
  rocCurve,
  summarize,
  thresholdForSensitivity,
  wilson,
  youdenThreshold,
} from '../../src/recipe/metrics.js';
import { createRng } from '../../src/util/rng.js';
import { close } from './helpers.js';

/** Rows that reproduce a confusion matrix (positive = 1) with scores on the right side of 0.5. */
function rowsFor(tp: number, fn: number, tn: number, fp: number): { probs: number[]; labels: number[] } {
  const probs: number[] = [];
  const labels: number[] = [];
  const push = (n: number, p: number, l: number) => {
    for (let i = 0; i < n; i++) {
      probs.push(p);
      labels.push(l);
    }
  };
  push(tp, 0.9, 1);
  push(fn, 0.2, 1);
  push(tn, 0.1, 0);
  push(fp, 0.7, 0);
  return { probs, labels };
}

test("the paper's Fig. 8: TP 103, FN 5, TN 107, FP 4", () => {
  const r = rates({ tp: 103, fn: 5, tn: 107, fp: 4 });
  assert.equal(r.sensitivity.value.toFixed(3), '0.954'); // 95.4 %
  assert.equal(r.specificity.value.toFixed(3), '0.964'); // 96.4 %
  close(r.sensitivity.value, 103 / 108);
  close(r.specificity.value, 107 / 111);
  close(r.accuracy.value, 210 / 219);
  close(r.ppv.value, 103 / 107);
  close(r.npv.value, 107 / 112);
  close(r.f1, 206 / 215);
  close(r.balancedAccuracy, (103 / 108 + 107 / 111) / 2);
  // Wilson 95 % intervals (computed independently from the closed form)
  close(r.sensitivity.lo, 0.8961751741634375, 1e-12);
  close(r.sensitivity.hi, 0.9800651845850571, 1e-12);
  close(r.specificity.lo, 0.910989944100048, 1e-12);
  close(r.specificity.hi, 0.9858986974907682, 1e-12);
  // the same counts from probabilities
  const { probs, labels } = rowsFor(103, 5, 107, 4);
  assert.deepEqual(confusionAtThreshold(probs, labels, 0.5), { tp: 103, fn: 5, tn: 107, fp: 4 });
});

test('Wilson intervals match Newcombe (1998), Table I, method 3', () => {
  const cases: [number, number, number, number][] = [
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0, 0.1611],
    [1, 29, 0.0061, 0.1718],
  ];
  for (const [x, n, lo, hi] of cases) {
    const w = wilson(x, n);
    close(w.lo, lo, 5e-5, `${x}/${n} lo`);
    close(w.hi, hi, 5e-5, `${x}/${n} hi`);
  }
  const all = wilson(20, 20);
  assert.equal(all.hi, 1);
  close(all.lo, 1 - 0.1611, 5e-5); // symmetric to 0/20
  const empty = wilson(0, 0);
  assert.ok(Number.isNaN(empty.value));
  assert.deepEqual([empty.lo, empty.hi], [0, 1]);
  assert.throws(() => wilson(5, 3), /0 <= num <= den/);
});

test('confusionMatrix with another positive class index', () => {
  // rows (actual, predicted): (0,0) TP, (0,1) FN, (1,0) FP, (2,0) FP, (0,2) FN, (1,2) TN
  assert.deepEqual(confusionMatrix([0, 0, 1, 2, 0, 1], [0, 1, 0, 0, 2, 2], 0), { tp: 1, fn: 2, fp: 2, tn: 1 });
});

test('confusionByGroup: the same counts as confusionAtThreshold on each group, groups in order of appearance', () => {
  const p = [0.9, 0.2, 0.6, 0.4, 0.5, 0.1];
  const y = [1, 1, 0, 0, 1, 0];
  const g = ['b', 'a', 'b', 'a', 'a', 'b'];
  // b: (0.9,1) TP, (0.6,0) FP, (0.1,0) TN; a: (0.2,1) FN, (0.4,0) TN, (0.5,1) TP (0.5 >= 0.5).
  const byGroup = confusionByGroup(p, y, g, 0.5);
  assert.deepEqual([...byGroup.keys()], ['b', 'a']);
  assert.deepEqual(byGroup.get('b'), { tp: 1, fn: 0, fp: 1, tn: 1 });
  assert.deepEqual(byGroup.get('a'), { tp: 1, fn: 1, fp: 0, tn: 1 });
  assert.deepEqual(byGroup.get('a'), confusionAtThreshold([0.2, 0.4, 0.5], [1, 0, 1], 0.5));
});

test('ROC, AUC and AP on a hand-worked example', () => {
  const y = [0, 0, 1, 1];
  const s = [0.1, 0.4, 0.35, 0.8];
  assert.deepEqual(rocCurve(s, y), [
    { threshold: Infinity, fpr: 0, tpr: 0 },
    { threshold: 0.8, fpr: 0, tpr: 0.5 },
    { threshold: 0.4, fpr: 0.5, tpr: 0.5 },
    { threshold: 0.35, fpr: 0.5, tpr: 1 },
    { threshold: 0.1, fpr: 1, tpr: 1 },
  ]);
  assert.equal(auc(s, y), 0.75); // 3 of 4 (positive, negative) pairs ordered correctly
  // AP = 0.5·1 + 0.5·(2/3)
  close(averagePrecision(s, y), 0.5 + 1 / 3, 1e-15);
  assert.deepEqual(
    prCurve(s, y).map((p) => p.recall),
    [0.5, 0.5, 1, 1],
  );
  // ties count one half: one positive and one negative at the same score
  assert.equal(auc([0.5, 0.5], [1, 0]), 0.5);
  assert.ok(Number.isNaN(auc([0.2, 0.3], [1, 1])));
});

test('AUC equals brute-force pair counting on random data with many ties', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const rng = createRng(seed);
    const n = 300;
    const labels = Array.from({ length: n }, () => (rng.next() < 0.4 ? 1 : 0));
    // scores rounded to one decimal: heavy ties, shifted up for positives
    const scores = labels.map((l) => Math.round(Math.min(1, rng.next() * 0.8 + 0.2 * l) * 10) / 10);
    let wins = 0;
    let pairs = 0;
    for (let i = 0; i < n; i++) {
      if (labels[i] !== 1) continue;
      for (let j = 0; j < n; j++) {
        if (labels[j] !== 0) continue;
        pairs++;
        wins += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
      }
    }
    const a = auc(scores, labels);
    close(a, wins / pairs, 1e-12, `seed ${seed}`);
    // and it is the trapezoidal area under the ROC curve
    const roc = rocCurve(scores, labels);
    let area = 0;
    for (let k = 1; k < roc.length; k++)
      area += ((roc[k]!.fpr - roc[k - 1]!.fpr) * (roc[k]!.tpr + roc[k - 1]!.tpr)) / 2;
    close(area, a, 1e-12);
  }
});

test('stratified bootstrap interval for AUC: seeded, sensible', () => {
  const rng = createRng(7);
  const labels = Array.from({ length: 200 }, (_, i) => (i < 80 ? 1 : 0));
  const scores = labels.map((l) => rng.next() * 0.7 + 0.3 * l);
  const a = bootstrapAuc(scores, labels, { iterations: 1000, seed: 3 });
  const b = bootstrapAuc(scores, labels, { iterations: 1000, seed: 3 });
  assert.deepEqual(a, b);
  assert.equal(a.value, auc(scores, labels));
  assert.ok(a.lo < a.value && a.value < a.hi, JSON.stringify(a));
  // normal-approximation sanity check (Hanley–McNeil SE), the interval is about ±1.96·SE
  const A = a.value;
  const q1 = A / (2 - A);
  const q2 = (2 * A * A) / (1 + A);
  const se = Math.sqrt((A * (1 - A) + 79 * (q1 - A * A) + 119 * (q2 - A * A)) / (80 * 120));
  close(a.hi - a.lo, 2 * 1.96 * se, 0.35 * 2 * 1.96 * se);
  const c = bootstrapAuc(scores, labels, { iterations: 1000, seed: 4 });
  assert.notDeepEqual(a, c);
  // perfect separation: every resample has AUC 1
  const perfect = bootstrapAuc([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0], { iterations: 50 });
  assert.deepEqual([perfect.lo, perfect.hi], [1, 1]);
});

test('ECE and reliability bins on a known case', () => {
  const probs = [0.05, 0.15, 0.95, 0.85, 0.75];
  const labels = [0, 0, 1, 1, 0];
  const c = calibration(probs, labels);
  // per-row gaps 0.05, 0.15, 0.05, 0.15, 0.75, each in its own bin: ECE = 1.15/5
  close(c.ece, 0.23, 1e-12);
  close(c.mce, 0.75, 1e-12);
  assert.equal(c.bins.length, 10);
  assert.deepEqual(
    c.bins.map((b) => b.count),
    [1, 1, 0, 0, 0, 0, 0, 1, 1, 1],
  );
  assert.ok(Number.isNaN(c.bins[4]!.meanPredicted));
  // top-label: confidences .95 .85 .95 .85 .75, correct, correct, correct, correct, wrong
  const t = calibration(probs, labels, { mode: 'top-label' });
  close(t.ece, (2 * 0.05 + 2 * 0.15 + 0.75) / 5, 1e-12);
  // a calibrated case: 4 rows at 0.25 with one positive, 4 at 0.75 with three
  const cal = calibration([0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75], [1, 0, 0, 0, 1, 1, 1, 0]);
  close(cal.ece, 0, 1e-15);
  // 1.0 goes in the last bin; 5 bins
  assert.deepEqual(
    calibration([1, 0], [1, 0], { bins: 5 }).bins.map((b) => b.count),
    [1, 0, 0, 0, 1],
  );
  assert.throws(() => calibration([1.2], [1]), /outside \[0, 1\]/);
});

test('threshold choice: Youden and target sensitivity', () => {
  const y = [0, 0, 1, 1];
  const s = [0.1, 0.4, 0.35, 0.8];
  // J = 0.5 at 0.8 and at 0.35: the higher threshold wins the tie
  assert.deepEqual(youdenThreshold(s, y), { threshold: 0.8, sensitivity: 0.5, specificity: 1, j: 0.5 });
  assert.deepEqual(thresholdForSensitivity(s, y, 1), { threshold: 0.35, sensitivity: 1, specificity: 0.5, j: 0.5 });
  assert.equal(thresholdForSensitivity(s, y, 0.5).threshold, 0.8);
  const s2 = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];
  const y2 = [0, 1, 0, 1, 1, 1, 1, 1, 1, 1];
  // 8 positives; from the top, 6/8 = 0.75 is first reached at 0.5, 7/8 at 0.4
  assert.equal(thresholdForSensitivity(s2, y2, 0.75).threshold, 0.5);
  assert.equal(thresholdForSensitivity(s2, y2, 0.8).threshold, 0.4);
  assert.throws(() => thresholdForSensitivity(s, y, 0), /target sensitivity must be in \(0, 1\]/);
  assert.throws(() => youdenThreshold([0.3], [1]), /both positive and negative/);
});

test('summarize returns everything as one plain object', () => {
  const { probs, labels } = rowsFor(103, 5, 107, 4);
  const m = summarize(probs, labels, 0.5, { bootstrapIterations: 200, seed: 1, targetSensitivity: 0.99 });
  assert.deepEqual(m.confusion, { tp: 103, fn: 5, tn: 107, fp: 4 });
  assert.equal(m.n, 219);
  assert.equal(m.positives, 108);
  close(m.sensitivity.value, 103 / 108);
  close(m.specificity.value, 107 / 111);
  // four score levels: 0.9 (103 pos), 0.7 (4 neg), 0.2 (5 pos), 0.1 (107 neg)
  close(m.auc.value, (103 * 111 + 5 * 107) / (108 * 111), 1e-12);
  assert.equal(m.auc.iterations, 200);
  assert.ok(m.auc.lo <= m.auc.value && m.auc.value <= m.auc.hi);
  // J: at 0.9 103/108 − 0 = 0.954; at 0.2 1 − 4/111 = 0.964 (best)
  assert.equal(m.youden!.threshold, 0.2);
  close(m.youden!.j, 1 - 4 / 111, 1e-12);
  assert.equal(m.atTargetSensitivity!.threshold, 0.2);
  assert.equal(m.roc.length, 5);
  const json = JSON.parse(JSON.stringify(m));
  assert.equal(json.confusion.tp, 103);
  const noBoot = summarize(probs, labels, 0.5, { bootstrapIterations: 0 });
  assert.equal(noBoot.auc.value, m.auc.value);
  assert.ok(Number.isNaN(noBoot.auc.lo));
});

test('positiveColumn takes a class column from [N, C] probabilities', () => {
  assert.deepEqual([...positiveColumn(new Float32Array([0.25, 0.75, 0.5, 0.5]), 2)], [0.75, 0.5]);
  assert.throws(() => positiveColumn([0.1, 0.2, 0.3], 2), /do not form rows of 2 classes/);
});

test('bad inputs are refused clearly', () => {
  assert.throws(() => auc([0.1, 0.2], [1]), /2 scores but 1 labels/);
  assert.throws(() => auc([NaN, 0.2], [1, 0]), /score at row 0 is not finite/);
  assert.throws(() => auc([0.1, 0.2], [1, 0.5]), /label at row 1 is not an integer/);
  assert.throws(() => rates({ tp: -1, fp: 0, tn: 0, fn: 0 }), /tp must be a non-negative integer/);
});
