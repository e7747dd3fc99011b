// The audit's logistic probe and its cross-validation against hand-derived values: the
// penalised optimum of a two-point problem, invariance to feature scale (standardisation),
// grouped stratified folds and out-of-fold scoring.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitLogistic, predictLogistic, standardiser } from '../../src/recipe/logisticRegression.js';
import { crossValidate, groupedFolds } from '../../src/recipe/crossValidation.js';
import { Rng } from '../../src/util/rng.js';

const close = (a: number, b: number, tol: number, what = '') =>
  assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b}`);

test('two points x = −1 (class 0), +1 (class 1), λ = 0.1: the optimum solves σ(−w) = λw/2', () => {
  // Softmax with K = 2: by symmetry W1 = −W0 = u, equal biases, and the logit gap is w = 2u.
  // ∂/∂u: mean over the two points of (p1 − y1)·z + λu = −σ(−2u) + λu = 0 → σ(−w) = 0.05·w,
  // whose root (bisection by hand) is w = 2.12803, so p(class 1 | x = 1) = σ(w) = 0.89360.
  const m = fitLogistic([-1, 1], [0, 1], 1, { lambda: 0.1, maxIter: 5000, tol: 1e-10 });
  assert.ok(m.converged, `converged in ${m.iterations}`);
  const w = m.weights[1]! - m.weights[0]!;
  close(w, 2.128035, 1e-5, 'logit gap');
  close(m.bias[1]! - m.bias[0]!, 0, 1e-8, 'bias gap');
  const p = predictLogistic(m, [1, -1, 0]);
  close(p[1]!, 0.893598, 1e-5, 'p(1 | x=1)');
  close(p[3]!, 1 - 0.893598, 1e-5, 'p(1 | x=−1)');
  close(p[5]!, 0.5, 1e-8, 'p(1 | x=0)');
});

test('standardised features: rescaling and shifting a feature does not change the fit', () => {
  const s = standardiser([10, 30, 20, 40], 2, 2); // columns [10, 20] and [30, 40]
  assert.deepEqual([...s.mean], [15, 35]);
  assert.deepEqual([...s.sd], [5, 5]);
  const a = predictLogistic(fitLogistic([-1, 1], [0, 1], 1, { lambda: 0.1, maxIter: 5000, tol: 1e-10 }), [1]);
  const b = predictLogistic(fitLogistic([10, 30], [0, 1], 1, { lambda: 0.1, maxIter: 5000, tol: 1e-10 }), [30]);
  close(a[1]!, b[1]!, 1e-8);
  // A constant column gets sd 1 (not a division by zero) and weight 0.
  const m = fitLogistic([5, -1, 5, 1], [0, 1], 2, { lambda: 0.1, maxIter: 5000, tol: 1e-10 });
  close(m.weights[0]!, 0, 1e-9, 'constant column weight');
});

test('three classes on a line are separated in order', () => {
  const x = [-2, -1.8, -2.2, 0, 0.1, -0.1, 2, 2.2, 1.8];
  const y = [0, 0, 0, 1, 1, 1, 2, 2, 2];
  const m = fitLogistic(x, y, 1, { lambda: 0.001, maxIter: 3000 });
  const p = predictLogistic(m, [-2, 0, 2]);
  for (let i = 0; i < 3; i++) {
    const row = [p[i * 3]!, p[i * 3 + 1]!, p[i * 3 + 2]!];
    assert.equal(row.indexOf(Math.max(...row)), i, `x → class ${i}: ${row.map((v) => v.toFixed(3))}`);
    close(
      row.reduce((a, b) => a + b),
      1,
      1e-12,
    );
  }
});

test('bad input is refused with a message that names it', () => {
  assert.throws(() => fitLogistic([1, 2, 3], [0, 1], 2), /3 values for 2 rows × 2 features/);
  assert.throws(() => fitLogistic([1, 2], [0, 0], 1), /at least 2 classes/);
  assert.throws(() => fitLogistic([1, 2], [0, 1.5], 1), /not a class index/);
  assert.throws(() => crossValidate([1, 2, 3, 4], [0, 1, 0, 1], 1, ['a', 'a', 'a', 'a']), /at least 2 groups/);
});

test('grouped folds: a patient never spans folds, classes are dealt evenly, the seed fixes the deal', () => {
  // 6 patients of class 0 (two with 2 images), 6 of class 1; k = 3.
  const groups = ['a', 'a', 'b', 'c', 'd', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l'];
  const y = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1];
  const f = groupedFolds(y, groups, 3, 7);
  const foldOf = new Map<string, number>();
  groups.forEach((g, i) => {
    if (foldOf.has(g)) assert.equal(foldOf.get(g), f[i], `patient ${g} split across folds`);
    foldOf.set(g, f[i]!);
  });
  // Class 0's 6 patients dealt round-robin: 2 per fold; then class 1's 6: 2 per fold.
  for (let k = 0; k < 3; k++) {
    const pats = [...foldOf].filter(([, v]) => v === k).map(([g]) => g);
    assert.equal(pats.filter((g) => 'abcdef'.includes(g)).length, 2, `fold ${k} class 0`);
    assert.equal(pats.filter((g) => 'ghijkl'.includes(g)).length, 2, `fold ${k} class 1`);
  }
  assert.deepEqual(groupedFolds(y, groups, 3, 7), f);
});

test('cross-validation scores each row out of fold: separable data is all correct, noise is near chance', () => {
  const rng = new Rng(5);
  const n = 120;
  const y = Int32Array.from({ length: n }, (_, i) => i % 2);
  const groups = Array.from({ length: n }, (_, i) => `p${i}`);
  const sep = Float64Array.from({ length: n }, (_, i) => (y[i] ? 3 : -3) + rng.normal() * 0.5);
  const cv = crossValidate(sep, y, 1, groups, { k: 5 });
  assert.equal(cv.folds, 5);
  assert.equal(cv.correct, n);
  // 40 noise features: in-sample the probe would fit noise; out of fold it cannot.
  const d = 40;
  const noise = Float64Array.from({ length: n * d }, () => rng.normal());
  const cvn = crossValidate(noise, y, d, groups, { k: 5 });
  const inSample = predictLogistic(fitLogistic(noise, y, d, { lambda: 0.001 }), noise);
  let inCorrect = 0;
  for (let i = 0; i < n; i++) inCorrect += (inSample[i * 2 + 1]! > 0.5 ? 1 : 0) === y[i] ? 1 : 0;
  assert.ok(cvn.correct / n > 0.3 && cvn.correct / n < 0.7, `out-of-fold accuracy on noise ${cvn.correct / n}`);
  assert.ok(inCorrect / n > 0.7, `in-sample accuracy on noise ${inCorrect / n} (overfits, as expected)`);
});
