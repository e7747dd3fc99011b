// Whether a step with inf/NaN gradients is applied is the request's (StepOptions.skipNonFinite, set
// by recipe/gradScaler.ts), not the addon's: it reports `finite` and skips only when told to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Model } from '../../src/engine/model.js';
import type { Batch, TensorMap } from '../../src/engine/types.js';

function batchOf(n: number, s: number): Batch {
  const px = new Uint8Array(n * s * s);
  let x = 3;
  for (let i = 0; i < px.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    px[i] = x >>> 24;
  }
  return { pixels: px, shape: [n, s, s, 1], labels: Int32Array.from({ length: n }, (_, i) => i % 2) };
}

const floats = (m: TensorMap, name: string) => {
  const d = m.get(name)!.data;
  return new Float32Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength));
};

async function model() {
  const m = await Model.create({ arch: 'resnet18', numClasses: 2 });
  m.configureOptimizer({ kind: 'sgd', groups: [m.layers().flatMap((l) => l.params)] });
  m.setBatchNormMode('eval'); // running statistics stay put, so only the optimizer step can move the state
  return m;
}

// fp32 with the loss scaled by 3e38 (float32's largest finite is 3.4e38): the loss stays finite, the
// classifier's gradients overflow to inf on the way back.
const OVERFLOW = { precision: 'fp32' as const, lossScale: 3e38 };
const H = [{ lr: 0.01, momentum: 0, weightDecay: 0 }];

test('skipNonFinite true: an overflowing step is reported and leaves every weight as it was', async () => {
  const m = await model();
  const b = batchOf(2, 32);
  const before = await m.state();
  const r = await m.trainStep(b, H, { ...OVERFLOW, skipNonFinite: true });
  assert.ok(Number.isFinite(r.loss), `the loss itself is finite (${r.loss})`);
  assert.equal(r.overflow, true);
  const after = await m.state();
  for (const name of before.keys()) assert.deepEqual(after.get(name)!.data, before.get(name)!.data, name);
  // The default is to skip, too.
  const d = await m.trainStep(b, H, OVERFLOW);
  assert.equal(d.overflow, true);
  assert.deepEqual(floats(await m.state(), 'fc.weight'), floats(before, 'fc.weight'));
  // A clean step is applied.
  const ok = await m.trainStep(b, H, { skipNonFinite: true });
  assert.equal(ok.overflow, false);
  assert.notDeepEqual(floats(await m.state(), 'fc.weight'), floats(before, 'fc.weight'));
});

test('skipNonFinite false: the same step is reported and applied (its inf gradients reach the weights)', async () => {
  const m = await model();
  const before = await m.state();
  const r = await m.trainStep(batchOf(2, 32), H, { ...OVERFLOW, skipNonFinite: false });
  assert.equal(r.overflow, true);
  assert.notDeepEqual(floats(await m.state(), 'conv1.weight'), floats(before, 'conv1.weight'), 'every layer stepped');
  // The classifier's gradient is where the scaled loss overflows (as measured here: 2 of fc.weight's 1024).
  const w = floats(await m.state(), 'fc.weight');
  assert.ok(
    w.some((v) => !Number.isFinite(v)),
    'the optimizer stepped with the non-finite gradients',
  );
});
