// The shortcut audit's tests and verdicts on synthetic scores (no engine): a "shortcut" model
// whose score survives occlusion is flagged, a "clean" one whose score collapses passes;
// features that carry the source and cues that carry the label are flagged; per-source and
// leave-one-source-out figures against hand counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  leaveOneSourceOut,
  metadataBaseline,
  occlusionTest,
  perSource,
  sourceProbe,
  worst,
} from '../../src/recipe/shortcutAudit.js';
import { Rng } from '../../src/util/rng.js';

const close = (a: number, b: number, tol: number, what = '') =>
  assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b}`);
const rng = new Rng(11);
const n = 120;
const y = Int32Array.from({ length: n }, (_, i) => i % 2);
const patients = Array.from({ length: n }, (_, i) => `p${i}`);

test('occlusion: a score that survives blanking the lungs is flagged, one that collapses passes', () => {
  // Shortcut: the frame still tells positives from negatives.
  const shortcut = Float64Array.from(y, (v) => (v ? 0.8 : 0.2) + 0.25 * rng.normal());
  const s = occlusionTest('frame-only', shortcut, y, 0.99, 0.5, { bootstrap: 500 });
  assert.equal(s.verdict, 'flag');
  assert.ok(s.auc.value > 0.9 && s.auc.lo > 0.5);
  close(s.retained, (s.auc.value - 0.5) / 0.49, 1e-12, 'retained');
  assert.match(s.text, /^frame-only: AUC 0\.9\d\d \(95 % CI .*\) — FLAG: the model still separates/);
  // Clean: the score no longer depends on the label.
  const clean = Float64Array.from(y, () => 0.5 + 0.1 * rng.normal());
  const c = occlusionTest('lungs-out', clean, y, 0.95, 0.5, { bootstrap: 500 });
  assert.equal(c.verdict, 'pass', c.text);
  assert.ok(Math.abs(c.auc.value - 0.5) < 0.15);
  // Above the limit on 10 images: the interval reaches 0.5 → warn, not flag.
  const few = occlusionTest(
    'frame-only',
    [0.9, 0.2, 0.6, 0.4, 0.3, 0.7, 0.8, 0.1, 0.35, 0.55],
    [1, 0, 1, 0, 1, 0, 1, 0, 1, 0],
    0.9,
    0.5,
    { bootstrap: 500 },
  );
  // positives .9,.6,.3,.8,.35 vs negatives .2,.4,.7,.1,.55: 5+4+2+5+2 = 18 of 25
  close(few.auc.value, 18 / 25, 1e-12, 'hand AUC');
  assert.equal(few.verdict, 'warn');
  // Reversed separation is information too.
  const rev = occlusionTest(
    'lungs-out',
    Float64Array.from(shortcut, (v) => 1 - v),
    y,
    0.99,
    0.5,
    { bootstrap: 500 },
  );
  assert.equal(rev.verdict, 'warn');
  assert.match(rev.text, /in reverse/);
  // Accuracy at the model's threshold: hand count on the 10-image case (TP .9,.6,.8 ; TN .2,.4,.1) = 6/10.
  assert.equal(few.accuracy.num, 6);
});

test('source probe: features that encode the source within a label are flagged; noise passes; one source → n/a', () => {
  const labels = Array.from(y, (v) => (v ? 'covid' : 'normal'));
  const sources = labels.map((l, i) => (l === 'covid' ? (i % 4 === 1 ? 'A' : 'B') : i % 4 === 0 ? 'C' : 'D'));
  const d = 8;
  const feats = new Float64Array(n * d);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++)
      feats[i * d + j] = rng.normal() + (j === 0 && (sources[i] === 'A' || sources[i] === 'C') ? 3 : 0);
  const r = sourceProbe(feats, d, labels, sources, patients, { bootstrap: 300 });
  assert.deepEqual(
    r.labels.map((l) => l.label),
    ['covid', 'normal'],
  );
  for (const l of r.labels) {
    assert.equal(l.n, 60);
    close(l.majority, 0.5, 1e-12);
    assert.ok(l.accuracy.value > 0.85, `${l.label} ${l.accuracy.value}`);
    assert.equal(l.verdict, 'flag');
    assert.ok(l.auc && l.auc.value > 0.9);
  }
  assert.equal(r.verdict, 'flag');
  const noise = Float64Array.from({ length: n * d }, () => rng.normal());
  const p = sourceProbe(noise, d, labels, sources, patients, { bootstrap: 300 });
  assert.equal(p.verdict, 'pass', p.text);
  const one = sourceProbe(
    noise,
    d,
    labels,
    labels.map(() => 'phantom'),
    patients,
  );
  assert.equal(one.verdict, 'n/a');
  assert.match(one.text, /no label has images from two or more sources/);
});

test('metadata-only baseline: a cue that carries the label is flagged (and named); uninformative cues pass', () => {
  const names = ['width', 'frame mean', 'noise'];
  const x = new Float64Array(n * 3);
  for (let i = 0; i < n; i++) {
    x[i * 3] = 512;
    x[i * 3 + 1] = (y[i] ? 0.4 : 0.2) + 0.05 * rng.normal();
    x[i * 3 + 2] = rng.normal();
  }
  const m = metadataBaseline(x, names, y, patients, { bootstrap: 300 });
  assert.equal(m.verdict, 'flag', m.text);
  assert.equal(m.single[0]!.feature, 'frame mean');
  assert.ok(m.auc.value > 0.9);
  for (let i = 0; i < n; i++) x[i * 3 + 1] = rng.normal();
  const c = metadataBaseline(x, names, y, patients, { bootstrap: 300 });
  assert.equal(c.verdict, 'pass', c.text);
  assert.equal(metadataBaseline(x, names, new Int32Array(n), patients).verdict, 'n/a');
});

test('per source and leave one source out against hand counts', () => {
  // covid from A (.9, .8) and B (.3, .2); normal from N (.5, .4, .1); threshold 0.5.
  const scores = [0.9, 0.8, 0.3, 0.2, 0.5, 0.4, 0.1];
  const yy = [1, 1, 1, 1, 0, 0, 0];
  const labels = ['covid', 'covid', 'covid', 'covid', 'normal', 'normal', 'normal'];
  const sources = ['A', 'A', 'B', 'B', 'N', 'N', 'N'];
  const per = perSource(scores, yy, sources, 0.5, { bootstrap: 200 });
  assert.deepEqual(
    per.sources.map((s) => [s.source, s.n, s.positives, s.negatives]),
    [
      ['A', 2, 2, 0],
      ['B', 2, 2, 0],
      ['N', 3, 0, 3],
    ],
  );
  assert.equal(per.sources[0]!.sensitivity.value, 1);
  assert.equal(per.sources[1]!.sensitivity.value, 0);
  close(per.sources[2]!.specificity.value, 2 / 3, 1e-12); // .5 ≥ .5 is called positive
  assert.equal(per.sources[0]!.auc, null);
  assert.equal(per.mixedShare, 0);
  assert.equal(per.verdict, 'flag');
  assert.match(per.text, /every source holds a single class/);
  const loso = leaveOneSourceOut(scores, yy, labels, sources, { bootstrap: 200 });
  assert.deepEqual(
    loso.rows.map((r) => [r.label, r.source, r.n]),
    [
      ['covid', 'A', 2],
      ['covid', 'B', 2],
    ],
  );
  // A alone: .9, .8 beat all three negatives → 1. B alone: .3 and .2 beat only .1 → 2/6.
  close(loso.rows[0]!.alone.value, 1, 1e-12);
  close(loso.rows[1]!.alone.value, 2 / 6, 1e-12);
  close(loso.rows[0]!.without, 2 / 6, 1e-12);
  close(loso.rows[1]!.without, 1, 1e-12);
  // Large sets with the same pattern: the spread is real → warn.
  const S: number[] = [],
    Y: number[] = [],
    L: string[] = [],
    Src: string[] = [];
  for (let i = 0; i < 60; i++) {
    S.push(0.7 + 0.3 * rng.next());
    Y.push(1);
    L.push('covid');
    Src.push('A');
  }
  for (let i = 0; i < 60; i++) {
    S.push(0.6 * rng.next());
    Y.push(1);
    L.push('covid');
    Src.push('B');
  }
  for (let i = 0; i < 60; i++) {
    S.push(0.6 * rng.next() + 0.05);
    Y.push(0);
    L.push('normal');
    Src.push('N');
  }
  const w = leaveOneSourceOut(S, Y, L, Src, { bootstrap: 300 });
  assert.equal(w.verdict, 'warn', w.text);
  // One class in the whole set (a single-class external set): the design check does not apply.
  assert.equal(perSource([0.9, 0.8], [1, 1], ['A', 'B'], 0.5, { bootstrap: 100 }).verdict, 'n/a');
  // Mixed sources: every source holds both classes → pass.
  assert.equal(
    perSource([0.9, 0.1, 0.8, 0.2], [1, 0, 1, 0], ['A', 'A', 'B', 'B'], 0.5, { bootstrap: 100 }).verdict,
    'pass',
  );
});

test('the overall verdict is the worst of the tests', () => {
  assert.equal(worst(['pass', 'n/a', 'warn']), 'warn');
  assert.equal(worst(['pass', 'flag', 'warn']), 'flag');
  assert.equal(worst(['n/a']), 'n/a');
});
