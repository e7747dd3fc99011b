// Trains a lung segmenter through the classifier's trainer (recipe/trainer.ts): U-Net on an
// ImageNet encoder, AdamW with a one-cycle schedule (the encoder at ENCODER_LR_FACTOR of the
// decoder's LR), Dice + BCE, online affine and intensity augmentation, fp16 loss scaling,
// divergence and early stopping. After every epoch the out folder holds a complete segmenter
// checkpoint plus what resume needs (optimizer.safetensors, trainer.json), so a stopped run
// keeps its last finished epoch and `resume` continues it to the weights an uninterrupted run ends with.
//
// Epoch e's batch order and augmentation come from hash(seed, 'lungs-train', e): a pure function
// of the epoch, as the trainer's resume needs.
import { mkdirSync } from 'node:fs';
import { augmentPair } from '../../data/segAugment.js';
import { DEFAULT_LOSS, Model } from '../../engine/model.js';
import { manualSeed } from '../../engine/runtime.js';
import {
  LIGHT_DECODER,
  loadEncoder,
  segmenterGroups,
  type Segmenter,
  type SegmenterArch,
} from '../../engine/segmentation/segmenter.js';
import { loadSegmenter, saveSegmenter, type SegmenterMeta } from '../../engine/segmentation/segmenterCheckpoint.js';
import type { Batch, EngineModel, Precision } from '../../engine/types.js';
import type { EpochResult, StepInfo, TrainerCallback, TrainStatus } from '../../recipe/callbacks.js';
import { oneCycle } from '../../recipe/schedules.js';
import { Trainer, type EpochSource, type ResumePoint } from '../../recipe/trainer.js';
import { hashSeed, Rng } from '../../util/rng.js';
import { BN_EPS, isFoldedBatchNorm, unfoldBatchNorm } from '../train/bnUnfold.js';
import { readResumable, saveTrainerState } from '../train/runFolder.js';
import type { SegSample } from './lungData.js';

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
  /** A segmenter to train instead of a new one (its arch and decoder; not with `pretrained` or `resume`). */
  model?: Segmenter;
  /** Continue the run whose last finished epoch is in `out` (the same settings and samples). */
  resume?: boolean;
  augment?: boolean;
  seed?: number;
  /** Stop after this many epochs without a lower training loss (0 = never). */
  patience?: number;
  /** Extra trainer callbacks (a progress display, a test's interrupter). */
  callbacks?: TrainerCallback[];
  signal?: AbortSignal;
  /** Extra facts for model.json's training record (data, splits). */
  record?: Record<string, unknown>;
  /** Licence the weights inherit from their training data (model.json `licence`). */
  licence?: string;
  log?: (msg: string) => void;
}

export interface SegTrainResult {
  meta: SegmenterMeta;
  model: Segmenter;
  /** How training ended: 'completed', or why it stopped early (the checkpoint is the last finished epoch). */
  status: TrainStatus;
  message: string;
  seconds: number;
  imagesPerSecond: number;
  epochs: { epoch: number; loss: number; seconds: number }[];
}

/** The settings a run is made of (a resumed run must be given the same). */
function settingsOf(o: SegTrainOptions) {
  return {
    epochs: o.epochs ?? 10,
    batchSize: o.batchSize ?? 8,
    lr: o.lr ?? 1e-3,
    weightDecay: o.weightDecay ?? 1e-4,
    precision: o.precision ?? 'fp32',
    augment: o.augment !== false,
    seed: o.seed ?? 0,
  };
}
type Settings = ReturnType<typeof settingsOf>;

