import assert from 'node:assert/strict';
import { test } from 'node:test';
import { topLosses } from '../../src/recipe/topLosses.js';
import { close } from './helpers.js';

const probs = new Float32Array([0.9, 0.1, 0.2, 0.8, 0.6, 0.4, 0.01, 0.99]);
const labels = [1, 1, 0, 0];

test('rows sorted by cross-entropy, with predicted / actual / p(actual)', () => {
  const r = topLosses(probs, 2, labels);
  assert.deepEqual(
    r.map((x) => x.row),
    [3, 0, 2, 1],
  );
  close(r[0]!.loss, -Math.log(0.01), 1e-6);
  close(r[1]!.loss, -Math.log(0.1), 1e-6);
  assert.deepEqual(
    { ...r[0]!, loss: 0, probActual: 0, probPredicted: 0 },
    { row: 3, actual: 0, predicted: 1, probActual: 0, probPredicted: 0, loss: 0 },
  );
  close(r[0]!.probActual, 0.01, 1e-7);
  close(r[0]!.probPredicted, 0.99, 1e-7);
  assert.deepEqual(
    topLosses(probs, 2, labels, { k: 2 }).map((x) => x.row),
    [3, 0],
  );
  assert.deepEqual(
    topLosses(probs, 2, labels, { wrongOnly: true }).map((x) => x.row),
    [3, 0],
  );
});

test('a decision threshold changes the predicted class, not the loss', () => {
  const r = topLosses(probs, 2, labels, { threshold: 0.05 });
  assert.ok(r.every((x) => x.predicted === 1));
  assert.throws(() => topLosses(new Float32Array(6), 3, [0, 1], { threshold: 0.5 }), /two classes only/);
});

test('a zero probability gives a finite loss; bad shapes are refused', () => {
  const r = topLosses([1, 0], 2, [1]);
  close(r[0]!.loss, -Math.log(1e-12), 1e-9);
  assert.throws(() => topLosses([0.5, 0.5, 0.5], 2, [1, 0]), /3 probabilities for 2 rows of 2 classes/);
  assert.throws(() => topLosses([0.5, 0.5], 2, [2]), /not a class index/);
});
