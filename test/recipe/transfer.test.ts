import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  featureTrainable,
  gradualFullEpoch,
  gradualTrainable,
  stagesHeadFirst,
  trainableAt,
} from '../../src/recipe/transfer.js';
import { resnetLike } from './fixtures.js';

const { layers, params } = resnetLike();
const allParams = params.filter((p) => p.kind === 'param').map((p) => p.name);

test('stages from the head down', () => {
  assert.deepEqual(
    stagesHeadFirst(layers).map((s) => s.name),
    ['head', 'stage4', 'stage3', 'stage2', 'stage1', 'stem'],
  );
  assert.equal(gradualFullEpoch(layers), 5);
});

test('feature: only the head trains; buffers are never listed', () => {
  assert.deepEqual(featureTrainable(layers, params), ['fc.weight', 'fc.bias']);
  const t = trainableAt('feature', layers, params, 3);
  assert.equal(t.frozen.length, allParams.length - 2);
  assert.ok(![...t.trainable, ...t.frozen].some((n) => n.includes('running')));
  assert.deepEqual(t.stages, ['head']);
});

test('gradual: one more stage per epoch from the head down', () => {
  assert.deepEqual(gradualTrainable(layers, params, 0), ['fc.weight', 'fc.bias']);
  assert.deepEqual(gradualTrainable(layers, params, 1), [
    'layer4.0.conv1.weight',
    'layer4.0.bn1.weight',
    'layer4.0.bn1.bias',
    'fc.weight',
    'fc.bias',
  ]);
  assert.deepEqual(trainableAt('gradual', layers, params, 2).stages, ['stage3', 'stage4', 'head']);
  assert.deepEqual(gradualTrainable(layers, params, 5), allParams);
  assert.deepEqual(gradualTrainable(layers, params, 50), allParams);
});

test('finetune: everything trains', () => {
  const t = trainableAt('finetune', layers, params);
  assert.deepEqual(t.trainable, allParams);
  assert.deepEqual(t.frozen, []);
});

test('bad input is refused clearly', () => {
  assert.throws(() => trainableAt('frozen' as never, layers, params), /mode must be one of feature, gradual, finetune/);
  assert.throws(() => gradualTrainable(layers, params, -1), /epoch must be a non-negative integer/);
  assert.throws(
    () => trainableAt('feature', layers, params.slice(0, 3)),
    /refers to parameter 3, but the model has 3 entries/,
  );
});
