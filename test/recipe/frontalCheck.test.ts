// The refusal's arithmetic: the eigen-decomposition, the Ledoit-Wolf Mahalanobis distance against a
// hand-computed value (and the low-rank form against the full inverse), the lung fields' shape on
// drawn masks, the conformal limit, and the verdict's wording.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { symmetricEigen } from '../../src/recipe/symmetricEigen.js';
import { fitShrunkGaussian, mahalanobisDistance } from '../../src/recipe/mahalanobis.js';
import { lungFieldShape } from '../../src/recipe/lungFields.js';
import { conformalLimit, frontalVerdict, LUNG_FIELD_LIMITS, verdictOf } from '../../src/recipe/frontalCheck.js';
import { createRng } from '../../src/util/rng.js';

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('symmetric eigen: [[2,1],[1,2]] has 3 and 1; a random 7×7 is V Λ Vᵀ with V orthonormal', () => {
  const e = symmetricEigen([2, 1, 1, 2], 2);
  close(e.values[0]!, 3);
  close(e.values[1]!, 1);
  close(Math.abs(e.vectors[0]!), Math.SQRT1_2);
  const n = 7;
  const r = createRng(3);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = r.uniform(-1, 1);
  const { values, vectors } = symmetricEigen(a, n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let back = 0;
      let dot = 0;
      for (let k = 0; k < n; k++) {
        back += vectors[k * n + i]! * values[k]! * vectors[k * n + j]!;
        dot += vectors[i * n + k]! * vectors[j * n + k]!;
      }
      close(back, a[i * n + j]!, 1e-12);
      close(dot, i === j ? 1 : 0, 1e-12);
    }
  for (let k = 1; k < n; k++) assert.ok(values[k - 1]! >= values[k]!, 'descending');
});

test('Mahalanobis with Ledoit-Wolf shrinkage: the hand-computed value', () => {
  // x = (±1, 0), (0, ±2): mean 0, S = diag(0.5, 2), tr S = 2.5, μ = 1.25, ‖S‖² = 4.25.
  // δ = (4.25 − 2.5²/2)/2 = 0.5625; β = (Σ‖x‖⁴ − n‖S‖²)/(n²D) = (34 − 17)/32 = 0.53125; ρ = β/δ = 17/18.
  // Σ = (1/18) S + (17/18) 1.25 I = diag(21.75/18, 23.25/18); d(1, 1)² = 18/21.75 + 18/23.25.
  const g = fitShrunkGaussian([1, 0, -1, 0, 0, 2, 0, -2], 4, 2);
  close(g.shrinkage, 17 / 18);
  assert.deepEqual(g.mean, [0, 0]);
  close(mahalanobisDistance(g, [1, 1]), Math.sqrt(18 / 21.75 + 18 / 23.25));
  close(mahalanobisDistance(g, [1, 1]), 1.2656143785860086, 1e-12); // numpy: sqrt(q Σ⁻¹ q)
  assert.throws(() => fitShrunkGaussian([1, 2], 1, 2), /at least 2 images/);
  assert.throws(() => mahalanobisDistance(g, [1]), /1 values, the Gaussian has 2/);
});

