// Three-class figures on a set small enough to count by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { argMax, summarizeMultiClass } from '../../src/recipe/multiClass.js';
import { auc } from '../../src/recipe/roc.js';
import { wilson } from '../../src/recipe/wilson.js';

// Six images, classes 0 = covid, 1 = pneumonia, 2 = normal; rows of softmax probabilities.
const probs = [
  [0.7, 0.2, 0.1], // covid → covid
  [0.5, 0.4, 0.1], // covid → covid
  [0.2, 0.6, 0.2], // covid → pneumonia
  [0.1, 0.8, 0.1], // pneumonia → pneumonia
  [0.3, 0.3, 0.4], // pneumonia → normal
  [0.1, 0.1, 0.8], // normal → normal
].flat();
const labels = [0, 0, 0, 1, 1, 2];

test('confusion at arg-max, per-class rates with Wilson intervals, one-vs-rest AUCs', () => {
  assert.deepEqual([...argMax([0.4, 0.4, 0.2], 3)], [0]); // a tie goes to the lower index
  const s = summarizeMultiClass(probs, labels, 3, { iterations: 200 });
  assert.deepEqual(s.confusion, [
    [2, 1, 0],
    [0, 1, 1],
    [0, 0, 1],
  ]);
  assert.deepEqual(s.accuracy, wilson(4, 6));
  const [covid, pneu, normal] = s.perClass;
  // covid: 2 of 3 found; called covid twice, both right; 3 others, none called covid.
  assert.deepEqual([covid!.sensitivity, covid!.ppv, covid!.specificity], [wilson(2, 3), wilson(2, 2), wilson(3, 3)]);
  // pneumonia: 1 of 2 found; called pneumonia twice (1 right); of 4 others, 3 not called pneumonia.
  assert.deepEqual([pneu!.sensitivity, pneu!.ppv, pneu!.specificity], [wilson(1, 2), wilson(1, 2), wilson(3, 4)]);
  assert.deepEqual([normal!.sensitivity, normal!.ppv, normal!.specificity], [wilson(1, 1), wilson(1, 2), wilson(4, 5)]);
  // One-vs-rest AUC of covid by its column: positives 0.7, 0.5, 0.2 against 0.1, 0.3, 0.1 → 8 of 9 pairs won.
  assert.ok(Math.abs(covid!.auc.value - 8 / 9) < 1e-12);
  const col = (c: number) => labels.map((_, i) => probs[i * 3 + c]!);
  for (const f of s.perClass) assert.equal(f.auc.value, auc(col(f.class), labels, f.class));
  assert.ok(Math.abs(s.macroAuc - (s.perClass[0]!.auc.value + s.perClass[1]!.auc.value + 1) / 3) < 1e-12);
  assert.equal(s.perClass[2]!.auc.value, 1); // normal's 0.8 tops every other image's normal column
  assert.throws(() => summarizeMultiClass(probs, [0, 0, 0, 1, 1, 3], 3), /not one of the 3 classes/);
});
