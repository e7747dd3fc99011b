// Inference runs every fp32 CPU convolution as a kept oneDNN primitive (native/src/common.h,
// eval_weights.h, onednn_conv.h; libtorch's prepacked op where the addon has no oneDNN headers):
// libtorch's own choice sends small batch-1 convolutions to its im2col path, which cost
// MobileNetV2 55 of 75 ms per image, and at::mkldnn_convolution reorders the weight on every
// call. The override must change the kernel, not the answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Model } from '../../src/engine/model.js';
import { deviceInfo, setThreads, manualSeed } from '../../src/engine/runtime.js';
import { profileOps } from '../../src/engine/profiler.js';
import { benchBatch } from '../../src/bench/bench.js';
import { summariseOps } from '../../src/bench/opProfile.js';
import type { Batch } from '../../src/engine/types.js';

// The op the addon records for an inference convolution, and for making one.
const direct = deviceInfo().inferenceConv === 'onednn';
const RUN = direct ? 'onednn::convolution' : 'mkldnn_prepacked::conv2d_run';
const PACK = direct ? 'onednn::convolution_pack' : 'mkldnn_prepacked::conv2d_prepack';
const opNames = async (work: () => Promise<unknown>) => new Set((await profileOps(work)).events.name);
const flops = async (work: () => Promise<unknown>) => summariseOps((await profileOps(work)).events).flops;
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
};

for (const channelsLast of [false, true]) {
  test(
    `mobilenet_v2${channelsLast ? ' (channels_last)' : ''} at batch 1: no im2col convolution, and the same ` +
      `logits and CAM as inside a batch of 2`,
    async () => {
      setThreads(1);
      manualSeed(3);
      const m = await Model.create({
        arch: 'mobilenet_v2',
        numClasses: 2,
        ...(channelsLast ? { channelsLast: true } : {}),
      });
      const two = benchBatch(2, 224);
      const one: Batch = { pixels: two.pixels.subarray(0, 224 * 224), shape: [1, 224, 224, 1] };
      const names = await opNames(() => m.predict(one, { precision: 'fp32' }));
      assert.ok(!names.has('aten::_slow_conv2d_forward'), 'batch-1 predict avoids the im2col path');
      assert.ok(names.has(RUN), 'kept oneDNN convolutions');
      assert.ok(!names.has('aten::mkldnn_convolution'), 'every convolution prepacked');
      // Recorded as the aten::conv2d it replaces: the profiler still counts its FLOPs.
      const f1 = await flops(() => m.predict(one, { precision: 'fp32' }));
      const f2 = await flops(() => m.predict(two, { precision: 'fp32' }));
      // Integer counts, each op's proportional to the batch: exactly twice.
      assert.ok(f1 > 0 && f2 === 2 * f1, `FLOPs at batch 1 ${f1}, at batch 2 ${f2}`);
      const a = await m.predict(one, { precision: 'fp32' });
      const b = await m.predict(two, { precision: 'fp32' });
      const d = maxDiff(a.logits, b.logits.subarray(0, 2));
      assert.ok(d < 1e-4, `batch-1 vs batch-2 logits differ by ${d}`);
      const camOne = await m.gradCamMaps(one, 1);
      const camTwo = await m.gradCamMaps(two, 1);
      const n = camOne.shape[1] * camOne.shape[2];
      const scale = Math.max(...Array.from(camTwo.maps.subarray(0, n), Math.abs));
      const dc = maxDiff(camOne.maps, camTwo.maps.subarray(0, n));
      assert.ok(dc <= 1e-4 * scale, `batch-1 vs batch-2 CAM differ by ${dc} (scale ${scale})`);
    },
  );
}

test('weights are packed once per input shape: a repeated predict packs nothing, a new shape packs', async () => {
  setThreads(1);
  manualSeed(5);
  const m = await Model.create({ arch: 'resnet18', numClasses: 2, channelsLast: true });
  const convs = m.layers().filter((l) => l.kind === 'conv').length;
  const packs = async (work: () => Promise<unknown>) =>
    (await profileOps(work)).events.name.filter((n: string) => n === PACK).length;
  const one = benchBatch(1, 64);
  const two = benchBatch(2, 64);
  assert.equal(await packs(() => m.predict(one, { precision: 'fp32' })), convs, 'the first call packs each conv');
  assert.equal(await packs(() => m.predict(one, { precision: 'fp32' })), 0, 'the same shape again: none');
  assert.equal(await packs(() => m.predict(two, { precision: 'fp32' })), convs, 'batch 2: each conv again');
  assert.equal(await packs(() => m.predict(one, { precision: 'fp32' })), 0, 'batch 1 is still kept');
});

test("training keeps libtorch's own kernel choice (the bitwise baselines depend on it)", async () => {
  setThreads(1);
  const m = await Model.create({ arch: 'mobilenet_v2', numClasses: 2 });
  m.configureOptimizer({ kind: 'sgd', groups: [m.layers().flatMap((l) => l.params)] });
  const one = benchBatch(1, 224);
  const names = await opNames(() => m.trainStep(one, [{ lr: 0, momentum: 0, weightDecay: 0 }], { precision: 'fp32' }));
  assert.ok(names.has('aten::_slow_conv2d_forward'), "a training step at batch 1 still takes libtorch's choice");
});

// What runs outside the convolutions of a predict, per family: ReLU and ReLU6 always fused;
// the residual fused into a 3x3 kernel (ResNet-18), and beside a 1x1 one (ResNet-50's conv3,
// MobileNetV2's projection: oneDNN's sum there is slower) as one add(+ReLU) pass; the stem's max
// pool a oneDNN pooling that keeps no indices.
const outside: Record<string, { absent: string[]; present: string[] }> = {
  resnet18: { absent: ['aten::add_', 'aten::_add_relu_', 'aten::relu_', 'aten::max_pool2d_with_indices'], present: [] },
  resnet50: { absent: ['aten::add_', 'aten::relu_', 'aten::max_pool2d_with_indices'], present: ['aten::_add_relu_'] },
  mobilenet_v2: { absent: ['aten::hardtanh_', 'aten::clamp', 'aten::relu_'], present: ['aten::add_'] },
};
test('fused where oneDNN is called directly: ReLU, ReLU6, the 3x3 residual; a pool without indices', {
  skip: direct ? false : 'the addon calls libtorch prepacked op (no oneDNN headers at build): it fuses a ReLU only',
}, async () => {
  setThreads(1);
  const one = benchBatch(1, 64);
  for (const [arch, ops] of Object.entries(outside)) {
    const m = await Model.create({ arch: arch as 'resnet18', numClasses: 2, channelsLast: true });
    await m.predict(one, { precision: 'fp32' }); // the first call folds the BatchNorms (adds of its own)
    const names = await opNames(() => m.predict(one, { precision: 'fp32' }));
    assert.ok(names.has(RUN));
    for (const op of ops.absent) assert.ok(!names.has(op), `${arch}: ${op} runs outside the convolutions`);
    for (const op of ops.present) assert.ok(names.has(op), `${arch}: ${op} expected`);
  }
});
