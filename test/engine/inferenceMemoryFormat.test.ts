// Families that load for CPU inference in channels_last (inferenceChannelsLast: MobileNetV2,
// DenseNet) must answer exactly what the NCHW model answers: logits and Grad-CAM maps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Model } from '../../src/engine/model.js';
import { setThreads, manualSeed } from '../../src/engine/runtime.js';
import { familyOf } from '../../src/engine/models/registry.js';
import { benchBatch } from '../../src/app/bench.js';
import type { Arch } from '../../src/engine/types.js';

const maxAbs = (a: ArrayLike<number>) => Math.max(...Array.from(a, Math.abs));
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i]!)));

test('the families that infer in channels_last are the measured ones', () => {
  const on = (['resnet18', 'densenet121', 'mobilenet_v2'] as Arch[]).filter((a) => familyOf(a).inferenceChannelsLast);
  assert.deepEqual(on, ['densenet121', 'mobilenet_v2']);
});

for (const arch of ['densenet121', 'mobilenet_v2'] as Arch[]) {
  test(`${arch}: channels_last inference gives the NCHW model's logits and CAM (batch 2 and batch 1)`, async () => {
    setThreads(1);
    manualSeed(5);
    const nchw = await Model.create({ arch, numClasses: 2 });
    const cl = await Model.create({ arch, numClasses: 2, channelsLast: true });
    await cl.loadState(await nchw.state());
    for (const n of [2, 1]) {
      const b = benchBatch(n, 96);
      const [p, q] = [await nchw.predict(b, { precision: 'fp32' }), await cl.predict(b, { precision: 'fp32' })];
      assert.ok(maxDiff(p.logits, q.logits) <= 1e-4 * Math.max(1, maxAbs(p.logits)), `${arch} batch ${n} logits differ by ${maxDiff(p.logits, q.logits)}`);
      const [c, d] = [await nchw.gradCamMaps(b, 1), await cl.gradCamMaps(b, 1)];
      assert.deepEqual(c.shape, d.shape);
      assert.ok(maxDiff(c.maps, d.maps) <= 1e-4 * maxAbs(c.maps), `${arch} batch ${n} CAM differs by ${maxDiff(c.maps, d.maps)}`);
    }
  });
}
