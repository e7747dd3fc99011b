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
import { loadCheckpoint, type CheckpointInput } from '../engine/checkpoint.js';
import { workerThreads, type ProcessGroup } from '../engine/distributed.js';
import { Model } from '../engine/model.js';
import { loadPretrained } from '../engine/pretrained.js';
import { weightsInfo, weightsRef } from '../engine/weights/weightsFile.js';
import { checkDevice, manualSeed, physicalCores, setThreads } from '../engine/runtime.js';
import type { Normalisation } from '../engine/types.js';
import { hashSeed } from '../data/rng.js';
import type { EpochResult, TrainerCallback, TrainResult } from '../recipe/callbacks.js';
import { layerGroups } from '../recipe/discriminative.js';
import { createSchedule, type ScheduleDescription } from '../recipe/schedules.js';
import { Trainer, type ResumePoint } from '../recipe/trainer.js';
import type { ValidMetrics } from '../recipe/validationMetrics.js';
import { batchNormNames, isFoldedBatchNorm, unfoldBatchNorm } from './bnUnfold.js';
import { inverseFrequencyWeights, openRunData, type RunData } from './dataSource.js';
import {
  CheckpointWriter, HistoryWriter, lastCheckpointDir, readResumable, removeStaleRunTemps, RUN_FILES, saveResumable, ScheduleTrace, writeJson,
} from './runFolder.js';
import { validateTrainConfig, type TrainConfig } from './trainConfig.js';

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
}

interface Prepared {
  cfg: TrainConfig;
  data: RunData;
  model: Model;
  runDir: string;
}

function pretrainedNormalisation(meta: Record<string, string>): Normalisation | undefined {
  try {
    const mean = JSON.parse(meta.mean ?? 'null');
    const std = JSON.parse(meta.std ?? 'null');
    if (Array.isArray(mean) && Array.isArray(std) && mean.length === 3 && std.length === 3) return { mean, std } as Normalisation;
  } catch { /* not recorded: ImageNet's */ }
  return undefined;
}

function setupRuntime(cfg: TrainConfig): void {
  checkDevice(cfg.device);
  // Local workers share the cores (torchrun and `train --nproc` set LOCAL_WORLD_SIZE).
  setThreads(cfg.threads ?? workerThreads(physicalCores()));
}

const shardOf = (g?: ProcessGroup) => (g ? { shard: { rank: g.rank, world: g.worldSize } } : {});

/** Starts a new run in cfg.out (which must not hold a run already). */
export async function trainRun(config: TrainConfig, opts: RunOptions = {}): Promise<RunSummary> {
  const log = opts.log ?? (() => undefined);
  validateTrainConfig(config);
  const cfg: TrainConfig = { ...config, manifest: resolve(config.manifest), out: resolve(config.out), pretrained: config.pretrained ? weightsRef(config.pretrained) : null };
  if (cfg.aug !== 'none' && cfg.aug !== 'online') cfg.aug = resolve(cfg.aug);
  if (existsSync(join(cfg.out, RUN_FILES.config))) {
    throw new Error(`${cfg.out} already holds a run; continue it with --resume ${config.out}, or choose another --out`);
  }
  const g = opts.group;
  await g?.barrier(); // every rank has checked before rank 0 writes config.json
  const main = !g || g.isMain;
  setupRuntime(cfg);
  if (main) await removeStaleRunTemps(cfg.out);
  const data = openRunData({ ...cfg, needValid: false, ...shardOf(g) });
  if (!data.valid) log(`no '${cfg.validSplit}' rows in the manifest: validation metrics will be empty; monitor falls back to train_loss`);
  if (!data.valid && cfg.monitor !== 'train_loss') cfg.monitor = 'train_loss';

  manualSeed(cfg.seed);
  let normalisation: Normalisation | undefined;
  let strideIn1x1 = false;
  if (cfg.pretrained) {
    const meta = (await weightsInfo(cfg.pretrained)).metadata;
    normalisation = pretrainedNormalisation(meta);
    strideIn1x1 = meta.stride_in_1x1 === 'true'; // Keras' ResNet-50 is v1
  }
  const model = await Model.create({
    arch: cfg.arch, numClasses: data.classes.length, device: cfg.device, ...(normalisation ? { normalisation } : {}), ...(strideIn1x1 ? { strideIn1x1 } : {}),
  });
  if (cfg.pretrained) {
    const rep = await loadPretrained(model, cfg.pretrained, log);
    log(`pretrained: ${rep.loaded} tensors from ${rep.file}`);
  }
  let unfolded = false;
  if (cfg.unfoldBn === 'on' || (cfg.unfoldBn === 'auto' && cfg.pretrained)) {
    const bn = batchNormNames(model);
    const folded = isFoldedBatchNorm(await model.state(), bn);
    if (cfg.unfoldBn === 'on' || folded) {
      const rep = await unfoldBatchNorm(model, firstBatches(data, 64));
      unfolded = true;
      log(`BatchNorm: unfolded ${rep.layers} folded layers with statistics of ${rep.images} training images`);
    }
  }
  if (g) await g.broadcastModel(model); // rank 0's weights everywhere (as DDP's constructor)
  const p: Prepared = { cfg, data, model, runDir: cfg.out };
  if (main) {
    await writeJson(join(cfg.out, RUN_FILES.config), { ...cfg, manifestSha256: data.manifestSha256 });
    // Epoch-0 checkpoint: a run that diverges in its first epoch still leaves usable weights.
    await saveResumable(join(cfg.out, RUN_FILES.last), model, checkpointMeta(p, null, unfolded), null);
  }
  return fitRun(p, undefined, unfolded, opts);
}

