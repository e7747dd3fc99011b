// The experiment runner: TrainConfig → data + model + schedule + trainer + run folder.
// trainRun starts a run; resumeRun continues one from checkpoints/last (weights, optimizer
// state, schedule position and every seed-derived stream), so an interrupted run resumed
// ends with the same weights as an uninterrupted one (bitwise on CPU fp32).
//
// Seeds: the engine RNG is seeded with `seed` before the model is built (initialisation,
// a re-initialised head) and with hash(seed, 'epoch', e) at every epoch start (dropout);
// epoch e's batch order and online augmentation come from hash(seed, 'train', e).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { CheckpointInput } from '../../engine/checkpoint.js';
import type { ProcessGroup } from '../../engine/distributed.js';
import { weightsRef } from '../../engine/weights/weightsFile.js';
import { manualSeed } from '../../engine/runtime.js';
import { hashSeed } from '../../util/rng.js';
import type { EpochResult, TrainerCallback, TrainResult } from '../../recipe/callbacks.js';
import { layerGroups } from '../../recipe/discriminative.js';
import { createSchedule, type ScheduleDescription } from '../../recipe/schedules.js';
import { Trainer, type ResumePoint, type ValidationPredictions } from '../../recipe/trainer.js';
import type { ValidMetrics } from '../../recipe/validationMetrics.js';
import { inverseFrequencyWeights, openRunData } from './dataSource.js';
import { Learner } from './learner.js';
import { validationProtocolOf, type ProtocolInfo } from '../evaluate/protocol.js';
import { readManifest } from '../../data/manifest.js';
import { augmentRecord, isOfflineAug } from '../../data/augmentMode.js';
import { readCheckpointMeta } from '../../engine/checkpoint.js';
import {
  thresholdSummaryOf,
  trainThresholdChoice,
  type ThresholdSummary,
  type ValidationSample,
} from './trainThreshold.js';
import {
  CheckpointWriter,
  HistoryWriter,
  lastCheckpointDir,
  readResumable,
  removeStaleRunTemps,
  RUN_FILES,
  saveResumable,
  ScheduleTrace,
  writeJson,
} from './runFolder.js';
import {
  completeTrainConfig,
  nestTrainConfig,
  runDataOptionsOf,
  provisionalThreshold,
  trainThresholdRule,
  validateTrainConfig,
  type TrainConfig,
  type TrainConfigPatch,
} from './trainConfig.js';

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

interface Prepared {
  cfg: TrainConfig;
  learner: Learner;
  runDir: string;
  /** The validation split's protocol (internal / source-held-out / external), recorded in model.json. */
  validProtocol: ProtocolInfo;
  /** Sources of the validation split (the threshold record names them). */
  validSources: string[];
}

