// The segmenter trains through recipe/trainer.ts: a run stopped after an epoch and resumed ends
// with the weights of an uninterrupted run, and fp16 training scales its loss by the trainer's
// GradScaler (2^16, halved and the step skipped on an overflow).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainSegmenter, type SegTrainOptions } from '../../src/app/lungs/trainSegmenter.js';
import type { SegSample } from '../../src/app/lungs/lungData.js';
import { Model } from '../../src/engine/model.js';
import { manualSeed, setThreads } from '../../src/engine/runtime.js';
import type { Segmenter } from '../../src/engine/segmentation/segmenter.js';
import type { Batch, GroupHyper, StepOptions, StepResult } from '../../src/engine/types.js';
import type { EpochResult, TrainerCallback } from '../../src/recipe/callbacks.js';

const dir = mkdtempSync(join(tmpdir(), 'cxrtune-lungs-trainer-'));
const S = 32;
const DEC = [16, 8, 8, 8, 4];

/** 8 noisy images, each with a bright disc that is its mask. */
function samples(): SegSample[] {
  let x = 5;
  return Array.from({ length: 8 }, (_, n) => {
    const pixels = new Uint8Array(S * S),
      mask = new Uint8Array(S * S);
    for (let i = 0; i < S * S; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      const inside = ((i % S) - 10 - n) ** 2 + (Math.floor(i / S) - 16) ** 2 < 60;
      mask[i] = inside ? 1 : 0;
      pixels[i] = (inside ? 150 : 40) + (x >>> 26);
    }
    return { image: `disc${n}`, pixels, mask };
  });
}

const base = (out: string): SegTrainOptions => ({
  samples: samples(),
  size: S,
  out: join(dir, out),
  decoderChannels: DEC,
  epochs: 3,
  batchSize: 4,
  lr: 3e-3,
  seed: 4,
  log: () => undefined,
});

before(() => setThreads(2));

test('a segmenter run stopped after epoch 2 and resumed ends with the uninterrupted run’s weights', async () => {
  const full = await trainSegmenter(base('full'));
  const stopAfter2: TrainerCallback = {
    onEpochEnd: (r: EpochResult) =>
      r.epoch === 1 ? { stop: 'stopped by the test', status: 'interrupted' } : undefined,
  };
  const part = await trainSegmenter({ ...base('part'), callbacks: [stopAfter2] });
  assert.equal(part.status, 'interrupted');
  assert.equal(part.meta.training?.epochs, 2);
  assert.notEqual(part.meta.weightsSha256, full.meta.weightsSha256);
  const resumed = await trainSegmenter({ ...base('part'), resume: true });
  assert.equal(resumed.status, 'completed');
  assert.equal(resumed.meta.training?.epochs, 3);
  assert.equal(resumed.meta.weightsSha256, full.meta.weightsSha256);
  assert.deepEqual(
    resumed.epochs.map((e) => e.loss),
    full.epochs.map((e) => e.loss),
  );
  assert.ok(full.epochs[2]!.loss < full.epochs[0]!.loss, `losses ${full.epochs.map((e) => e.loss)}`);
  await assert.rejects(trainSegmenter({ ...base('part'), resume: true }), /already finished all 3 epochs/);
  await assert.rejects(
    trainSegmenter({ ...base('full'), lr: 1e-3, epochs: 4, resume: true }),
    /trained with other settings \(epochs, lr\)/,
  );
});

test('fp16 segmenter training: the loss is scaled by 2^16, halved and the step skipped on an overflow', async () => {
  manualSeed(1);
  const real = await Model.create({ task: 'segment', arch: 'unet_mobilenet_v2', decoderChannels: DEC });
  const scales: number[] = [];
  // This CPU has no fp16: the first step reports what the addon reports for an fp16 overflow (no
  // step taken); the others run in fp32 with the scale the trainer gives (multiplied, then unscaled).
  const trainStep = async (b: Batch, h: GroupHyper[], o: StepOptions = {}): Promise<StepResult> => {
    scales.push(o.lossScale!);
    if (scales.length === 1)
      return { loss: 1, probs: new Float32Array(b.shape[0]), overflow: true, lossScale: 2 ** 16 };
    return real.trainStep(b, h, { ...o, precision: 'fp32' });
  };
  const model = new Proxy(real, {
    get(t, k) {
      if (k === 'trainStep') return trainStep;
      const v = Reflect.get(t, k, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  }) as Segmenter;
  const out = join(dir, 'fp16');
  const r = await trainSegmenter({ ...base('fp16'), epochs: 2, precision: 'fp16', augment: false, model });
  assert.equal(r.status, 'completed');
  assert.deepEqual(scales, [2 ** 16, 2 ** 15, 2 ** 15, 2 ** 15]);
  const state = JSON.parse(readFileSync(join(out, 'trainer.json'), 'utf8'));
  assert.deepEqual(
    state.history.map((h: EpochResult) => h.skippedSteps),
    [1, 0],
  );
  assert.deepEqual(state.scaler, { scale: 2 ** 15, cleanSteps: 3, consecutiveOverflows: 0, enabled: true });
  assert.equal(r.meta.training?.precision, 'fp16');
});
