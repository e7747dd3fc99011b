// Fitting a learner (Learner.fit): its training data through the trainer (recipe/trainer.ts)
// with the run folder's callbacks (schedule trace, history, checkpoints/last and best), then
// summary.json. A fresh run starts with an epoch-0 checkpoint; a resumed one continues from
// its resume point (weights, optimizer state, schedule position and every seed-derived
// stream), so it ends with the same weights as an uninterrupted run (bitwise on CPU fp32).
//
// Seeds: the engine RNG is seeded with hash(seed, 'epoch', e) at every epoch start (dropout);
// epoch e's batch order and online augmentation come from hash(seed, 'train', e).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckpointInput } from '../../engine/checkpoint.js';
import { readCheckpointMeta } from '../../engine/checkpoint.js';
import type { ProcessGroup } from '../../engine/distributed.js';
import type { Model } from '../../engine/model.js';
import { manualSeed } from '../../engine/runtime.js';
import { augmentRecord } from '../../data/augmentMode.js';
import { readManifest } from '../../data/manifest.js';
import type { EpochResult, TrainerCallback, TrainResult } from '../../recipe/callbacks.js';
import { layerGroups } from '../../recipe/discriminative.js';
import { createSchedule, type ScheduleDescription } from '../../recipe/schedules.js';
import { Trainer, type ResumePoint, type ValidationPredictions } from '../../recipe/trainer.js';
import type { ValidMetrics } from '../../recipe/validationMetrics.js';
import { hashSeed } from '../../util/rng.js';
import { validationProtocolOf, type ProtocolInfo } from '../evaluate/protocol.js';
import { inverseFrequencyWeights, type RunData } from './dataSource.js';
import {
  CheckpointWriter,
  HistoryWriter,
  lastCheckpointDir,
  RUN_FILES,
  saveResumable,
  ScheduleTrace,
  writeJson,
} from './runFolder.js';
import { provisionalThreshold, trainThresholdRule, type TrainConfig } from './trainConfig.js';
import {
  thresholdSummaryOf,
  trainThresholdChoice,
  type ThresholdSummary,
  type ValidationSample,
} from './trainThreshold.js';

export interface RunOptions {
  /** One-line notes for the user (stderr in the CLI). */
  log?: (msg: string) => void;
  /** Extra callbacks (the CLI's progress bar, a test's interrupter). */
  callbacks?: TrainerCallback[];
  signal?: AbortSignal;
  /** Data parallel: this process's group. Every rank trains its shard; rank 0 alone writes files. */
  group?: ProcessGroup;
}

export interface RunSummary {
  runDir: string;
  status: TrainResult['status'];
  message: string;
  epochsDone: number;
  epochs: number;
  stepsDone: number;
  monitor: string;
  best: { value: number; epoch: number; checkpoint: string | null };
  lastValid: ValidMetrics | null;
  lastCheckpoint: string | null;
  seconds: number;
  imagesPerSecond: number;
  secondsPerEpoch: number;
  peakRssMiB: number;
  schedule: ScheduleDescription;
  groups: number;
  unfoldedBatchNorm: boolean;
  /** The threshold in the checkpoint a consumer loads (best, else last): fixed, or chosen on validation by a rule. */
  threshold: ThresholdSummary | null;
}

/** What fitting needs of a learner (Learner.fit passes itself). */
export interface Fittable {
  readonly model: Model;
  readonly data: RunData | null;
  readonly unfoldedBatchNorm: boolean;
}

export interface FitOptions extends RunOptions {
  /** Continue from a run's last checkpoint (its trainer state and optimizer tensors). */
  resume?: ResumePoint;
}

interface Prepared {
  cfg: TrainConfig;
  learner: Fittable;
  runDir: string;
  /** The validation split's protocol (internal / source-held-out / external), recorded in model.json. */
  validProtocol: ProtocolInfo;
  /** Sources of the validation split (the threshold record names them). */
  validSources: string[];
}

function prepared(cfg: TrainConfig, learner: Fittable, runDir: string): Prepared {
  const validSources = [
    ...new Set(
      readManifest(cfg.manifest)
        .rows.filter((r) => r.split === cfg.data.validSplit)
        .map((r) => r.source),
    ),
  ].sort();
  return {
    cfg,
    learner,
    runDir,
    validProtocol: validationProtocolOf({ training: { config: cfg } }, readManifest),
    validSources,
  };
}

