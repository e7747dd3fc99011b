// A small servable checkpoint for the serve tests: MobileNetV2 (ImageNet backbone when the
// shared weights are there, head re-initialised), classes normal/covid, saved to a temp folder.
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../src/engine/model.js';
import { saveCheckpoint } from '../../src/engine/checkpoint.js';
import { loadPretrained } from '../../src/engine/pretrained.js';
import { manualSeed } from '../../src/engine/runtime.js';
import { projectRoot } from '../../src/engine/native.js';
import { generatePhantom } from '../../src/data/phantom.js';
import { encodePng } from '../../src/data/image.js';
import { augmentRecord } from '../../src/data/augmentMode.js';

const PRETRAINED = join(projectRoot(), '..', 'shared', 'pretrained', 'mobilenet_v2-imagenet-ptq.safetensors');

export async function makeCheckpoint(
  arch: 'mobilenet_v2' | 'resnet18' = 'mobilenet_v2',
  classes: { names: string[]; positive: number } = { names: ['normal', 'covid'], positive: 1 },
): Promise<string> {
  manualSeed(0);
  const dir = mkdtempSync(join(tmpdir(), 'cxrtune-serve-ckpt-'));
  const model = await Model.create({
    arch,
    numClasses: classes.names.length,
    normalisation: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
  });
  if (arch === 'mobilenet_v2' && existsSync(PRETRAINED)) await loadPretrained(model, PRETRAINED, () => undefined);
  await saveCheckpoint(dir, model, {
    classes: classes.names,
    positiveClass: classes.positive,
    preprocessing: { size: 224, fit: 'letterbox', equalize: 'none', channels: 1 },
    threshold: 0.5,
    metrics: { n: 120, accuracy: 0.9, sensitivity: { value: 0.92, lo: 0.81, hi: 0.97 }, specificity: 0.88, auc: 0.95 },
    training: { augment: augmentRecord('online+robust') },
    extra: { data: 'test fixture: untrained head' },
  });
  return dir;
}

/** A covid phantom as PNG bytes. */
export async function phantomPng(size = 512, seed = 3): Promise<Buffer> {
  const p = generatePhantom(seed, 1, { size, label: 'covid' });
  return encodePng({ pixels: p.pixels, width: size, height: size });
}
