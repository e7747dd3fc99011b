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

// resnet18 whose classifier makes the step non-finite, whatever the random initialisation:
// 'overflow': fc.weight rows +1e4 and -1e4, so the loss is finite (the features are ReLU outputs, ≥ 0,
// and most images are confidently one class) but, scaled by 3e38, its gradient w.r.t. the features is
// 3e38 × (p − y)/N × 2e4 = inf; 'nan': a NaN fc.bias, so the loss itself is NaN.
async function model(kind: 'overflow' | 'nan') {
  const m = await Model.create({ arch: 'resnet18', numClasses: 2 });
  m.configureOptimizer({ kind: 'sgd', groups: [m.layers().flatMap((l) => l.params)] });
  m.setBatchNormMode('eval'); // running statistics stay put, so only the optimizer step can move the state
  const st = await m.state();
  const name = kind === 'overflow' ? 'fc.weight' : 'fc.bias';
  const t = st.get(name)!;
  const v = floats(st, name);
  if (kind === 'overflow') {
    v.fill(1e4, 0, v.length / 2); // row 0 (class 0)
    v.fill(-1e4, v.length / 2); // row 1
  } else v.fill(Number.NaN);
  await m.loadState(new Map([[name, { ...t, data: new Uint8Array(v.buffer) }]]), { strict: false });
  return m;
}

const OVERFLOW = { precision: 'fp32' as const, lossScale: 3e38 };
const H = [{ lr: 0.01, momentum: 0, weightDecay: 0 }];

for (const kind of ['overflow', 'nan'] as const) {
  test(`skipNonFinite true (${kind}): the step is reported non-finite and leaves every weight as it was`, async () => {
    const m = await model(kind);
    const b = batchOf(2, 32);
    const before = await m.state();
    const r = await m.trainStep(b, H, { ...OVERFLOW, skipNonFinite: true });
    assert.equal(Number.isFinite(r.loss), kind === 'overflow', `loss ${r.loss}`);
    assert.equal(r.overflow, true);
    const after = await m.state();
    for (const name of before.keys()) assert.deepEqual(after.get(name)!.data, before.get(name)!.data, name);
    // The default is to skip, too.
    assert.equal((await m.trainStep(b, H, OVERFLOW)).overflow, true);
    assert.deepEqual(floats(await m.state(), 'conv1.weight'), floats(before, 'conv1.weight'));
  });

  test(`skipNonFinite false (${kind}): the same step is reported and applied, inf/NaN included`, async () => {
    const m = await model(kind);
    const before = await m.state();
    const r = await m.trainStep(batchOf(2, 32), H, { ...OVERFLOW, skipNonFinite: false });
    assert.equal(r.overflow, true);
    const w = floats(await m.state(), 'conv1.weight');
    assert.notDeepEqual(w, floats(before, 'conv1.weight'), 'the backbone stepped');
    assert.ok(
      w.some((x) => !Number.isFinite(x)),
      'with the non-finite gradients',
    );
  });
}

test('a finite step is reported finite and applied, skipNonFinite or not', async () => {
  for (const skipNonFinite of [true, false]) {
    const m = await Model.create({ arch: 'resnet18', numClasses: 2 });
    m.configureOptimizer({ kind: 'sgd', groups: [m.layers().flatMap((l) => l.params)] });
    const before = floats(await m.state(), 'fc.weight');
    const r = await m.trainStep(batchOf(2, 32), H, { skipNonFinite });
    assert.equal(r.overflow, false);
    assert.notDeepEqual(floats(await m.state(), 'fc.weight'), before);
  }
});
