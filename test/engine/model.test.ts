// Engine behaviour beyond the torchvision golden tests: errors a user can cause,
// the event loop staying free, freezing, BatchNorm modes, resume state, Grad-CAM.
import { batchOf } from './helpers/batches.js';
import { afterNextPoll } from './helpers/afterNextPoll.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../src/engine/model.js';
import { projectRoot } from '../../src/engine/native.js';
import { loadPretrained } from '../../src/engine/pretrained.js';
import { readSafetensors, writeSafetensors } from '../../src/engine/safetensors.js';
import { saveCheckpoint, loadCheckpoint } from '../../src/engine/checkpoint.js';
import { toFloat32 } from '../../src/engine/dtype.js';
import { ARCHS, type Batch, type Arch } from '../../src/engine/types.js';

const dir = mkdtempSync(join(tmpdir(), 'cxrtune-engine-'));
const PRETRAINED = join(projectRoot(), '..', 'shared', 'pretrained', 'mobilenet_v2-imagenet-ptq.safetensors');

const H = [{ lr: 0.05, momentum: 0.9, weightDecay: 1e-4 }];
const allParams = (m: Model) => [m.layers().flatMap((l) => l.params)];

test('bad input ends in an Error that names the problem', async () => {
  await assert.rejects(Model.create({ arch: 'resnet99' as Arch, numClasses: 2 }), /unknown architecture 'resnet99'/);
  const m = await Model.create({ arch: 'resnet18', numClasses: 2 });
  const b = batchOf(2, 32);
  await assert.rejects(
    m.predict({ pixels: b.pixels, shape: [2, 32, 32, 3] }),
    /pixel values; shape \[2,32,32,3\] needs 6144/,
  );
  await assert.rejects(
    m.predict({ pixels: new Uint8Array(2 * 32 * 32 * 2), shape: [2, 32, 32, 2] }),
    /1 or 3 channels/,
  );
  await assert.rejects(
    m.predict({ pixels: b.pixels, shape: [2, 32, 32] as unknown as Batch['shape'] }),
    /\[N, H, W, C\]/,
  );
  const nan = new Float32Array(32 * 32).fill(100);
  nan[5] = NaN;
  await assert.rejects(m.predict({ pixels: nan as unknown as Uint8Array, shape: [1, 32, 32, 1] }), /NaN/);
  await assert.rejects(m.predict(b, { precision: 'fp16' }), /fp16 needs a CUDA device/);
  m.configureOptimizer({ kind: 'sgd', groups: allParams(m) });
  await assert.rejects(m.trainStep({ ...b, labels: Int32Array.from([0, 5]) }, H), /class indices in \[0, 2\)/);
  await assert.rejects(m.trainStep(b, [...H, ...H]), /2 groups; the optimizer has 1/);
  await assert.rejects(m.gradCamMaps(b, 0, 'layer9'), /unknown Grad-CAM layer 'layer9'/);
  await assert.rejects(loadPretrained(m, join(dir, 'nope.safetensors')), /weights not found/);
  writeFileSync(join(dir, 'garbage.safetensors'), Buffer.from('this is not a tensor file at all'));
  await assert.rejects(loadPretrained(m, join(dir, 'garbage.safetensors')), /not a safetensors file or is truncated/);
  await writeSafetensors(join(dir, 'ok.safetensors'), await m.state());
  const full = await readSafetensors(join(dir, 'ok.safetensors'));
  assert.equal(full.tensors.size, m.parameters().length);
  const { readFileSync } = await import('node:fs');
  const bytes = readFileSync(join(dir, 'ok.safetensors'));
  writeFileSync(join(dir, 'cut.safetensors'), bytes.subarray(0, bytes.length - 1000));
  await assert.rejects(loadPretrained(m, join(dir, 'cut.safetensors')), /truncated or corrupt/);
  writeFileSync(join(dir, 'w.pth'), 'x');
  // .pth files are read (safely, engine/weights); one that is not a torch.save zip is an error naming it.
  await assert.rejects(loadPretrained(m, join(dir, 'w.pth')), /w\.pth is neither safetensors nor a PyTorch checkpoint/);
  // The process is still healthy after all of that.
  assert.equal((await m.predict(b)).probs.length, 4);
});

test(
  'loadPretrained: another architecture is an error listing names; ' + 'another head size is re-initialised',
  async (t) => {
    if (!existsSync(PRETRAINED)) return t.skip('../shared/pretrained is missing');
    const r18 = await Model.create({ arch: 'resnet18', numClasses: 2 });
    await assert.rejects(
      loadPretrained(r18, PRETRAINED, () => undefined),
      /does not fit resnet18.*missing \d+: conv1\.weight.*unexpected \d+: .*features\.0\.0\.weight/,
    );
    const mnet = await Model.create({ arch: 'mobilenet_v2', numClasses: 2 });
    const before = await mnet.state();
    const logs: string[] = [];
    const r = await loadPretrained(mnet, PRETRAINED, (m) => logs.push(m));
    assert.deepEqual([...r.reinitialised].sort(), ['classifier.1.bias', 'classifier.1.weight']);
    assert.match(logs.join('\n'), /re-initialised \(1000 → 2 classes\)/);
    const after = await mnet.state();
    assert.deepEqual(after.get('classifier.1.weight')!.data, before.get('classifier.1.weight')!.data);
    const ref = (await readSafetensors(PRETRAINED)).tensors;
    assert.deepEqual(
      new Uint8Array(after.get('features.3.conv.1.0.weight')!.data),
      new Uint8Array(ref.get('features.3.conv.1.0.weight')!.data),
    );
  },
);

