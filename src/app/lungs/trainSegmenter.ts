// Trains a lung segmenter: U-Net on an ImageNet encoder, AdamW with a one-cycle schedule
// (the encoder at ENCODER_LR_FACTOR of the decoder's LR), Dice + BCE, online affine and
// intensity augmentation. Writes a checkpoint after every epoch, so a stopped run keeps
// its last finished epoch.
import { mkdirSync } from 'node:fs';
import { Segmenter, LIGHT_DECODER, type SegmenterArch } from '../../engine/segmentation/segmenter.js';
import { saveSegmenter, type SegmenterMeta } from '../../engine/segmentation/segmenterCheckpoint.js';
import { loadNative } from '../../engine/native.js';
import { oneCycle } from '../../recipe/schedules.js';
import { Rng } from '../../util/rng.js';
import { augmentPair } from '../../data/segAugment.js';
import type { Precision } from '../../engine/types.js';
import type { SegSample } from './lungData.js';
import { BN_EPS, isFoldedBatchNorm, unfoldBatchNorm } from '../train/bnUnfold.js';
import type { EngineModel } from '../../engine/types.js';

/** The pretrained encoder moves slower than the fresh decoder (discriminative LR). */
export const ENCODER_LR_FACTOR = 0.3;

export interface SegTrainOptions {
  samples: SegSample[];
  size: number;
  out: string;
  arch?: SegmenterArch;
  decoderChannels?: number[];
  epochs?: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  precision?: Precision;
  /** torchvision ImageNet weights of the encoder (safetensors or .pth). */
  pretrained?: string;
  augment?: boolean;
  seed?: number;
  /** Extra facts for model.json's training record (data, splits). */
  record?: Record<string, unknown>;
  /** Licence the weights inherit from their training data (model.json `licence`). */
  licence?: string;
  log?: (msg: string) => void;
}

export interface SegTrainResult {
  meta: SegmenterMeta;
  model: Segmenter;
  seconds: number;
  imagesPerSecond: number;
  epochs: { epoch: number; loss: number; seconds: number }[];
}