/** Continues the run in runDir from its last checkpoint. */
export async function resumeRun(runDir: string, opts: RunOptions = {}): Promise<RunSummary> {
  const dir = resolve(runDir);
  const cfgFile = join(dir, RUN_FILES.config);
  if (!existsSync(cfgFile)) throw new Error(`${runDir} is not a cxrtune run folder (no ${RUN_FILES.config})`);
  const { manifestSha256, ...saved } = JSON.parse(await readFile(cfgFile, 'utf8')) as TrainConfig & { manifestSha256: string };
  const cfg: TrainConfig = { ...saved, out: dir };
  validateTrainConfig(cfg);
  const last = lastCheckpointDir(dir);
  if (!last) throw new Error(`${runDir} has no checkpoint to resume from (${RUN_FILES.last} is missing)`);
  setupRuntime(cfg);
  const g = opts.group;
  const stale = !g || g.isMain ? await removeStaleRunTemps(dir) : [];
  if (stale.length) (opts.log ?? (() => undefined))(`removed ${stale.length} temporary file(s) left by an interrupted write`);
  const data = openRunData({ ...cfg, needValid: false, ...shardOf(g) });
  if (data.manifestSha256 !== manifestSha256) {
    throw new Error(`the manifest ${cfg.manifest} changed since this run started (sha256 ${manifestSha256.slice(0, 12)}… → ${data.manifestSha256.slice(0, 12)}…); start a new run`);
  }
  const { model, meta } = await loadCheckpoint(last, { device: cfg.device });
  if (g) await g.broadcastModel(model);
  const { state, optimizer } = await readResumable(last);
  const unfolded = Boolean((meta.training as { unfoldedBatchNorm?: boolean } | undefined)?.unfoldedBatchNorm);
  const resume: ResumePoint | undefined = state ? { state, ...(optimizer ? { optimizer } : {}) } : undefined;
  if (state) opts.log?.(`resuming ${runDir} at epoch ${state.epoch + 1}/${cfg.epochs} (step ${state.step})`);
  return fitRun({ cfg, data, model, runDir: dir }, resume, unfolded, opts);
}

/** Up to `n` training images in a fixed order (BatchNorm statistics). */
async function* firstBatches(data: RunData, n: number) {
  let seen = 0;
  for await (const b of data.train.epoch(-1)) {
    yield b;
    seen += b.shape[0];
    if (seen >= n) return;
  }
}

