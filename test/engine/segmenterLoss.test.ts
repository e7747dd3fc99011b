// The segmenter's loss is the request's: BCE × bceWeight + (1 − soft Dice) × diceWeight, with
// Dice over the whole batch (smooth 1), computed here by hand from the same forward pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_LOSS, Model } from '../../src/engine/model.js';
import { manualSeed, setThreads } from '../../src/engine/runtime.js';
import type { Batch } from '../../src/engine/types.js';

const S = 32,
  N = 2;

test('Dice and BCE weights reach the loss; the default weighs each 1', async () => {
  setThreads(2);
  manualSeed(2);
  const m = await Model.create({ task: 'segment', arch: 'unet_resnet18', decoderChannels: [16, 8, 8, 8, 4] });
  assert.deepEqual(DEFAULT_LOSS.segment, { kind: 'diceBce', diceWeight: 1, bceWeight: 1 });
  const px = new Uint8Array(N * S * S);
  let x = 9;
  for (let i = 0; i < px.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    px[i] = x >>> 24;
  }
  const masks = Uint8Array.from({ length: N * S * S }, (_, i) => (i % S < 12 ? 1 : 0));
  const b: Batch = { pixels: px, shape: [N, S, S, 1], masks };
  m.configureOptimizer({ kind: 'adamw', groups: [m.layers().flatMap((l) => l.params)] });
  m.setBatchNormMode('eval'); // the same forward pass every time (lr 0: no step moves anything)
  const { logits } = await m.predict(b);
  let bce = 0,
    py = 0,
    p = 0,
    y = 0;
  for (let i = 0; i < logits.length; i++) {
    const z = logits[i]!,
      t = masks[i]!;
    const q = 1 / (1 + Math.exp(-z));
    bce += Math.max(z, 0) - z * t + Math.log1p(Math.exp(-Math.abs(z)));
    py += q * t;
    p += q;
    y += t;
  }
  bce /= logits.length;
  const diceLoss = 1 - (2 * py + 1) / (p + y + 1);
  const H = [{ lr: 0, momentum: 0.9, weightDecay: 0 }];
  const step = async (diceWeight: number, bceWeight: number) =>
    (await m.trainStep(b, H, { loss: { kind: 'diceBce', diceWeight, bceWeight } })).loss;
  // fp32 against float64 over 2048 pixels: a few 1e-7.
  const near = (a: number, e: number) => assert.ok(Math.abs(a - e) < 2e-6, `${a} vs ${e}`);
  near(await step(0, 1), bce);
  near(await step(1, 0), diceLoss);
  near(await step(2, 0.5), 2 * diceLoss + 0.5 * bce);
  near((await m.trainStep(b, H)).loss, diceLoss + bce);
  await assert.rejects(m.trainStep(b, H, { loss: { kind: 'crossEntropy' } }), /cross-entropy is a classifier loss/);
  await assert.rejects(
    m.trainStep(b, H, { loss: { kind: 'diceBce', diceWeight: -1, bceWeight: 1 } }),
    /loss diceWeight must be finite and >= 0/,
  );
  await assert.rejects(m.gradCamMaps(b, 0), /Grad-CAM needs a classifier/);
});
