// BatchNorm unfolding on the real ImageNet MobileNetV2 (BN folded into the convs): the eval
// output is unchanged and the train-mode output (batch statistics) becomes close to it,
// where the folded network's train-mode output is far off.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { Model } from '../../src/engine/model.js';
import { loadPretrained } from '../../src/engine/pretrained.js';
import { projectRoot } from '../../src/engine/native.js';
import { setThreads } from '../../src/engine/runtime.js';
import type { Batch } from '../../src/engine/types.js';
import { generatePhantoms } from '../../src/data/phantom.js';
import { batchNormNames, isFoldedBatchNorm, unfoldBatchNorm } from '../../src/app/train/bnUnfold.js';

const PRETRAINED = join(projectRoot(), '..', 'shared', 'pretrained', 'mobilenet_v2-imagenet-ptq.safetensors');
const S = 96;

function batchOf(seed: number, n: number): Batch & { labels: Int32Array } {
  const ph = generatePhantoms({ n, size: S, seed });
  const pixels = new Uint8Array(n * S * S);
  ph.forEach((p, i) => {
    pixels.set(p.pixels, i * S * S);
  });
  return { pixels, shape: [n, S, S, 1], labels: new Int32Array(n) };
}

/** Mean over images of max |Δ log p| over classes. */
function logProbGap(a: Float32Array, b: Float32Array, k: number): number {
  let sum = 0;
  for (let i = 0; i < a.length / k; i++) {
    let m = 0;
    for (let j = 0; j < k; j++) m = Math.max(m, Math.abs(Math.log(a[i * k + j]!) - Math.log(b[i * k + j]!)));
    sum += m;
  }
  return sum / (a.length / k);
}

/** Train-mode forward (batch statistics) without changing anything: a zero-LR step, state restored. */
async function trainModeProbs(m: Model, b: Batch): Promise<Float32Array> {
  const saved = await m.state();
  m.setBatchNormMode('train');
  m.configureOptimizer({ kind: 'sgd', groups: [m.parameters().flatMap((p, i) => (p.kind === 'param' ? [i] : []))] });
  const r = await m.trainStep(b, [{ lr: 0, momentum: 0, weightDecay: 0 }]);
  await m.loadState(saved);
  return r.probs;
}

before(() => setThreads(2));

test('unfolding keeps the eval output and brings train-mode output close to it', {
  skip: !existsSync(PRETRAINED) && 'no ../shared/pretrained',
}, async () => {
  const m = await Model.create({
    arch: 'mobilenet_v2',
    numClasses: 1000,
    dropout: 0,
    normalisation: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
  });
  await loadPretrained(m, PRETRAINED, () => undefined);
  const names = batchNormNames(m);
  assert.equal(names.length, 52);
  assert.ok(isFoldedBatchNorm(await m.state(), names));
  const stats = batchOf(11, 32);
  const probe = batchOf(12, 16);
  const evalBefore = (await m.predict(probe)).logits;
  const probsBefore = (await m.predict(probe)).probs;
  const foldedTrainGap = logProbGap(await trainModeProbs(m, probe), probsBefore, 1000);

  const rep = await unfoldBatchNorm(m, [stats]);
  assert.deepEqual(rep, { layers: 52, images: 32 });
  assert.equal(isFoldedBatchNorm(await m.state(), names), false);
  const evalAfter = (await m.predict(probe)).logits;
  let maxDiff = 0;
  let maxAbs = 0;
  for (let i = 0; i < evalBefore.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(evalAfter[i]! - evalBefore[i]!));
    maxAbs = Math.max(maxAbs, Math.abs(evalBefore[i]!));
  }
  assert.ok(maxDiff < 1e-3 * maxAbs, `eval logits changed by ${maxDiff} (max |logit| ${maxAbs})`);
  const unfoldedTrainGap = logProbGap(await trainModeProbs(m, probe), probsBefore, 1000);
  assert.ok(
    unfoldedTrainGap < foldedTrainGap / 3,
    `train-mode gap: folded ${foldedTrainGap}, unfolded ${unfoldedTrainGap}`,
  );
  console.log(
    `eval max |Δlogit| ${maxDiff.toExponential(2)} (max |logit| ${maxAbs.toFixed(1)}); train-mode mean ` +
      `max|Δ log p|: folded ${foldedTrainGap.toFixed(3)}, unfolded ${unfoldedTrainGap.toFixed(3)}`,
  );
});

test('a freshly initialised network is not mistaken for a folded one', async () => {
  const m = await Model.create({ arch: 'resnet18', numClasses: 2 });
  assert.equal(isFoldedBatchNorm(await m.state(), batchNormNames(m)), false);
});
