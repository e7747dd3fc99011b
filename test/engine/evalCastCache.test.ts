// A bf16 predict keeps bf16 copies of the convolution weights (native/src/common.h,
// EvalCastCache) instead of casting every weight again on each call as autocast does: ResNet-50
// at batch 1 went from 79 to 42 ms. A cache must never answer with weights that have changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Model } from '../../src/engine/model.js';
import { setThreads, manualSeed } from '../../src/engine/runtime.js';
import { profileOps } from '../../src/engine/profiler.js';
import { benchBatch } from '../../src/app/bench.js';

const SIZE = 64;
const casts = async (work: () => Promise<unknown>) =>
  (await profileOps(work)).events.name.filter((n: string) => n === 'aten::_to_copy').length;
const same = (a: Float32Array, b: Float32Array, what: string) =>
  assert.deepEqual(Array.from(a), Array.from(b), what);

test('a repeated bf16 predict casts no weight again, and answers as the first did', async () => {
  setThreads(1);
  manualSeed(1);
  const m = await Model.create({ arch: 'resnet18', numClasses: 2, channelsLast: true });
  const x = benchBatch(1, SIZE);
  const convs = m.layers().filter((l) => l.kind === 'conv').length;
  const first = await casts(() => m.predict(x, { precision: 'bf16' }));
  const again = await casts(() => m.predict(x, { precision: 'bf16' }));
  assert.ok(first >= convs, `the first call casts each of the ${convs} convolution weights (${first} casts)`);
  // What a repeated call still casts: the input, the classifier's arguments, the output.
  assert.ok(first - again >= convs && again < 10, `${convs} convolution weights cast once: ${first} casts, then ${again}`);
  same((await m.predict(x, { precision: 'bf16' })).logits, (await m.predict(x, { precision: 'bf16' })).logits, 'repeated bf16 predict');
  // bf16 stays close to fp32 (the copies are of these weights, not stale ones).
  const f = (await m.predict(x, { precision: 'fp32' })).logits;
  const b = (await m.predict(x, { precision: 'bf16' })).logits;
  const scale = Math.max(...Array.from(f, Math.abs));
  for (let i = 0; i < f.length; i++) assert.ok(Math.abs(f[i]! - b[i]!) < 0.05 * scale, `logit ${i}: fp32 ${f[i]} vs bf16 ${b[i]}`);
});

test('the bf16 copies follow the weights: after loadState and after a training step', async () => {
  setThreads(1);
  const x = benchBatch(2, SIZE);
  manualSeed(1);
  const a = await Model.create({ arch: 'resnet18', numClasses: 2 });
  manualSeed(2);
  const b = await Model.create({ arch: 'resnet18', numClasses: 2 });
  await a.predict(x, { precision: 'bf16' });  // fills a's copies
  await a.loadState(await b.state());
  same((await a.predict(x, { precision: 'bf16' })).logits, (await b.predict(x, { precision: 'bf16' })).logits, 'after loadState');

  a.configureOptimizer({ kind: 'sgd', groups: [a.layers().flatMap((l) => l.params)] });
  await a.trainStep(x, [{ lr: 0.5, momentum: 0, weightDecay: 0 }], { precision: 'fp32' });
  manualSeed(3);
  const c = await Model.create({ arch: 'resnet18', numClasses: 2 });
  await c.loadState(await a.state());
  const after = (await a.predict(x, { precision: 'bf16' })).logits;
  same(after, (await c.predict(x, { precision: 'bf16' })).logits, 'after a training step');
  assert.notDeepEqual(Array.from(after), Array.from((await b.predict(x, { precision: 'bf16' })).logits), 'the step changed the answer');
});
