// Golden test of the segmenter against a plain-torch U-Net in segmentation_models_pytorch's
// layout (test/oracle/unet_oracle.py), for a MobileNetV2 and a ResNet-18 encoder: state_dict
// names and shapes, eval logits, and two AdamW steps on Dice + BCE (losses and every
// tensor after the steps).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { LIGHT_DECODER, type Segmenter, type SegmenterArch } from '../../src/engine/segmentation/segmenter.js';
import { Model } from '../../src/engine/model.js';
import { readSafetensors, writeSafetensors } from '../../src/engine/safetensors.js';
import { toFloat32 } from '../../src/engine/dtype.js';
import { loadNative, projectRoot } from '../../src/engine/native.js';
import type { Batch, TensorMap } from '../../src/engine/types.js';

const PY = process.env.CXRTUNE_PYTHON ?? '/usr/bin/python3';
const ORACLE = join(projectRoot(), 'test', 'oracle', 'unet_oracle.py');
const dir = mkdtempSync(join(tmpdir(), 'cxrtune-unet-golden-'));
const S = 64;
const N = 2;
const LRS = [1e-3, 2e-3];
const CASES: { arch: SegmenterArch; encoder: string }[] = [
  { arch: 'unet_mobilenet_v2', encoder: 'mobilenet_v2' },
  { arch: 'unet_resnet18', encoder: 'resnet18' },
];

function batch(): { b: Batch; masks: Uint8Array } {
  const px = new Uint8Array(N * S * S);
  let x = 11;
  for (let i = 0; i < px.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    px[i] = x >>> 24;
  }
  const masks = new Uint8Array(N * S * S);
  for (let n = 0; n < N; n++)
    for (let y = 0; y < S; y++)
      for (let xx = 0; xx < S; xx++) {
        masks[n * S * S + y * S + xx] = (xx - 20 - 10 * n) ** 2 + (y - 32) ** 2 < 150 ? 1 : 0;
      }
  return { b: { pixels: px, shape: [N, S, S, 1] }, masks };
}
function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const runs = new Map<string, { model: Segmenter; logits: Float32Array; losses: number[]; after: TensorMap }>();
const { b, masks } = batch();

before(async () => {
  assert.ok(existsSync(PY), `${PY} is missing: the golden tests need Debian's python3-torchvision`);
  loadNative().setThreads(2);
  loadNative().manualSeed(3);
  const dirs: string[] = [];
  for (const c of CASES) {
    const model = await Model.create({ task: 'segment', arch: c.arch, decoderChannels: LIGHT_DECODER });
    const d = join(dir, c.arch);
    mkdirSync(d, { recursive: true });
    await writeSafetensors(join(d, 'model.safetensors'), await model.state());
    await writeSafetensors(
      join(d, 'input.safetensors'),
      new Map([
        ['pixels', { dtype: 'U8', shape: [...b.shape], data: b.pixels }],
        ['masks', { dtype: 'U8', shape: [N, S, S], data: masks }],
      ]),
    );
    writeFileSync(
      join(d, 'job.json'),
      JSON.stringify({
        encoder: c.encoder,
        decoderChannels: LIGHT_DECODER,
        mean: model.spec.normalisation.mean,
        std: model.spec.normalisation.std,
        threads: 2,
        steps: LRS,
      }),
    );
    const { logits } = await model.predict(b);
    model.configureOptimizer({
      kind: 'adamw',
      groups: [model.parameters().flatMap((e, i) => (e.kind === 'param' ? [i] : []))],
    });
    const losses: number[] = [];
    for (const lr of LRS)
      losses.push((await model.trainStep({ ...b, masks }, [{ lr, momentum: 0.9, weightDecay: 0 }])).loss);
    runs.set(c.arch, { model, logits, losses, after: await model.state() });
    dirs.push(d);
  }
  execFileSync(PY, [ORACLE, ...dirs], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 120_000 });
});

for (const c of CASES) {
  test(`${c.arch}: state_dict names, order and shapes equal the smp-layout torch U-Net's`, async () => {
    const names = JSON.parse(readFileSync(join(dir, c.arch, 'out.json'), 'utf8')).names as [string, number[]][];
    assert.deepEqual(
      runs
        .get(c.arch)!
        .model.parameters()
        .map((e) => [e.name, e.shape]),
      names,
    );
    assert.ok(names.some(([n]) => n === 'decoder.blocks.0.conv1.0.weight'));
    assert.ok(names.some(([n]) => n === 'segmentation_head.0.bias'));
    assert.ok(names.every(([n]) => /^(encoder|decoder|segmentation_head)\./.test(n)));
  });

  test(`${c.arch}: eval logits equal torch within 1e-4, one per pixel`, async () => {
    const { tensors } = await readSafetensors(join(dir, c.arch, 'out.safetensors'));
    const logits = runs.get(c.arch)!.logits;
    assert.equal(logits.length, N * S * S);
    const d = maxAbsDiff(logits, toFloat32(tensors.get('logits')!));
    assert.ok(d < 1e-4, `max |Δlogit| = ${d}`);
  });

  test(`${c.arch}: two AdamW steps on Dice + BCE equal torch: losses within 1e-5, tensors within 1e-4`, async () => {
    const { tensors } = await readSafetensors(join(dir, c.arch, 'out.safetensors'));
    const { losses, after } = runs.get(c.arch)!;
    const ref = [...toFloat32(tensors.get('loss')!)];
    for (let i = 0; i < ref.length; i++)
      assert.ok(Math.abs(losses[i]! - ref[i]!) < 1e-5, `step ${i}: ${losses[i]} vs ${ref[i]}`);
    let worst = 0,
      at = '';
    for (const [name, v] of after) {
      const d = maxAbsDiff(toFloat32(v), toFloat32(tensors.get(`state.${name}`)!));
      if (d > worst) {
        worst = d;
        at = name;
      }
    }
    assert.ok(worst < 1e-4, `max |Δ| = ${worst} at ${at}`);
  });
}

test('bf16 predict stays close to fp32 and masks of the wrong size are refused', async () => {
  const model = runs.get('unet_mobilenet_v2')!.model;
  const f = (await model.predict(b, { precision: 'fp32' })).logits;
  const h = (await model.predict(b, { precision: 'bf16' })).logits;
  let agree = 0;
  for (let i = 0; i < f.length; i++) if (f[i]! > 0 === h[i]! > 0) agree++;
  assert.ok(agree / f.length > 0.95, `bf16 and fp32 masks agree on ${agree / f.length}`);
  await assert.rejects(
    model.trainStep({ ...b, masks: masks.subarray(1) }, [{ lr: 0, momentum: 0.9, weightDecay: 0 }]),
    /masks hold/,
  );
  await assert.rejects(model.predict({ pixels: new Uint8Array(48 * 48), shape: [1, 48, 48, 1] }), /multiple of 32/);
  await assert.rejects(
    Model.create({ task: 'segment', arch: 'unet_vgg' as SegmenterArch }),
    /unknown segmenter architecture/,
  );
});