export async function trainSegmenter(o: SegTrainOptions): Promise<SegTrainResult> {
  const log = o.log ?? ((m: string) => console.error(m));
  const S = o.size;
  if (!(Number.isInteger(S) && S >= 32 && S % 32 === 0)) throw new Error(`--size must be a multiple of 32 (got ${S})`);
  if (o.samples.length === 0) throw new Error('no training images');
  for (const s of o.samples) if (s.mask.length !== S * S) throw new Error(`${s.image}: no mask to train on`);
  if (o.model && (o.pretrained || o.resume))
    throw new Error('a given model is trained as it is: drop pretrained and resume');
  const st = settingsOf(o);
  let model: Segmenter;
  let unfolded = false;
  let resume: ResumePoint | undefined;
  if (o.resume) ({ model, unfolded, resume } = await resumePoint(o, st, log));
  else if (o.model) model = o.model;
  else {
    manualSeed(st.seed);
    model = await Model.create({
      task: 'segment',
      arch: o.arch ?? 'unet_mobilenet_v2',
      decoderChannels: o.decoderChannels ?? LIGHT_DECODER,
    });
    if (o.pretrained) {
      log(`pretrained encoder: ${await loadEncoder(model, o.pretrained)} tensors from ${o.pretrained}`);
      unfolded = await unfoldEncoderBatchNorm(model, o.samples, S, log);
    }
  }
  const train = segmentationEpochs(o.samples, S, st);
  const g = segmenterGroups(model);
  const schedule = oneCycle({
    totalSteps: st.epochs * train.batchesPerEpoch,
    lrMin: st.lr / 25,
    lrMax: st.lr,
    lrEnd: st.lr / 1000,
    pct: 0.1,
  });
  mkdirSync(o.out, { recursive: true });
  const metaOf = (r: EpochResult, history: EpochResult[]) => {
    const seconds = history.reduce((a, h) => a + h.seconds, 0);
    return {
      classes: ['lung'],
      preprocessing: { size: S, fit: 'stretch' as const, equalize: 'none' as const, channels: 1 as const },
      threshold: 0.5,
      ...(o.licence ? { licence: o.licence } : {}),
      training: {
        epochs: r.epoch + 1,
        plannedEpochs: st.epochs,
        batchSize: st.batchSize,
        lr: st.lr,
        encoderLrFactor: ENCODER_LR_FACTOR,
        weightDecay: st.weightDecay,
        optimizer: 'adamw',
        schedule: 'oneCycle',
        loss: 'bce+dice',
        lossWeights: { dice: DEFAULT_LOSS.segment.diceWeight, bce: DEFAULT_LOSS.segment.bceWeight },
        batchNormUnfolded: unfolded,
        precision: st.precision,
        augment: st.augment,
        seed: st.seed,
        pretrained: o.pretrained ?? null,
        images: o.samples.length,
        seconds: Math.round(seconds),
        imagesPerSecond: (o.samples.length * history.length) / seconds,
        history: history.map(historyRow),
        preprocessing: { resize: 'stretch', size: S, grey: 'replicated to RGB', normalisation: 'imagenet' },
        ...o.record,
      },
    };
  };
  let trainer!: Trainer;
  const checkpoint = new SegmenterCheckpoint(o.out, model, () => trainer, metaOf);
  trainer = new Trainer(
    model,
    {
      epochs: st.epochs,
      schedule,
      groups: [g.encoder, g.decoder],
      lrFactors: [ENCODER_LR_FACTOR, 1],
      optimizer: 'adamw',
      weightDecay: st.weightDecay,
      precision: st.precision,
      loss: DEFAULT_LOSS.segment,
      monitor: 'train_loss',
      patience: o.patience ?? 0,
      seedEpoch: (e) => manualSeed(hashSeed(st.seed, 'epoch', e) & 0x7fffffff),
      ...(o.signal ? { signal: o.signal } : {}),
    },
    [new SegmenterLog(log, st.epochs), ...(o.callbacks ?? []), checkpoint],
  );
  const result = await trainer.fit(train, null, resume);
  if (!checkpoint.meta)
    throw new Error(`lung segmenter training ${result.status} in its first epoch: ${result.message}`);
  if (result.status !== 'completed') log(result.message);
  const h = result.history;
  const seconds = h.reduce((a, r) => a + r.seconds, 0);
  return {
    meta: checkpoint.meta,
    model,
    status: result.status,
    message: result.message,
    seconds,
    imagesPerSecond: (o.samples.length * h.length) / seconds,
    epochs: h.map(historyRow),
  };
}

const historyRow = (h: EpochResult) => ({ epoch: h.epoch + 1, loss: h.trainLoss, seconds: h.seconds });

/** Epoch e: the samples shuffled and (unless off) augmented with hash(seed, 'lungs-train', e), masks beside pixels. */
function segmentationEpochs(samples: SegSample[], S: number, st: Settings): EpochSource<Batch> {
  const bs = st.batchSize;
  const perEpoch = Math.ceil(samples.length / bs);
  return {
    batchesPerEpoch: perEpoch,
    imagesPerEpoch: samples.length,
    async *epoch(e: number) {
      const rng = Rng.derive(st.seed, 'lungs-train', e);
      const order = samples.map((_, i) => i);
      rng.shuffle(order);
      for (let b = 0; b < perEpoch; b++) {
        const idx = order.slice(b * bs, (b + 1) * bs);
        const pixels = new Uint8Array(idx.length * S * S),
          masks = new Uint8Array(idx.length * S * S);
        for (const [k, i] of idx.entries()) {
          const s = samples[i]!;
          const a = st.augment ? augmentPair(s.pixels, s.mask, S, rng) : { pixels: s.pixels, mask: s.mask };
          pixels.set(a.pixels, k * S * S);
          masks.set(a.mask, k * S * S);
        }
        yield { pixels, shape: [idx.length, S, S, 1], masks };
      }
    },
  };
}