test('fewer images than dimensions (the Gram route): every direction kept equals the full inverse', () => {
  const n = 5;
  const D = 8;
  const r = createRng(11);
  const x = Array.from({ length: n * D }, () => r.normal());
  const g = fitShrunkGaussian(x, n, D);
  assert.equal(g.variances.length, n - 1, 'rank n − 1');
  // The same Σ built densely and inverted by Gauss-Jordan.
  const mean = Array.from({ length: D }, (_, j) => x.filter((_, i) => i % D === j).reduce((a, b) => a + b, 0) / n);
  const S = new Float64Array(D * D);
  for (let i = 0; i < n; i++)
    for (let a = 0; a < D; a++)
      for (let b = 0; b < D; b++)
        S[a * D + b] = S[a * D + b]! + ((x[i * D + a]! - mean[a]!) * (x[i * D + b]! - mean[b]!)) / n;
  let tr = 0;
  for (let a = 0; a < D; a++) tr += S[a * D + a]!;
  const sig = S.map((v, i) => (1 - g.shrinkage) * v + (i % (D + 1) === 0 ? (g.shrinkage * tr) / D : 0));
  const q = Array.from({ length: D }, () => r.normal());
  const d = q.map((v, j) => v - mean[j]!);
  const solved = gaussJordan(sig, d, D);
  close(mahalanobisDistance(g, q), Math.sqrt(d.reduce((a, v, j) => a + v * solved[j]!, 0)), 1e-9);
  // Fewer directions: the rest share their mean variance (trace kept).
  const g2 = fitShrunkGaussian(x, n, D, 2);
  close(g2.variances.reduce((a, b) => a + b, 0) + g2.residualVariance * (D - 2), (tr * 1) / 1, 1e-9);
});

function gaussJordan(a: Float64Array, b: number[], n: number): number[] {
  const m = Array.from({ length: n }, (_, i) => [...Array.from(a.subarray(i * n, (i + 1) * n)), b[i]!]);
  for (let c = 0; c < n; c++) {
    const p = m.slice(c).reduce((best, row, i) => (Math.abs(row[c]!) > Math.abs(m[best]![c]!) ? c + i : best), c);
    [m[c], m[p]] = [m[p]!, m[c]!];
    for (let i = 0; i < n; i++) {
      if (i === c) continue;
      const f = m[i]![c]! / m[c]![c]!;
      for (let k = c; k <= n; k++) m[i]![k] = m[i]![k]! - f * m[c]![k]!;
    }
  }
  return m.map((row, i) => row[n]! / row[i]!);
}

/** A W×W mask with the given rectangles [x0, y0, x1, y1) set. */
function rects(W: number, ...rs: Array<[number, number, number, number]>): Uint8Array {
  const m = new Uint8Array(W * W);
  for (const [x0, y0, x1, y1] of rs) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[y * W + x] = 1;
  return m;
}

test('lung fields: two level fields side by side, one blob, and the mediastinum contrast', () => {
  const W = 100;
  const two = rects(W, [20, 30, 40, 70], [60, 30, 80, 70]); // 2 × 800 px
  const px = new Uint8Array(W * W).fill(200);
  for (let i = 0; i < px.length; i++) if (two[i]) px[i] = 50;
  const s = lungFieldShape(two, W, W, px);
  close(s.area, 0.16);
  assert.equal(s.fields, 2);
  close(s.balance, 0.5);
  close(s.gap, 0.4);
  close(s.offset, 0);
  close(s.contrast, 150 / 255);
  // Inverted: the same fields bright on dark.
  close(
    lungFieldShape(
      two,
      W,
      W,
      px.map((v) => 255 - v),
    ).contrast,
    -150 / 255,
  );
  const one = lungFieldShape(rects(W, [30, 30, 70, 70]), W, W);
  assert.deepEqual({ fields: one.fields, balance: one.balance, gap: one.gap }, { fields: 1, balance: 0, gap: 0 });
  // A small second blob: two components, but not balanced.
  close(lungFieldShape(rects(W, [10, 10, 50, 90], [70, 40, 74, 44]), W, W).balance, 16 / (3200 + 16));
  assert.throws(() => lungFieldShape(new Uint8Array(3), 2, 2), /holds 3 pixels, not 2×2/);
});