function checkpointMeta(
  p: Prepared,
  r: EpochResult | null,
  pred: ValidationPredictions | null = null,
): CheckpointInput {
  const { cfg, learner } = p;
  const data = learner.data!;
  const sample: ValidationSample = {
    manifest: cfg.manifest,
    sha256: data.manifestSha256,
    split: cfg.data.validSplit,
    protocol: p.validProtocol,
    sources: p.validSources,
  };
  // A rule chooses on this checkpoint's own validation predictions (epoch 0, before training: the provisional 0.5).
  const choice = r
    ? trainThresholdChoice(
        trainThresholdRule(cfg.validation),
        provisionalThreshold(cfg.validation),
        pred,
        r.epoch,
        data.positiveClass,
        sample,
      )
    : { threshold: provisionalThreshold(cfg.validation) };
  return {
    classes: data.classes,
    positiveClass: data.positiveClass,
    preprocessing: cfg.preprocessing,
    ...choice,
    training: {
      config: cfg,
      epoch: r ? r.epoch + 1 : 0,
      step: r ? r.step : 0,
      unfoldedBatchNorm: learner.unfoldedBatchNorm,
      validProtocol: p.validProtocol,
      augment: augmentRecord(cfg.data.aug),
    },
    ...(r ? { metrics: { trainLoss: r.trainLoss, ...r.valid } } : {}),
    manifestSha256: data.manifestSha256,
  };
}