/** The run in o.out: its weights, optimizer and trainer state, checked against this call's settings. */
async function resumePoint(
  o: SegTrainOptions,
  st: Settings,
  log: (m: string) => void,
): Promise<{ model: Segmenter; unfolded: boolean; resume: ResumePoint }> {
  const { model, meta } = await loadSegmenter(o.out);
  const { state, optimizer } = await readResumable(o.out);
  const t = (meta.training ?? {}) as Record<string, unknown>;
  if (!state) throw new Error(`${o.out} holds no training state to resume (trainer.json is missing)`);
  if (t.epochs !== state.epoch)
    throw new Error(
      `${o.out}: the weights are from epoch ${t.epochs} but the training state from epoch ${state.epoch} ` +
        '(an interrupted write); train anew',
    );
  const saved = {
    epochs: t.plannedEpochs,
    batchSize: t.batchSize,
    lr: t.lr,
    weightDecay: t.weightDecay,
    precision: t.precision,
    augment: t.augment,
    seed: t.seed,
  };
  const differ = (Object.keys(st) as (keyof Settings)[]).filter((k) => saved[k] !== st[k]);
  if (t.images !== o.samples.length) differ.push('images' as keyof Settings);
  if (differ.length)
    throw new Error(`${o.out} was trained with other settings (${differ.join(', ')}); resume with the same ones`);
  if (state.epoch >= st.epochs) throw new Error(`${o.out} already finished all ${st.epochs} epochs; nothing to resume`);
  log(`resuming ${o.out} at epoch ${state.epoch + 1}/${st.epochs} (step ${state.step})`);
  return {
    model,
    unfolded: t.batchNormUnfolded === true,
    resume: { state, ...(optimizer ? { optimizer } : {}) },
  };
}

/** After every epoch: the segmenter checkpoint in `dir`, then the optimizer and trainer state beside it. */
class SegmenterCheckpoint implements TrainerCallback {
  meta: SegmenterMeta | null = null;
  constructor(
    private readonly dir: string,
    private readonly model: Segmenter,
    private readonly trainer: () => Trainer,
    private readonly metaOf: (r: EpochResult, history: EpochResult[]) => Parameters<typeof saveSegmenter>[2],
  ) {}

  async onEpochEnd(r: EpochResult): Promise<void> {
    const state = this.trainer().state();
    // Weights first, state last: resume refuses a state whose epoch the weights do not have.
    this.meta = await saveSegmenter(this.dir, this.model, this.metaOf(r, state.history));
    await saveTrainerState(this.dir, this.model, state);
  }
}

/** One line every 20 batches and one per epoch (the lungs command's and the demo's log). */
class SegmenterLog implements TrainerCallback {
  private lossSum = 0;
  private seen = 0;
  private t0 = 0;
  constructor(
    private readonly log: (m: string) => void,
    private readonly epochs: number,
  ) {}
  onEpochBegin(): void {
    this.lossSum = 0;
    this.seen = 0;
    this.t0 = performance.now();
  }
  onStep(s: StepInfo): void {
    this.lossSum += s.loss * s.images;
    this.seen += s.images;
    if ((s.batch + 1) % 20 === 0) {
      const loss = (this.lossSum / this.seen).toFixed(4);
      const ms = ((performance.now() - this.t0) / this.seen).toFixed(0);
      this.log(`  epoch ${s.epoch + 1} batch ${s.batch + 1}/${s.batchesPerEpoch} loss ${loss} (${ms} ms/img)`);
    }
  }
  onEpochEnd(r: EpochResult): void {
    this.log(
      `epoch ${r.epoch + 1}/${this.epochs}: loss ${r.trainLoss.toFixed(4)}, ${r.seconds.toFixed(0)} s, ` +
        `${r.imagesPerSecond.toFixed(2)} img/s`,
    );
  }
}

/**
 * TFLite-converted encoders have BatchNorm folded into the convs (app/train/bnUnfold.ts): give the
 * encoder's BNs real statistics from up to 64 training images so train-mode BN starts from the
 * pretrained function. The decoder's fresh BNs are left alone: bnUnfold sees the segmenter with
 * only the encoder's BatchNorms as its layers.
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
  const encoderOnly: EngineModel = Object.assign(Object.create(model) as Segmenter, { layers: () => encoderBn });
  const use = samples.slice(0, 64);
  const batches = [];
  for (let i = 0; i < use.length; i += 16) {
    const part = use.slice(i, i + 16);
    const px = new Uint8Array(part.length * S * S);
    for (const [k, s] of part.entries()) px.set(s.pixels, k * S * S);
    batches.push({ pixels: px, shape: [part.length, S, S, 1] as [number, number, number, number] });
  }
  const r = await unfoldBatchNorm(encoderOnly, batches);
  log(`encoder BatchNorm was folded (TFLite conversion): unfolded ${r.layers} layers on ${r.images} images`);
  return true;
}