export async function trainSegmenter(o: SegTrainOptions): Promise<SegTrainResult> {
  const log = o.log ?? ((m: string) => console.error(m));
  const S = o.size;
  if (!(Number.isInteger(S) && S >= 32 && S % 32 === 0)) throw new Error(`--size must be a multiple of 32 (got ${S})`);
  if (o.samples.length === 0) throw new Error('no training images');
  for (const s of o.samples) if (s.mask.length !== S * S) throw new Error(`${s.image}: no mask to train on`);
  const epochs = o.epochs ?? 10,
    bs = o.batchSize ?? 8,
    lr = o.lr ?? 1e-3,
    wd = o.weightDecay ?? 1e-4;
  const seed = o.seed ?? 0;
  loadNative().manualSeed(seed);
  const model = Segmenter.create({
    arch: o.arch ?? 'unet_mobilenet_v2',
    decoderChannels: o.decoderChannels ?? LIGHT_DECODER,
  });
  let unfolded = false;
  if (o.pretrained) {
    log(`pretrained encoder: ${await model.loadEncoder(o.pretrained)} tensors from ${o.pretrained}`);
    unfolded = await unfoldEncoderBatchNorm(model, o.samples, S, log);
  }
  const g = model.paramGroups();
  model.configureOptimizer('adamw', [g.encoder, g.decoder]);
  const perEpoch = Math.ceil(o.samples.length / bs);
  const sched = oneCycle({ totalSteps: epochs * perEpoch, lrMin: lr / 25, lrMax: lr, lrEnd: lr / 1000, pct: 0.1 });
  const rng = Rng.derive(seed, 'lungs-train');
  const history: SegTrainResult['epochs'] = [];
  const t0 = performance.now();
  mkdirSync(o.out, { recursive: true });
  let step = 0,
    meta: SegmenterMeta | undefined;
  for (let e = 0; e < epochs; e++) {
    const te = performance.now();
    const order = o.samples.map((_, i) => i);
    rng.shuffle(order);
    let lossSum = 0,
      seen = 0;
    for (let b = 0; b < perEpoch; b++) {
      const idx = order.slice(b * bs, (b + 1) * bs);
      const px = new Uint8Array(idx.length * S * S),
        masks = new Uint8Array(idx.length * S * S);
      idx.forEach((i, k) => {
        const s = o.samples[i]!;
        const a = o.augment === false ? { pixels: s.pixels, mask: s.mask } : augmentPair(s.pixels, s.mask, S, rng);
        px.set(a.pixels, k * S * S);
        masks.set(a.mask, k * S * S);
      });
      const h = (f: number) => ({ lr: sched.lr(step) * f, momentum: sched.momentum(step), weightDecay: wd });
      const r = await model.trainStep(
        { pixels: px, shape: [idx.length, S, S, 1] },
        masks,
        [h(ENCODER_LR_FACTOR), h(1)],
        o.precision ?? 'fp32',
      );
      step++;
      lossSum += r.loss * idx.length;
      seen += idx.length;
      if ((b + 1) % 20 === 0)
        log(
          `  epoch ${e + 1} batch ${b + 1}/${perEpoch} loss ${(lossSum / seen).toFixed(4)} (${(((performance.now() - te) / 1000 / seen) * 1000).toFixed(0)} ms/img)`,
        );
    }
    const secs = (performance.now() - te) / 1000;
    history.push({ epoch: e + 1, loss: lossSum / seen, seconds: secs });
    log(
      `epoch ${e + 1}/${epochs}: loss ${(lossSum / seen).toFixed(4)}, ${secs.toFixed(0)} s, ${(seen / secs).toFixed(2)} img/s`,
    );
    const seconds = (performance.now() - t0) / 1000;
    meta = await saveSegmenter(o.out, model, {
      classes: ['lung'],
      preprocessing: { size: S, fit: 'stretch', equalize: 'none', channels: 1 },
      threshold: 0.5,
      ...(o.licence ? { licence: o.licence } : {}),
      training: {
        epochs: e + 1,
        plannedEpochs: epochs,
        batchSize: bs,
        lr,
        encoderLrFactor: ENCODER_LR_FACTOR,
        weightDecay: wd,
        optimizer: 'adamw',
        schedule: 'oneCycle',
        loss: 'bce+dice',
        batchNormUnfolded: unfolded,
        precision: o.precision ?? 'fp32',
        augment: o.augment !== false,
        seed,
        pretrained: o.pretrained ?? null,
        images: o.samples.length,
        seconds: Math.round(seconds),
        imagesPerSecond: (o.samples.length * (e + 1)) / seconds,
        history,
        preprocessing: { resize: 'stretch', size: S, grey: 'replicated to RGB', normalisation: 'imagenet' },
        ...o.record,
      },
    });
  }
  const seconds = (performance.now() - t0) / 1000;
  return { meta: meta!, model, seconds, imagesPerSecond: (o.samples.length * epochs) / seconds, epochs: history };
}

/**
 * TFLite-converted encoders have BatchNorm folded into the convs (app/bnUnfold.ts): give the
 * encoder's BNs real statistics from up to 64 training images so train-mode BN starts from the
 * pretrained function. The decoder's fresh BNs are left alone. The adapter exposes the
 * segmenter to bnUnfold with only the encoder's BatchNorms as its layers.
 */
async function unfoldEncoderBatchNorm(
  model: Segmenter,
  samples: SegSample[],
  S: number,
  log: (m: string) => void,
): Promise<boolean> {
  const encoderBn = model.layers().filter((l) => l.kind === 'bn' && l.name.startsWith('encoder.'));
  const names = encoderBn.map((l) => l.name);
  if (!isFoldedBatchNorm(await model.state(), names, BN_EPS)) return false;
  const adapter = {
    layers: () => encoderBn,
    state: () => model.state(),
    loadState: (t: Parameters<Segmenter['loadState']>[0], opts: { strict?: boolean }) => model.loadState(t, opts),
    batchNormInputStats: (b: Parameters<Segmenter['batchNormInputStats']>[0]) => model.batchNormInputStats(b),
  } as unknown as EngineModel;
  const use = samples.slice(0, 64);
  const batches = [];
  for (let i = 0; i < use.length; i += 16) {
    const part = use.slice(i, i + 16);
    const px = new Uint8Array(part.length * S * S);
    part.forEach((s, k) => px.set(s.pixels, k * S * S));
    batches.push({ pixels: px, shape: [part.length, S, S, 1] as [number, number, number, number] });
  }
  const r = await unfoldBatchNorm(adapter, batches);
  log(`encoder BatchNorm was folded (TFLite conversion): unfolded ${r.layers} layers on ${r.images} images`);
  return true;
}
