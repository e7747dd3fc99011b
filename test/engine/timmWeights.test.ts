// timm / Hugging Face weights: a hub cache holding timm-style repos (model.safetensors +
// config.json), built from torchvision by Debian's Python, loads by hub id with its
// pretrained config (mean/std, input size, classifier) and gives torchvision's logits.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { Model } from '../../src/engine/model.js';
import type { Arch, Batch, Normalisation } from '../../src/engine/types.js';
import { readSafetensors } from '../../src/engine/safetensors.js';
import { toFloat32 } from '../../src/engine/dtype.js';
import { loadPretrained } from '../../src/engine/pretrained.js';
import { resolveWeightsFile, weightsInfo } from '../../src/engine/weights/weightsFile.js';
import { timmToTorchvision } from '../../src/engine/weights/timm.js';
import { loadNative, projectRoot } from '../../src/engine/native.js';

const PY = process.env.CXRTUNE_PYTHON ?? '/usr/bin/python3';
const root = mkdtempSync(join(tmpdir(), 'cxrtune-timm-'));
const hub = join(root, 'hub');
let skip = '';

before(() => {
  if (!existsSync(PY)) {
    skip = `${PY} is missing (Debian's python3-torchvision writes the fixtures)`;
    return;
  }
  mkdirSync(hub);
  loadNative().setThreads(2);
  execFileSync(PY, [join(projectRoot(), 'test', 'oracle', 'timm_snapshot.py'), hub, root], {
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 300_000,
  });
  process.env.HF_HUB_CACHE = hub;
});

for (const [id, arch, mean] of [
  ['timm/resnet18.tv_in1k', 'resnet18', 0.485],
  ['timm/densenet121.tv_in1k', 'densenet121', 0.5],
] as const) {
  test(`${id} by hub id: config.json's mean/std and arch, torchvision's logits within 1e-5`, async (t) => {
    if (skip) return t.skip(skip);
    const info = await weightsInfo(id);
    assert.match(
      info.file,
      new RegExp(`models--timm--${id.split('/')[1]!.replace('.', '\\.')}/snapshots/[0-9a-f]{40}/model\\.safetensors$`),
    );
    assert.equal(info.metadata.arch, arch);
    assert.equal(info.metadata.timm_tag, 'tv_in1k');
    assert.equal(info.metadata.input_size, '224');
    assert.equal(info.metadata.classifier, arch.startsWith('resnet') ? 'fc' : 'classifier');
    const normalisation: Normalisation = { mean: JSON.parse(info.metadata.mean!), std: JSON.parse(info.metadata.std!) };
    assert.equal(normalisation.mean[0], mean);
    const m = await Model.create({ arch: arch as Arch, numClasses: 1000, normalisation });
    const rep = await loadPretrained(m, id, () => undefined);
    assert.ok(rep.loaded > 60);
    const exp = (await readSafetensors(join(root, 'expected.safetensors'))).tensors;
    const px = exp.get('pixels')!;
    const batch: Batch = { pixels: px.data, shape: px.shape as Batch['shape'] };
    const ours = (await m.predict(batch)).logits;
    const ref = toFloat32(exp.get(`logits.${arch}`)!);
    let d = 0;
    for (let i = 0; i < ref.length; i++) d = Math.max(d, Math.abs(ours[i]! - ref[i]!));
    // One fp32 network on both sides, differing by reassociation only: measured ≤ 4.3e-6 at |logit| ≤ 7.3
    // (9 ulp); 1e-5 is 20 ulp. Rounding resnet18's weights to bf16 alone moves its logits by 1.8e-2.
    assert.ok(d < 1e-5, `max |Δlogit| = ${d}`);
  });
}

test("timm names map to torchvision's (head under another name); a missing hub id says how to fetch it", async (t) => {
  assert.equal(timmToTorchvision('resnet50', 'head.fc.weight'), 'fc.weight');
  assert.equal(timmToTorchvision('densenet121', 'head.fc.bias'), 'classifier.bias');
  assert.equal(timmToTorchvision('densenet121', 'last_linear.weight', 'last_linear'), 'classifier.weight');
  assert.equal(timmToTorchvision('resnet50', 'layer1.0.downsample.1.running_var'), 'layer1.0.downsample.1.running_var');
  if (skip) return t.skip(skip);
  assert.throws(
    () => resolveWeightsFile('timm/resnet152.tv_in1k'),
    /Hugging Face cache .*models--timm--resnet152\.tv_in1k.*cxrtune weights pull timm\/resnet152\.tv_in1k/,
  );
});
