// The report's numbers on hand-made evaluations: each at the precision its interval supports, the
// threshold at 3 significant digits, and a one-class set saying what it can measure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarize } from '../../src/recipe/metrics.js';
import type { Evaluation } from '../../src/app/evaluate/evaluationRecord.js';
import { headlineCards, otherFigure } from '../../src/app/report/summarySection.js';
import {
  aucText,
  decimalsFor,
  intervalText,
  oneClassText,
  rateText,
  thresholdText,
} from '../../src/app/report/figures.js';

function evaluation(name: string, probs: number[], labels: number[], threshold: number): Evaluation {
  return {
    name,
    data: { external: true },
    protocol: { protocol: 'external', why: 'sources unseen in training' },
    metrics: summarize(probs, labels, threshold, { bootstrapIterations: 200 }),
  } as unknown as Evaluation;
}

test('precision: two significant digits of the interval width, capped at the usual decimals', () => {
  assert.equal(decimalsFor(0.28, 3), 2);
  assert.equal(decimalsFor(0.028, 3), 3);
  assert.equal(decimalsFor(0.0028, 3), 3);
  assert.equal(decimalsFor(16.6, 1), 0);
  assert.equal(decimalsFor(2.7, 1), 1);
  assert.equal(decimalsFor(0, 3), 3);
  assert.equal(intervalText({ value: 0.8123, lo: 0.6512, hi: 0.9301 }), '0.81 (0.65–0.93)');
  assert.equal(intervalText({ value: 0.9512, lo: 0.9401, hi: 0.9603 }), '0.951 (0.940–0.960)');
  // Wilson 39/42 = 92.86 % (80.99–97.54): a 17-point interval supports whole percents.
  assert.equal(intervalText({ value: 39 / 42, lo: 0.80991, hi: 0.97541 }, { percent: true }), '93 % (81–98)');
  // Wilson 950/1000 = 95.0 % (93.47–96.19).
  assert.equal(intervalText({ value: 0.95, lo: 0.93469, hi: 0.96187 }, { percent: true }), '95.0 % (93.5–96.2)');
  assert.equal(intervalText({ value: 0.5, lo: NaN, hi: NaN }), '0.500');
  assert.equal(intervalText({ value: NaN, lo: NaN, hi: NaN }), 'n/a');
  assert.equal(rateText({ value: NaN, lo: 0, hi: 1, den: 0 }), '—');
});

test('threshold: 3 significant digits', () => {
  assert.equal(thresholdText(0.5934655070304871), '0.593');
  assert.equal(thresholdText(0.5), '0.5');
  assert.equal(thresholdText(0.0123456), '0.0123');
  assert.equal(thresholdText(NaN), 'n/a');
});

test('a one-class external set: sensitivity with its interval; AUC and specificity need both classes', () => {
  // 42 positives, 39 above the threshold: sensitivity 39/42, Wilson 80.99–97.54 %.
  const probs = Array.from({ length: 42 }, (_, i) => (i < 39 ? 0.9 : 0.2));
  const e = evaluation('figure1', probs, Array(42).fill(1), 0.5934655070304871);
  const text = 'one class only (42 positives): sensitivity 93 % (81–98); AUC and specificity need both classes';
  assert.equal(oneClassText(e.metrics), text);
  assert.equal(aucText(e.metrics), 'needs both classes');
  const cards = headlineCards(e);
  assert.doesNotMatch(cards, /n\/a/);
  assert.match(cards, /<div class="k">sensitivity<\/div><div class="v">93 % \(81–98\)<\/div>/);
  assert.doesNotMatch(cards, /<div class="k">(AUC|specificity)</);
  assert.ok(cards.includes(`<p>${text}.</p>`));
  assert.match(cards, /at threshold 0\.593; 95 % Wilson intervals\.<\/p>$/);
  assert.equal(otherFigure(e), `<li><span class="good">EXTERNAL</span> figure1: ${text}</li>`);
  // Negatives only: the other way round.
  const neg = evaluation('normals', [0.1, 0.2, 0.7], [0, 0, 0], 0.5);
  assert.equal(
    oneClassText(neg.metrics),
    'one class only (3 negatives): specificity 67 % (21–94); AUC and sensitivity need both classes',
  );
});

test('a two-class set: every card, the AUC at its interval precision', () => {
  // 4 positives, 4 negatives, perfectly separated: AUC 1 with a zero-width interval.
  const e = evaluation('site b', [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1], [1, 1, 1, 1, 0, 0, 0, 0], 0.5);
  assert.equal(oneClassText(e.metrics), null);
  assert.equal(aucText(e.metrics), '1.000 (1.000–1.000)');
  const cards = headlineCards(e);
  // Wilson 4/4 = 100 % (51.0–100): whole percents.
  assert.match(cards, /<div class="k">sensitivity<\/div><div class="v">100 % \(51–100\)<\/div>/);
  assert.match(cards, /<div class="k">accuracy<\/div><div class="v">100 % \(68–100\)<\/div>/);
  assert.match(cards, /at threshold 0\.5; 95 % Wilson intervals, AUC stratified bootstrap \(200 resamples\)\.<\/p>$/);
  assert.equal(
    otherFigure(e),
    '<li><span class="good">EXTERNAL</span> site b: AUC 1.000 (1.000–1.000), ' +
      'sensitivity 100 % (51–100), specificity 100 % (51–100)</li>',
  );
});
