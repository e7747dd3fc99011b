// Paired differences over seeds, worked out by hand, and the t table checked against the
// Student t density integrated numerically.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meanSd, pairedDifference, t95 } from '../../src/recipe/pairedDifference.js';

/** ∫_0^x of Student's t density with `df` degrees of freedom (Simpson, 20,000 panels). */
function tMass(x: number, df: number): number {
  const lg = (z: number) => {
    // Lanczos log-gamma (g = 7), enough for the normalising constant.
    const c = [
      0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
      12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
    ];
    z -= 1;
    let a = c[0]!;
    const t = z + 7.5;
    for (let i = 1; i < 9; i++) a += c[i]! / (z + i);
    return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
  };
  const k = Math.exp(lg((df + 1) / 2) - lg(df / 2)) / Math.sqrt(df * Math.PI);
  const f = (u: number) => k * (1 + (u * u) / df) ** (-(df + 1) / 2);
  const n = 20000;
  const h = x / n;
  let s = f(0) + f(x);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * f(i * h);
  return (s * h) / 3;
}

test('t95: each tabulated quantile leaves 2.5 % in the upper tail (to the table’s three decimals)', () => {
  for (let df = 1; df <= 30; df++) {
    const tail = 0.5 - tMass(t95(df), df);
    // The table is rounded to 1e-3 in t; the density there is below 0.1, so the tail moves < 1e-4.
    assert.ok(Math.abs(tail - 0.025) < 1e-4, `df ${df}: upper tail ${tail}`);
  }
  assert.equal(t95(100), 1.959963984540054);
  assert.throws(() => t95(0), /degrees of freedom/);
});

test('pairedDifference: five seeds by hand', () => {
  const a = [0.8, 0.85, 0.83, 0.9, 0.82];
  const b = [0.78, 0.8, 0.84, 0.85, 0.8];
  // Δ = 0.02, 0.05, −0.01, 0.05, 0.02: mean 0.026; squared deviations sum 0.00252, sd = √(0.00252/4).
  const d = pairedDifference(a, b);
  const sd = Math.sqrt(0.00252 / 4);
  assert.ok(Math.abs(d.mean - 0.026) < 1e-12);
  assert.ok(Math.abs(d.sd - sd) < 1e-12);
  const half = (2.776 * sd) / Math.sqrt(5);
  assert.ok(Math.abs(d.lo - (0.026 - half)) < 1e-12 && Math.abs(d.hi - (0.026 + half)) < 1e-12);
  assert.equal(d.verdict, 'neither'); // −0.0052 .. 0.0572
  // A steady gain of 0.05 ± 0.01 excludes zero.
  assert.equal(pairedDifference([0.9, 0.91, 0.89], [0.85, 0.85, 0.85]).verdict, 'a');
  assert.equal(pairedDifference([0.8, 0.81], [0.9, 0.9]).verdict, 'b');
});

test('pairedDifference: a seed missing on either side drops out; one seed gives no interval', () => {
  const d = pairedDifference([0.9, NaN, 0.8], [0.8, 0.7, NaN]);
  assert.deepEqual(
    d.differences.map((x) => Math.round(x * 1e12) / 1e12),
    [0.1],
  );
  assert.equal(d.n, 1);
  assert.ok(Number.isNaN(d.sd) && Number.isNaN(d.lo));
  assert.equal(d.verdict, 'neither');
  assert.throws(() => pairedDifference([1], [1, 2]), /1 values against 2/);
  assert.equal(meanSd([]).n, 0);
});