function prepared(cfg: TrainConfig, learner: Learner, runDir: string): Prepared {
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

const shardOf = (g?: ProcessGroup) => (g ? { shard: { rank: g.rank, world: g.worldSize } } : {});

/** Starts a new run in cfg.out (which must not hold a run already). */
export async function trainRun(config: TrainConfig, opts: RunOptions = {}): Promise<RunSummary> {
  const log = opts.log ?? (() => undefined);
  validateTrainConfig(config);
  const cfg: TrainConfig = {
    ...config,
    data: { ...config.data }, // aug and monitor are resolved below, on this run's copy
    validation: { ...config.validation },
    manifest: resolve(config.manifest),
    out: resolve(config.out),
    pretrained: config.pretrained ? weightsRef(config.pretrained) : null,
  };
  if (isOfflineAug(cfg.data.aug)) cfg.data.aug = resolve(cfg.data.aug);
  if (existsSync(join(cfg.out, RUN_FILES.config))) {
    throw new Error(`${cfg.out} already holds a run; continue it with --resume ${config.out}, or choose another --out`);
  }
  const g = opts.group;
  await g?.barrier(); // every rank has checked before rank 0 writes config.json
  const main = !g || g.isMain;
  if (main) await removeStaleRunTemps(cfg.out);
  const data = openRunData({ ...runDataOptionsOf(cfg), needValid: false, ...shardOf(g) });
  if (!data.valid)
    log(
      `no '${cfg.data.validSplit}' rows in the manifest: validation metrics will be empty; monitor falls back to train_loss`,
    );
  if (!data.valid && cfg.validation.monitor !== 'train_loss') cfg.validation.monitor = 'train_loss';
  const rule = trainThresholdRule(cfg.validation);
  if (!data.valid && rule.kind !== 'fixed')
    throw new Error(
      `--threshold ${cfg.validation.threshold} chooses the threshold on the '${cfg.data.validSplit}' split, which the manifest does not have; give a fixed threshold or a manifest with that split`,
    );

  // Local workers share the cores (torchrun and `train --nproc` set LOCAL_WORLD_SIZE).
  const learner = await Learner.forTraining(cfg, data, { log, worker: true });
  if (g) await g.broadcastModel(learner.model); // rank 0's weights everywhere (as DDP's constructor)
  const p = prepared(cfg, learner, cfg.out);
  if (main) {
    await writeJson(join(cfg.out, RUN_FILES.config), { ...cfg, manifestSha256: data.manifestSha256 });
    // Epoch-0 checkpoint: a run that diverges in its first epoch still leaves usable weights.
    await saveResumable(join(cfg.out, RUN_FILES.last), learner.model, checkpointMeta(p, null), null);
  }
  return fitRun(p, undefined, opts);
}

/** Continues the run in runDir from its last checkpoint. */
export async function resumeRun(runDir: string, opts: RunOptions = {}): Promise<RunSummary> {
  const dir = resolve(runDir);
  const cfgFile = join(dir, RUN_FILES.config);
  if (!existsSync(cfgFile)) throw new Error(`${runDir} is not a cxrtune run folder (no ${RUN_FILES.config})`);
  const { manifestSha256, ...saved } = JSON.parse(await readFile(cfgFile, 'utf8')) as TrainConfigPatch & {
    manifestSha256: string;
  };
  // A flat config.json (written before the nesting) reads as it ran; settings added since the
  // run started (e.g. fit, equalize) take the defaults it ran with.
  const cfg = { ...completeTrainConfig(nestTrainConfig(saved, { lenient: true })), out: dir } as TrainConfig;
  validateTrainConfig(cfg);
  const last = lastCheckpointDir(dir);
  if (!last) throw new Error(`${runDir} has no checkpoint to resume from (${RUN_FILES.last} is missing)`);
  const g = opts.group;
  const stale = !g || g.isMain ? await removeStaleRunTemps(dir) : [];
  if (stale.length)
    (opts.log ?? (() => undefined))(`removed ${stale.length} temporary file(s) left by an interrupted write`);
  const data = openRunData({ ...runDataOptionsOf(cfg), needValid: false, ...shardOf(g) });
  if (data.manifestSha256 !== manifestSha256) {
    throw new Error(
      `the manifest ${cfg.manifest} changed since this run started (sha256 ${manifestSha256.slice(0, 12)}… → ${data.manifestSha256.slice(0, 12)}…); start a new run`,
    );
  }
  const learner = await Learner.resume(last, cfg.compute, data, { worker: true });
  if (g) await g.broadcastModel(learner.model);
  const { state, optimizer } = await readResumable(last);
  const resume: ResumePoint | undefined = state ? { state, ...(optimizer ? { optimizer } : {}) } : undefined;
  if (state) opts.log?.(`resuming ${runDir} at epoch ${state.epoch + 1}/${cfg.schedule.epochs} (step ${state.step})`);
  return fitRun(prepared(cfg, learner, dir), resume, opts);
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

async function fitRun(p: Prepared, resume: ResumePoint | undefined, opts: RunOptions): Promise<RunSummary> {
  const { cfg, learner, runDir } = p;
  const { model } = learner;
  const data = learner.data!;
  if (resume && resume.state.epoch >= cfg.schedule.epochs)
    throw new Error(`${runDir} already finished all ${cfg.schedule.epochs} epochs; nothing to resume`);
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
    // A note, not an error: a --sync-bn run may be resumed by one process, or BatchNorm may be fixed.
    if (!g || g.worldSize < 2) opts.log?.('--sync-bn has no effect with one process (its batch is the whole batch)');
    else if (cfg.transfer.batchNorm !== 'train')
      opts.log?.(`--sync-bn has no effect with --bn ${cfg.transfer.batchNorm} (BatchNorm uses its running statistics)`);
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
