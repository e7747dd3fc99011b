// engine/model.ts is where requests are validated and defaults chosen (the addon has
// neither): bad normalisation, optimizer groups and class weights are refused here, the
// class weights reach the loss, and Grad-CAM's channel weighting is engine/gradCam.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Model } from '../../src/engine/model.js';
import { gradCamMaps } from '../../src/engine/gradCam.js';
import type { Batch } from '../../src/engine/types.js';

function batchOf(n: number, s: number, seed = 1): Batch {
  const px = new Uint8Array(n * s * s);
  let x = seed;
  for (let i = 0; i < px.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    px[i] = x >>> 24;
  }
  return { pixels: px, shape: [n, s, s, 1], labels: Int32Array.from({ length: n }, (_, i) => i % 2) };
}
const H = [{ lr: 0, momentum: 0, weightDecay: 0 }];

test('requests the addon no longer checks are refused by the facade, naming the problem', async () => {
  await assert.rejects(
    Model.create({ arch: 'resnet18', numClasses: 2, normalisation: { mean: [0.5, 0.5, 0.5], std: [0.2, 0, 0.2] } }),
    /normalisation needs 3 finite means and 3 positive standard deviations/,
  );
  await assert.rejects(
    Model.create({ arch: 'resnet18', numClasses: 2, normalisation: { mean: [0.5, 0.5] as never, std: [1, 1, 1] } }),
    /normalisation needs 3 finite means/,
  );
  const m = await Model.create({ arch: 'resnet18', numClasses: 2 });
  const params = m.layers().flatMap((l) => l.params);
  assert.throws(() => m.configureOptimizer({ kind: 'sgd', groups: [] }), /at least one parameter group/);
  assert.throws(
    () => m.configureOptimizer({ kind: 'sgd', groups: [params, [params[0]!]] }),
    /'conv1\.weight' is in two optimizer groups/,
  );
  const buffer = m.parameters().findIndex((p) => p.kind === 'buffer');
  assert.throws(
    () => m.configureOptimizer({ kind: 'sgd', groups: [[buffer]] }),
    /names index \d+, which is not a parameter/,
  );
  await assert.rejects(
    m.loadOptimizerState(new Map()),
    /configureOptimizer must be called before loading optimizer state/,
  );
  m.configureOptimizer({ kind: 'sgd', groups: [params] });
  await assert.rejects(
    m.trainStep(batchOf(2, 32), H, { classWeights: [1] }),
    /class weights must be 2 finite non-negative numbers/,
  );
  await assert.rejects(m.trainStep(batchOf(2, 32), H, { lossScale: 0 }), /loss scale must be finite and > 0/);
});

test('class weights reach the loss: weight 0 on a class drops its images from the mean', async () => {
  const m = await Model.create({ arch: 'resnet18', numClasses: 2 });
  m.configureOptimizer({ kind: 'sgd', groups: [m.layers().flatMap((l) => l.params)] });
  m.setBatchNormMode('eval'); // the same forward pass every time (lr 0: no step moves anything)
  const b = batchOf(4, 32); // labels 0, 1, 0, 1
  const ce = (probs: Float32Array, rows: number[]) =>
    rows.reduce((s, i) => s - Math.log(probs[i * 2 + b.labels![i]!]!), 0) / rows.length;
  const plain = await m.trainStep(b, H);
  // fp32 softmax against the loss's log-softmax: a few ulp (6e-8) relative on each p, so ~1e-7 on its log;
  // dropping or keeping the other class's images moves the mean by ~0.1.
  const all = ce(plain.probs, [0, 1, 2, 3]);
  assert.ok(Math.abs(plain.loss - all) < 1e-6, `${plain.loss} vs ${all}`);
  const only0 = await m.trainStep(b, H, { classWeights: [1, 0] });
  assert.ok(Math.abs(only0.loss - ce(only0.probs, [0, 2])) < 1e-6, `${only0.loss} vs ${ce(only0.probs, [0, 2])}`);
  assert.notEqual(only0.loss.toFixed(4), plain.loss.toFixed(4));
});

test('gradCamMaps: channel k weighs the mean of its gradient; the map is Σ_k w_k A_k', () => {
  // One image, two channels of 1×2: w = [mean(1, 3), mean(-2, 0)] = [2, -1].
  const act = Float32Array.from([1, 2, 10, 20]);
  const grad = Float32Array.from([1, 3, -2, 0]);
  assert.deepEqual([...gradCamMaps(act, grad, [1, 2, 1, 2])], [2 * 1 - 10, 2 * 2 - 20]);
  // Two images are independent.
  const two = gradCamMaps(Float32Array.from([...act, ...act]), Float32Array.from([...grad, 0, 0, 0, 0]), [2, 2, 1, 2]);
  assert.deepEqual([...two], [-8, -16, 0, 0]);
  assert.throws(() => gradCamMaps(act, grad, [1, 2, 2, 2]), /4 activations and 4 gradients for shape \[1,2,2,2\]/);
});
