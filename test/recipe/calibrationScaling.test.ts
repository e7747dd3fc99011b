// Temperature and Platt scaling, the calibration map every consumer applies, and explicit
// threshold rules: hand-computed minima, known solutions, ECE falling on miscalibrated sets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyTemperature,
  fitTemperature,
  temperatureNll,
  logitsOfProbs,
} from '../../src/recipe/temperatureScaling.js';
import { applyPlatt, fitPlatt, sigmoid } from '../../src/recipe/plattScaling.js';
import {
  applyCalibration,
  checkCalibration,
  mapThreshold,
  type CalibrationRecord,
} from '../../src/recipe/calibrationMap.js';
import { calibration } from '../../src/recipe/calibration.js';
import { chooseThreshold, parseThresholdRule, ratesByGroup } from '../../src/recipe/threshold.js';
import { Rng } from '../../src/util/rng.js';

const close = (a: number, b: number, tol: number, what = '') =>
  assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b}`);
const binary = (pos: number[]) => Float32Array.from(pos.flatMap((p) => [1 - p, p]));

test('temperature scaling: the NLL minimum of a tiny set is at T = 2 (hand-computed)', () => {
  // Four images scored p(covid) = 0.9, three of them covid: the best temperature makes
  // σ(ln 9 / T) = 3/4, i.e. ln 9 / T = ln 3, T = 2.
  const probs = binary([0.9, 0.9, 0.9, 0.9]);
  const labels = [1, 1, 1, 0];
  const f = fitTemperature(probs, labels, 2);
  close(f.temperature, 2, 1e-6, 'T'); // float32 inputs: 0.9 is stored as 0.89999998
  assert.equal(f.atBound, false);
  // NLL at the minimum: −(3 ln 0.75 + ln 0.25)/4; at T = 1: −(3 ln 0.9 + ln 0.1)/4.
  close(f.nllAfter, -(3 * Math.log(0.75) + Math.log(0.25)) / 4, 1e-7, 'NLL after');
  close(f.nllBefore, -(3 * Math.log(0.9) + Math.log(0.1)) / 4, 1e-6, 'NLL before');
  const after = applyTemperature(probs, 2, f.temperature);
  close(after[1]!, 0.75, 1e-6, 'p after');
  // The derivative in β = 1/T vanishes there.
  close(temperatureNll(logitsOfProbs(probs), labels, 2, 1 / f.temperature).d1, 0, 1e-8, 'dNLL/dβ');
  assert.equal(fitTemperature(binary([0.5, 0.5]), [1, 0], 2).temperature, 1, 'flat NLL: T stays 1');
});

test('temperature scaling: a separated sample runs to the bound, and bad input is refused', () => {
  const f = fitTemperature(binary([0.6, 0.4]), [1, 0], 2);
  assert.equal(f.atBound, true);
  assert.ok(f.temperature <= 1e-3 + 1e-12);
  assert.throws(() => fitTemperature(binary([0.6]), [1], 2), /at least 2 labelled images/);
  assert.throws(() => fitTemperature(binary([0.6, 0.5]), [1, 2], 2), /label 2 at row 1/);
  assert.throws(() => fitTemperature(new Float32Array(3), [1, 0], 2), /3 probabilities for 2 rows/);
  assert.throws(() => applyTemperature(binary([0.5]), 2, 0), /finite number > 0/);
});

/** An over-confident model: the true risk is σ(s), the model says σ(k·s). */
function miscalibrated(n: number, seed: number, scale: number, shift = 0): { pos: number[]; labels: number[] } {
  const rng = new Rng(seed);
  const pos: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = (rng.next() * 2 - 1) * 3;
    labels.push(rng.next() < sigmoid(s) ? 1 : 0);
    pos.push(sigmoid(scale * s + shift));
  }
  return { pos, labels };
}

test("temperature scaling recovers an over-confident model's scale and lowers its ECE", () => {
  const { pos, labels } = miscalibrated(4000, 1, 3);
  const probs = binary(pos);
  const f = fitTemperature(probs, labels, 2);
  close(f.temperature, 3, 0.3, 'T ≈ the over-confidence factor');
  const after = applyTemperature(probs, 2, f.temperature);
  const before = calibration(pos, labels).ece;
  const ece = calibration(
    Array.from({ length: pos.length }, (_, i) => after[2 * i + 1]!),
    labels,
  ).ece;
  assert.ok(before > 0.08, `miscalibrated before (${before})`);
  assert.ok(ece < before / 3, `ECE ${before} → ${ece}`);
});

test('Platt scaling: the parameters of a grouped sample match the closed-form solution', () => {
  // Scores at log-odds −1 (1 positive of 5) and +1 (3 of 4): the fit passes through both
  // observed rates, so a = (logit q₂ − logit q₁)/2 and b = (logit q₁ + logit q₂)/2.
  const logit = (q: number) => Math.log(q / (1 - q));
  const pos = [...Array(5).fill(sigmoid(-1)), ...Array(4).fill(sigmoid(1))];
  const isPos = [true, false, false, false, false, true, true, true, false];
  const plain = fitPlatt(pos, isPos, { smooth: false });
  close(plain.a, (logit(3 / 4) - logit(1 / 5)) / 2, 1e-7, 'a');
  close(plain.b, (logit(1 / 5) + logit(3 / 4)) / 2, 1e-7, 'b');
  assert.equal(plain.converged, true);
  // Platt's targets: N₊ = 4 → t₊ = 5/6, N₋ = 5 → t₋ = 1/7; each group's mean target is its rate.
  const sm = fitPlatt(pos, isPos);
  const q1 = (5 / 6 + 4 / 7) / 5;
  const q2 = (3 * (5 / 6) + 1 / 7) / 4;
  close(sm.targets.positive, 5 / 6, 1e-12);
  close(sm.targets.negative, 1 / 7, 1e-12);
  close(sm.a, (logit(q2) - logit(q1)) / 2, 1e-7, 'smoothed a');
  close(sm.b, (logit(q1) + logit(q2)) / 2, 1e-7, 'smoothed b');
  close(applyPlatt(sigmoid(1), sm.a, sm.b), q2, 1e-7, 'calibrated p at +1');
  assert.throws(() => fitPlatt([0.2, 0.3], [true, true]), /needs positives and negatives/);
  assert.throws(() => fitPlatt([0.2, 1.3], [true, false]), /outside \[0, 1\]/);
});

test('Platt scaling corrects a shifted and over-confident model (ECE falls)', () => {
  const { pos, labels } = miscalibrated(3000, 2, 2, 1.5);
  const f = fitPlatt(
    pos,
    labels.map((y) => y === 1),
    { smooth: false },
  );
  close(f.a, 0.5, 0.08, 'a ≈ 1/2');
  close(f.b, -0.75, 0.15, 'b ≈ −1.5/2');
  const after = pos.map((p) => applyPlatt(p, f.a, f.b));
  const before = calibration(pos, labels).ece;
  const ece = calibration(after, labels).ece;
  assert.ok(ece < before / 3, `ECE ${before} → ${ece}`);
});

test('applyCalibration: one mapping for both methods; mapped thresholds keep every decision', () => {
  const probs = binary([0.2, 0.55, 0.7, 0.95]);
  const temp = { method: 'temperature', parameters: { temperature: 2 } } as CalibrationRecord;
  const t = applyCalibration(probs, 2, 1, temp);
  close(t[7]!, sigmoid(Math.log(0.95 / 0.05) / 2), 1e-6, 'σ(logit/T)');
  close(t[6]! + t[7]!, 1, 1e-6);
  const platt = { method: 'platt', parameters: { a: 0.5, b: -1 } } as CalibrationRecord;
  const p = applyCalibration(probs, 2, 1, platt);
  close(p[5]!, sigmoid(0.5 * Math.log(0.7 / 0.3) - 1), 1e-6, 'σ(a·logit + b)');
  assert.equal(applyCalibration(probs, 2, 1, null), probs, 'no calibration: unchanged');
  // Three classes under Platt: the others keep their proportions and every row sums to 1.
  const three = Float32Array.from([0.2, 0.2, 0.6, 0.5, 0.3, 0.2]);
  const q = applyCalibration(three, 3, 2, platt);
  close(q[0]! / q[1]!, 1, 1e-6);
  close(q[3]! / q[4]!, 0.5 / 0.3, 1e-5);
  for (const r of [0, 1]) close(q[3 * r]! + q[3 * r + 1]! + q[3 * r + 2]!, 1, 1e-6);
  for (const cal of [temp, platt]) {
    const raw = 0.6;
    const m = mapThreshold(raw, cal);
    const cp = applyCalibration(probs, 2, 1, cal);
    for (let i = 0; i < 4; i++) assert.equal(probs[2 * i + 1]! >= raw, cp[2 * i + 1]! >= m, `${cal.method} row ${i}`);
  }
});

test('checkCalibration refuses malformed records with one line naming the fault', () => {
  const ok = { method: 'platt', parameters: { a: 1, b: 0 }, threshold: 0.4 };
  assert.equal(checkCalibration(ok).method, 'platt');
  assert.throws(
    () => checkCalibration({ ...ok, method: 'isotonic' }),
    /method 'isotonic' is not one of temperature, platt/,
  );
  assert.throws(
    () => checkCalibration({ method: 'temperature', parameters: { temperature: -1 }, threshold: 0.5 }),
    /temperature must be a finite number > 0/,
  );
  assert.throws(() => checkCalibration({ ...ok, parameters: { a: 1 } }), /platt needs finite parameters a and b/);
  assert.throws(() => checkCalibration({ ...ok, threshold: 2 }), /threshold 2 is not in \[0, 1\]/);
  assert.throws(() => checkCalibration('x'), /calibration is not an object/);
});

test('threshold rules are explicit; per-source rates carry Wilson intervals', () => {
  assert.deepEqual(parseThresholdRule('youden'), { kind: 'youden' });
  assert.deepEqual(parseThresholdRule('sensitivity:0.9'), { kind: 'sensitivity', target: 0.9 });
  assert.deepEqual(parseThresholdRule('0.35'), { kind: 'fixed', value: 0.35 });
  assert.throws(() => parseThresholdRule('sensitivity:1.5'), /target sensitivity must be in \(0, 1\]/);
  assert.throws(() => parseThresholdRule('1.2'), /fixed threshold must be in \[0, 1\]/);
  assert.throws(() => parseThresholdRule('best'), /unknown threshold rule 'best'/);
  const pos = [0.9, 0.8, 0.7, 0.4, 0.6, 0.3, 0.2, 0.1];
  const y = [1, 1, 1, 1, 0, 0, 0, 0];
  // Youden: at 0.7, sensitivity 3/4 and specificity 4/4 (J 0.75) beat 0.4 (4/4, 3/4, same J, lower threshold);
  // the threshold lies halfway down to the next score (the same decisions).
  assert.equal(chooseThreshold(pos, y, { kind: 'youden' }).threshold, (0.7 + 0.6) / 2);
  assert.equal(chooseThreshold(pos, y, { kind: 'sensitivity', target: 1 }).threshold, (0.4 + 0.3) / 2);
  const g = ratesByGroup(pos, y, ['a', 'a', 'b', 'b', 'a', 'b', 'b', 'b'], 0.5);
  assert.deepEqual(
    g.map((r) => [r.group, r.n, r.positives, r.negatives]),
    [
      ['a', 3, 2, 1],
      ['b', 5, 2, 3],
    ],
  );
  assert.equal(g[0]!.sensitivity.num, 2);
  assert.equal(g[0]!.specificity.num, 0); // 0.6 ≥ 0.5: a false positive
  assert.equal(g[1]!.sensitivity.num, 1);
  assert.equal(g[1]!.specificity.num, 3);
  // Wilson 1/2: centre 0.5, half-width z/(1+z²/2)·√(1/8 + z²/16)/… — check the published value 0.0945–0.9055.
  close(g[1]!.sensitivity.lo, 0.0945, 5e-4, 'Wilson lo');
  close(g[1]!.sensitivity.hi, 0.9055, 5e-4, 'Wilson hi');
});
