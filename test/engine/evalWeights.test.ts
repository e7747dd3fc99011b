// Eval calls keep their convolution weights made once (native/src/eval_weights.h): cast to bf16
// instead of autocast's cast on every call (ResNet-50 bf16 at batch 1: 79 → 42 ms), and with the
// BatchNorm after each convolution folded in. That BatchNorm folding equals torchvision's
// unfolded BatchNorm is golden.test.ts's (with BatchNorm statistics of their own); here: the
// folding happens where it should and only there, and no kept weight outlives a change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Model } from '../../src/engine/model.js';
import { setThreads, manualSeed } from '../../src/engine/runtime.js';
import { profileOps } from '../../src/engine/profiler.js';
import { benchBatch } from '../../src/bench/bench.js';

const SIZE = 64;
const calls = async (op: string, work: () => Promise<unknown>) =>
  (await profileOps(work)).events.name.filter((n: string) => n === op).length;
const casts = (work: () => Promise<unknown>) => calls('aten::_to_copy', work);
const batchNorms = (work: () => Promise<unknown>) => calls('aten::native_batch_norm', work);
const same = (a: Float32Array, b: Float32Array, what: string) => assert.deepEqual(Array.from(a), Array.from(b), what);

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
  assert.ok(
    first - again >= convs && again < 10,
    `${convs} convolution weights cast once: ${first} casts, then ${again}`,
  );
  same(
    (await m.predict(x, { precision: 'bf16' })).logits,
    (await m.predict(x, { precision: 'bf16' })).logits,
    'repeated bf16 predict',
  );
  // bf16 stays close to fp32 (the copies are of these weights, not stale ones).
  const f = (await m.predict(x, { precision: 'fp32' })).logits;
  const b = (await m.predict(x, { precision: 'bf16' })).logits;
  const scale = Math.max(...Array.from(f, Math.abs));
  for (let i = 0; i < f.length; i++)
    assert.ok(Math.abs(f[i]! - b[i]!) < 0.05 * scale, `logit ${i}: fp32 ${f[i]} vs bf16 ${b[i]}`);
});

for (const precision of ['bf16', 'fp32'] as const)
  test(
    `the kept ${precision === 'bf16' ? 'bf16 copies' : 'prepacked fp32 weights'} follow the weights: ` +
      'after loadState and after a training step',
    async () => {
      setThreads(1);
      const x = benchBatch(2, SIZE);
      manualSeed(1);
      const a = await Model.create({ arch: 'resnet18', numClasses: 2 });
      manualSeed(2);
      const b = await Model.create({ arch: 'resnet18', numClasses: 2 });
      await a.predict(x, { precision }); // fills a's copies
      await a.loadState(await b.state());
      same((await a.predict(x, { precision })).logits, (await b.predict(x, { precision })).logits, 'after loadState');

      a.configureOptimizer({ kind: 'sgd', groups: [a.layers().flatMap((l) => l.params)] });
      await a.trainStep(x, [{ lr: 0.5, momentum: 0, weightDecay: 0 }], { precision: 'fp32' });
      manualSeed(3);
      const c = await Model.create({ arch: 'resnet18', numClasses: 2 });
      await c.loadState(await a.state());
      const after = (await a.predict(x, { precision })).logits;
      same(after, (await c.predict(x, { precision })).logits, 'after a training step');
      assert.notDeepEqual(
        Array.from(after),
        Array.from((await b.predict(x, { precision })).logits),
        'the step changed the answer',
      );
    },
  );

test(
  'eval calls fold every BatchNorm that follows a convolution; ' + 'training and BatchNorm statistics do not',
  async () => {
    setThreads(1);
    manualSeed(1);
    const x = benchBatch(2, SIZE);
    const r = await Model.create({ arch: 'resnet18', numClasses: 2 });
    assert.equal(await batchNorms(() => r.predict(x, { precision: 'fp32' })), 0, 'resnet18 predict: all 20 folded');
    assert.equal(
      await batchNorms(() => r.predict(x, { precision: 'bf16' })),
      0,
      'resnet18 bf16 predict: all 20 folded',
    );
    assert.equal(await batchNorms(() => r.gradCamMaps(x, 1)), 0, 'resnet18 Grad-CAM: all 20 folded');
    // DenseNet normalises before its convolutions: only norm0 and each layer's norm2 follow one;
    // each layer's norm1 runs as its affine map in fp32 (it reads a view of the block's buffer),
    // so a BatchNorm kernel is left for the transitions' and norm5.
    const d = await Model.create({ arch: 'densenet121', numClasses: 2 });
    const dn = d
      .layers()
      .filter((l) => l.kind === 'bn')
      .map((l) => l.name);
    const unfoldable = dn.filter((n) => !/\.norm0$|\.norm2$/.test(n)).length;
    const kernels = dn.filter((n) => /transition\d\.norm$|\.norm5$/.test(n)).length;
    assert.equal(kernels, 4);
    assert.equal(
      await batchNorms(() => d.predict(x, { precision: 'fp32' })),
      kernels,
      `densenet121 fp32: ${dn.length - unfoldable} of ${dn.length} folded, the norm1s affine`,
    );
    assert.equal(
      await batchNorms(() => d.predict(x, { precision: 'bf16' })),
      unfoldable,
      `densenet121 bf16: ${dn.length - unfoldable} of ${dn.length} folded`,
    );
    // Training, and the BatchNorm input statistics the audit reads, run every BatchNorm.
    r.configureOptimizer({ kind: 'sgd', groups: [r.layers().flatMap((l) => l.params)] });
    assert.equal(
      await batchNorms(() => r.trainStep(x, [{ lr: 0, momentum: 0, weightDecay: 0 }], { precision: 'fp32' })),
      20,
    );
    const stats = await r.batchNormInputStats(x);
    assert.equal(stats.length, 20);
  },
);

test(
  'Grad-CAM after a bf16 and an fp32 predict equals a ' + "fresh model's (kept weights are not inference-only)",
  async () => {
    setThreads(1);
    const x = benchBatch(1, SIZE);
    manualSeed(4);
    const a = await Model.create({ arch: 'mobilenet_v2', numClasses: 2 });
    manualSeed(4);
    const b = await Model.create({ arch: 'mobilenet_v2', numClasses: 2 });
    await a.predict(x, { precision: 'bf16' });
    await a.predict(x, { precision: 'fp32' });
    const ca = await a.gradCamMaps(x, 1);
    const cb = await b.gradCamMaps(x, 1);
    same(ca.maps, cb.maps, 'CAM');
  },
);