function checkpointMeta(p: Prepared, r: EpochResult | null, unfolded: boolean): CheckpointInput {
  const { cfg, data } = p;
  return {
    classes: data.classes,
    positiveClass: data.positiveClass,
    inputSize: cfg.size,
    channels: 1,
    threshold: cfg.threshold,
    training: { config: cfg, epoch: r ? r.epoch + 1 : 0, step: r ? r.step : 0, unfoldedBatchNorm: unfolded },
    ...(r ? { metrics: { trainLoss: r.trainLoss, ...r.valid } } : {}),
    manifestSha256: data.manifestSha256,
  };
}

async function fitRun(p: Prepared, resume: ResumePoint | undefined, unfolded: boolean, opts: RunOptions): Promise<RunSummary> {
  const { cfg, data, model, runDir } = p;
  if (resume && resume.state.epoch >= cfg.epochs) throw new Error(`${runDir} already finished all ${cfg.epochs} epochs; nothing to resume`);
  const groups = layerGroups(model.layers(), cfg.groups);
  const totalSteps = cfg.epochs * data.train.batchesPerEpoch;
  const schedule = createSchedule({
    kind: cfg.schedule, totalSteps, lrMin: cfg.lrMin, lrMax: cfg.lrMax, momMin: cfg.momMin, momMax: cfg.momMax,
    momentumMode: cfg.momentumMode, seed: cfg.seed, ...(cfg.pct !== null ? { pct: cfg.pct } : {}),
  });
  const classWeights = cfg.classWeights === 'auto' ? inverseFrequencyWeights(data.train.classCounts)
    : cfg.classWeights === 'none' ? undefined : cfg.classWeights;
  if (classWeights && classWeights.length !== data.classes.length) {
    throw new Error(`classWeights has ${classWeights.length} values for ${data.classes.length} classes (${data.classes.join(', ')})`);
  }
  const g = opts.group;
  const main = !g || g.isMain;
  let trainer!: Trainer;
  const callbacks: TrainerCallback[] = [...(opts.callbacks ?? [])];
  if (main) { // rank 0 alone writes the run folder
    const trace = new ScheduleTrace(join(runDir, RUN_FILES.trace));
    if (resume) await trace.loadUpTo(resume.state.step);
    callbacks.unshift(
      trace,
      new HistoryWriter(runDir, () => trainer),
      new CheckpointWriter(runDir, model, () => trainer, (r) => checkpointMeta(p, r, unfolded)),
    );
  }
  trainer = new Trainer(model, {
    epochs: cfg.epochs, schedule, groups: groups.map((g) => g.params), optimizer: cfg.optimizer, weightDecay: cfg.wd,
    spacing: cfg.spacing, discriminative: cfg.discriminative, precision: cfg.precision,
    ...(classWeights ? { classWeights } : {}),
    transfer: cfg.mode, batchNorm: cfg.batchNorm, monitor: cfg.monitor, patience: cfg.patience,
    positiveClass: data.positiveClass, threshold: cfg.threshold,
    seedEpoch: (e) => manualSeed(hashSeed(cfg.seed, 'epoch', e) & 0x7fffffff),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(g ? { collective: { sum: (xs) => g.sum(xs), gather: (p, l) => g.gather(p, l), syncModel: () => g.broadcastModel(model, { buffersOnly: true }) } } : {}),
  }, callbacks);
  await g?.setGradSync(true);
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
    epochs: cfg.epochs,
    stepsDone: result.stepsDone,
    monitor: cfg.monitor,
    best: { value: result.bestValue, epoch: result.bestEpoch + 1, checkpoint: existsSync(join(bestDir, 'model.json')) ? bestDir : null },
    lastValid: h.length ? h[h.length - 1]!.valid : null,
    lastCheckpoint: lastCk,
    seconds: result.seconds,
    imagesPerSecond: h.length ? h.reduce((a, r) => a + r.imagesPerSecond, 0) / h.length : NaN,
    secondsPerEpoch: h.length ? trainSeconds / h.length : NaN,
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    schedule: schedule.describe(),
    groups: groups.length,
    unfoldedBatchNorm: unfolded,
  };
  if (main) await writeJson(join(runDir, RUN_FILES.summary), summary);
  return summary;
}