// Order, not duration: a step that held the main thread until it was done would be finished,
// and delivered, by the next poll phase of the event loop (helpers/afterNextPoll.ts); one that
// computes off the main thread is still pending then. A slower machine only makes it longer.
test('the event loop turns while a training step computes', async () => {
  const m = await Model.create({ arch: 'resnet18', numClasses: 2 });
  m.configureOptimizer({ kind: 'sgd', groups: allParams(m) });
  let pending = true;
  const step = m.trainStep(batchOf(8, 160), H).then(() => {
    pending = false;
  });
  const pendingAfterPoll = await afterNextPoll(() => pending);
  await step;
  assert.ok(pendingAfterPoll, 'the step was over by the first poll phase after the call');
});

test('layers(): input → output, stem first, head last, stages never go back', async () => {
  for (const arch of ARCHS) {
    const m = await Model.create({ arch, numClasses: 2 });
    const ls = m.layers();
    assert.equal(ls[0]!.stage, 'stem', arch);
    assert.equal(ls.at(-1)!.stage, 'head', arch);
    assert.equal(ls.at(-1)!.kind, 'linear', arch);
    for (let i = 1; i < ls.length; i++)
      assert.ok(ls[i]!.stageIndex >= ls[i - 1]!.stageIndex, `${arch}: ${ls[i]!.name}`);
    assert.deepEqual([...new Set(ls.map((l) => l.stageIndex))], [0, 1, 2, 3, 4, 5], arch);
    // Every parameter belongs to exactly one layer.
    const idx = ls.flatMap((l) => l.params).sort((a, b) => a - b);
    assert.deepEqual(
      idx,
      m
        .parameters()
        .map((p, i) => (p.kind === 'param' ? i : -1))
        .filter((i) => i >= 0),
    );
  }
});

test('frozen parameters and frozen BatchNorm statistics do not change in a step', async () => {
  const m = await Model.create({ arch: 'resnet18', numClasses: 2 });
  const names = m
    .parameters()
    .filter((p) => p.kind === 'param' && !p.name.startsWith('fc.'))
    .map((p) => p.name);
  m.setTrainable(names, false);
  m.setBatchNormMode('frozen');
  m.configureOptimizer({ kind: 'sgd', groups: allParams(m) });
  const s0 = await m.state();
  await m.trainStep(batchOf(4, 48), H);
  const s1 = await m.state();
  for (const [k, v] of s0) {
    const same = Buffer.compare(Buffer.from(v.data), Buffer.from(s1.get(k)!.data)) === 0;
    assert.equal(same, !k.startsWith('fc.'), k);
  }
  assert.equal(m.parameters().find((p) => p.name === 'conv1.weight')!.trainable, false);
});

test('optimizer state + weights saved after step 1 resume to bitwise the same step 2 (sgd and adamw)', async () => {
  for (const kind of ['sgd', 'adamw'] as const) {
    const a = await Model.create({ arch: 'resnet18', numClasses: 2 });
    a.configureOptimizer({ kind, groups: allParams(a) });
    const b1 = batchOf(4, 48, 1),
      b2 = batchOf(4, 48, 2);
    const h = [{ lr: kind === 'sgd' ? 0.05 : 1e-3, momentum: 0.9, weightDecay: 0.01 }];
    await a.trainStep(b1, h);
    const w = await a.state(),
      o = await a.optimizerState();
    assert.ok(o.size > 0);
    await a.trainStep(b2, h);
    const b = await Model.create({ arch: 'resnet18', numClasses: 2 });
    b.configureOptimizer({ kind, groups: allParams(b) });
    await b.loadState(w);
    await b.loadOptimizerState(o);
    await b.trainStep(b2, h);
    const [sa, sb] = [await a.state(), await b.state()];
    for (const [k, v] of sa) assert.deepEqual(v.data, sb.get(k)!.data, `${kind}: ${k}`);
  }
});

test('Grad-CAM on ResNet: the map sums to the class logit minus its bias (exact for GAP + linear head)', async () => {
  const m = await Model.create({ arch: 'resnet18', numClasses: 3 });
  const b = batchOf(2, 96);
  const cam = await m.gradCamMaps(b, 2);
  assert.equal(cam.layer, 'layer4');
  assert.deepEqual(cam.shape, [2, 3, 3]);
  const { logits } = await m.predict(b);
  const bias = toFloat32((await m.state()).get('fc.bias')!)[2]!;
  for (let i = 0; i < 2; i++) {
    const sum = cam.maps.subarray(i * 9, (i + 1) * 9).reduce((s, v) => s + v, 0);
    assert.ok(Math.abs(sum - (logits[i * 3 + 2]! - bias)) < 1e-4, `${sum} vs ${logits[i * 3 + 2]! - bias}`);
  }
  const l3 = await m.gradCamMaps(b, 0, 'layer3');
  assert.deepEqual(l3.shape, [2, 6, 6]);
});

test('a checkpoint folder round-trips to identical predictions', async () => {
  const m = await Model.create({
    arch: 'mobilenet_v2',
    numClasses: 2,
    normalisation: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
  });
  const ck = join(dir, 'ck');
  await saveCheckpoint(ck, m, {
    classes: ['normal', 'covid'],
    positiveClass: 1,
    preprocessing: { size: 64, fit: 'letterbox', equalize: 'none', channels: 1 },
    threshold: 0.5,
  });
  const { model, meta } = await loadCheckpoint(ck);
  assert.deepEqual(meta.preprocessing.normalisation.mean, [0.5, 0.5, 0.5]);
  const b = batchOf(2, 64);
  assert.deepEqual((await model.predict(b)).logits, (await m.predict(b)).logits);
});