test('lung fields joined by a thin bridge are taken apart by erosion; a blob and a wide join are not', () => {
  const W = 100; // erosion up to 3 px (3 % of the width)
  // Two 20×40 fields joined by a bridge 4 px high (y 48–51) across the mediastinum (x 40–59).
  const bridged = rects(W, [20, 30, 40, 70], [60, 30, 80, 70], [40, 48, 60, 52]);
  const px = new Uint8Array(W * W).fill(200);
  for (let i = 0; i < px.length; i++) if (bridged[i]) px[i] = 50; // dark lungs, bright mediastinum
  const s = lungFieldShape(bridged, W, W, px);
  close(s.area, 0.168); // the whole mask's share, not the eroded one's
  assert.equal(s.fields, 2);
  // Read after 2 erosions: two 16×36 fields, each with a 6-pixel stub of the bridge (582 px), so
  // the centroids sit 0.09 px inward (by hand: x 29.591 and 69.409).
  close(s.balance, 0.5);
  close(s.gap, 0.39818, 1e-4);
  close(s.offset, 0);
  // Apart only where the fields are darker than the mediastinum (≥ 0.05): not on a flat image, nor
  // without pixels.
  for (const flat of [new Uint8Array(W * W).fill(120), undefined])
    assert.deepEqual((({ fields, balance }) => ({ fields, balance }))(lungFieldShape(bridged, W, W, flat)), {
      fields: 1,
      balance: 0,
    });
  // A bridge 8 px high needs 4 erosions: beyond 3 %, one field.
  const wide = lungFieldShape(rects(W, [20, 30, 40, 70], [60, 30, 80, 70], [40, 46, 60, 54]), W, W, px);
  assert.deepEqual({ fields: wide.fields, balance: wide.balance }, { fields: 1, balance: 0 });
  // A square never comes apart, and a small second blob that erosion removes keeps the first reading.
  assert.equal(lungFieldShape(rects(W, [30, 30, 70, 70]), W, W).balance, 0);
  close(lungFieldShape(rects(W, [10, 10, 50, 90], [70, 40, 74, 44]), W, W).balance, 16 / (3200 + 16));
});

test('the conformal limit: the ⌈(n+1)(1−α)⌉-th smallest, the largest when n is too small', () => {
  const v = [5, 1, 9, 3, 7, 2, 8, 4, 10, 6];
  assert.deepEqual(conformalLimit(v, 0.2), { limit: 9, rank: 9, guaranteed: true }); // ⌈11 × 0.8⌉ = 9
  assert.deepEqual(conformalLimit(v, 0.1), { limit: 10, rank: 10, guaranteed: true });
  assert.deepEqual(conformalLimit(v, 0.05), { limit: 10, rank: 10, guaranteed: false });
  assert.throws(() => conformalLimit([], 0.1), /at least one/);
});

test('the verdict: every check listed, the first failure in words with value and limit; no record, no checks', () => {
  const shape = { area: 0.3, fields: 2, balance: 0.45, gap: 0.4, offset: 0.02, contrast: 0.15 };
  const record = {
    lungFields: LUNG_FIELD_LIMITS,
    features: { ...fitShrunkGaussian([1, 0, -1, 0, 0, 2, 0, -2], 4, 2), limit: 2 } as never,
  };
  const ok = frontalVerdict(record, shape, [1, 1]);
  assert.equal(ok.frontal, true);
  assert.deepEqual(
    ok.checks.map((c) => c.check),
    ['lung-area', 'lung-area-max', 'two-fields', 'side-by-side', 'level', 'dark-lungs', 'feature-distance'],
  );
  const far = frontalVerdict(record, shape, [4, 0]);
  assert.equal(far.frontal, false);
  assert.match(
    far.reason!,
    /^the image is far from the model's training images \(feature-distance 3\.\d{3}, limit ≤ 2\.000\)$/,
  );
  const lateral = frontalVerdict(record, { ...shape, fields: 1, balance: 0.01 }, null);
  assert.match(lateral.reason!, /does not find two lung fields \(two-fields 0\.010, limit ≥ 0\.200\)/);
  // A frontal film with one lung white fails it too: the reason says so, for the reader.
  assert.match(lateral.reason!, /; a frontal film with one lung white .* fails this check too: have it read$/);
  assert.deepEqual(frontalVerdict(null, { ...shape, area: 0 }, [9, 9]), { frontal: true, checks: [], reason: null });
  assert.equal(verdictOf([]).frontal, true);
});
