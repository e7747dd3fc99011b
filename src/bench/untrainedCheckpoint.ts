// A servable checkpoint with an untrained head (ImageNet backbone where the shared weights
// are at hand), for benchmarks and trying the app before a model is trained. Its outputs
// mean nothing clinically; model.json says so.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Model } from '../engine/model.js';
import { saveCheckpoint } from '../engine/checkpoint.js';
import { loadPretrained } from '../engine/pretrained.js';
import { projectRoot } from '../engine/native.js';
import type { Arch } from '../engine/types.js';

const SHARED_MOBILENET = join(projectRoot(), '..', 'shared', 'pretrained', 'mobilenet_v2-imagenet-ptq.safetensors');

export async function writeUntrainedCheckpoint(dir: string, arch: Arch, inputSize = 224): Promise<void> {
  const model = await Model.create({
    arch,
    numClasses: 2,
    normalisation: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
  });
  if (arch === 'mobilenet_v2' && existsSync(SHARED_MOBILENET))
    await loadPretrained(model, SHARED_MOBILENET, () => undefined);
  await saveCheckpoint(dir, model, {
    classes: ['normal', 'covid'],
    positiveClass: 1,
    preprocessing: { size: inputSize, fit: 'letterbox', equalize: 'none', channels: 1 },
    threshold: 0.5,
    extra: { intendedUse: 'Benchmark model with an untrained head: its outputs mean nothing. Not for clinical use.' },
  });
}