/** Trains `learner` on its data with `cfg`, writing the run folder cfg.out. */
export async function fitLearner(learner: Fittable, cfg: TrainConfig, opts: FitOptions = {}): Promise<RunSummary> {
  if (!learner.data) throw new Error('fit needs training data: build the learner with Learner.forTraining');
  const data = learner.data;
  const { model } = learner;
  const runDir = cfg.out;
  const resume = opts.resume;
  if (resume && resume.state.epoch >= cfg.schedule.epochs)
    throw new Error(`${runDir} already finished all ${cfg.schedule.epochs} epochs; nothing to resume`);
  const p = prepared(cfg, learner, runDir);
  const groups = layerGroups(model.layers(), cfg.transfer.groups);
  const totalSteps = cfg.schedule.epochs * data.train.batchesPerEpoch;
  const schedule = createSchedule({
    kind: cfg.schedule.kind,
    totalSteps,
    lrMin: cfg.schedule.lrMin,
    lrMax: cfg.schedule.lrMax,
    momMin: cfg.schedule.momMin,
    momMax: cfg.schedule.momMax,
    momentumMode: cfg.schedule.momentumMode,
    seed: cfg.seed,
    ...(cfg.schedule.pct !== null ? { pct: cfg.schedule.pct } : {}),
  });
  const classWeights =
    cfg.data.classWeights === 'auto'
      ? inverseFrequencyWeights(data.train.classCounts)
      : cfg.data.classWeights === 'none'
        ? undefined
        : cfg.data.classWeights;
  if (classWeights && classWeights.length !== data.classes.length) {
    throw new Error(
      `classWeights has ${classWeights.length} values for ${data.classes.length} classes (${data.classes.join(', ')})`,
    );
  }
  const g = opts.group;
  const main = !g || g.isMain;
  // Epoch-0 checkpoint: a run that diverges in its first epoch still leaves usable weights.
  if (main && !resume) await saveResumable(join(runDir, RUN_FILES.last), model, checkpointMeta(p, null), null);
  let trainer!: Trainer;
  const callbacks: TrainerCallback[] = [...(opts.callbacks ?? [])];
  if (main) {
    // rank 0 alone writes the run folder
    const trace = new ScheduleTrace(join(runDir, RUN_FILES.trace));
    if (resume) await trace.loadUpTo(resume.state.step);
    callbacks.unshift(
      trace,
      new HistoryWriter(runDir, () => trainer),
      new CheckpointWriter(
        runDir,
        model,
        () => trainer,
        memoByEpoch((r) => checkpointMeta(p, r, trainer.lastValidation)),
      ),
    );
  }
  trainer = new Trainer(
    model,
    {
      epochs: cfg.schedule.epochs,
      schedule,
      groups: groups.map((g) => g.params),
      optimizer: cfg.optimizer.kind,
      weightDecay: cfg.optimizer.wd,
      spacing: cfg.transfer.spacing,
      discriminative: cfg.transfer.discriminative,
      precision: cfg.compute.precision,
      ...(classWeights ? { classWeights } : {}),
      transfer: cfg.transfer.mode,
      batchNorm: cfg.transfer.batchNorm,
      monitor: cfg.validation.monitor,
      patience: cfg.validation.patience,
      // Per-epoch validation figures at the fixed threshold (0.5 under a rule: the choice comes at each checkpoint).
      positiveClass: data.positiveClass,
      threshold: provisionalThreshold(cfg.validation),
      seedEpoch: (e) => manualSeed(hashSeed(cfg.seed, 'epoch', e) & 0x7fffffff),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(g
        ? {
            collective: {
              sum: (xs) => g.sum(xs),
              gather: (p, l) => g.gather(p, l),
              syncModel: () => g.broadcastModel(model, { buffersOnly: true }),
            },
          }
        : {}),
    },
    callbacks,
  );
  await g?.setGradSync(true);
  if (cfg.distributed.syncBn) {
    const bn = cfg.transfer.batchNorm;
    // A note, not an error: a --sync-bn run may be resumed by one process, or BatchNorm may be fixed.
    if (!g || g.worldSize < 2) opts.log?.('--sync-bn has no effect with one process (its batch is the whole batch)');
    else if (bn !== 'train')
      opts.log?.(`--sync-bn has no effect with --bn ${bn} (BatchNorm uses its running statistics)`);
    else await g.setSyncBatchNorm(true);
  }
  const result = await trainer.fit(data.train, data.valid, resume);
  await g?.barrier(); // rank 0's last checkpoint is written before any rank reports
  const h = result.history;
  const lastCk = lastCheckpointDir(runDir);
  const bestDir = join(runDir, RUN_FILES.best);
  const trainSeconds = h.reduce((a, r) => a + r.seconds, 0);
  const summary: RunSummary = {
    runDir,
    status: result.status,
    message: result.status === 'diverged' ? `${result.message}. The last good checkpoint is ${lastCk}` : result.message,
    epochsDone: result.epochsDone,
    epochs: cfg.schedule.epochs,
    stepsDone: result.stepsDone,
    monitor: cfg.validation.monitor,
    best: {
      value: result.bestValue,
      epoch: result.bestEpoch + 1,
      checkpoint: existsSync(join(bestDir, 'model.json')) ? bestDir : null,
    },
    lastValid: h.length ? h[h.length - 1]!.valid : null,
    lastCheckpoint: lastCk,
    seconds: result.seconds,
    imagesPerSecond: h.length ? h.reduce((a, r) => a + r.imagesPerSecond, 0) / h.length : NaN,
    secondsPerEpoch: h.length ? trainSeconds / h.length : NaN,
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    schedule: schedule.describe(),
    groups: groups.length,
    unfoldedBatchNorm: learner.unfoldedBatchNorm,
    threshold: main ? await thresholdOfRun(runDir, cfg) : null,
  };
  if (main) await writeJson(join(runDir, RUN_FILES.summary), summary);
  return summary;
}

/** The last and best checkpoints of an epoch share one meta (one threshold choice, one bootstrap). */
function memoByEpoch(f: (r: EpochResult | null) => CheckpointInput): (r: EpochResult | null) => CheckpointInput {
  let last: { r: EpochResult | null; meta: CheckpointInput } | null = null;
  return (r) => {
    if (!last || last.r !== r) last = { r, meta: f(r) };
    return last.meta;
  };
}

/** The threshold of the checkpoint a consumer loads (resolveModel: best, else last). */
async function thresholdOfRun(runDir: string, cfg: TrainConfig): Promise<ThresholdSummary | null> {
  const best = join(runDir, RUN_FILES.best);
  const dir = existsSync(join(best, 'model.json')) ? best : lastCheckpointDir(runDir);
  if (!dir) return null;
  return thresholdSummaryOf(await readCheckpointMeta(dir), dir === best ? 'best' : 'last', cfg.validation.threshold);
}
