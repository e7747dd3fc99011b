// Fitting a learner (Learner.fit): its training data through the trainer (recipe/trainer.ts)
// with the run folder's callbacks (schedule trace, history, checkpoints/last and best), then
// summary.json. A fresh run starts with an epoch-0 checkpoint; a resumed one continues from
// its resume point (weights, optimizer state, schedule position and every seed-derived
// stream), so it ends with the same weights as an uninterrupted run (bitwise on CPU fp32).
//
// Seeds: the engine RNG is seeded with hash(seed, 'epoch', e) at every epoch start (dropout);
// epoch e's batch order and online augmentation come from hash(seed, 'train', e).
// Beside it: fitRecord (options, summary.json) and fitCheckpointMeta (what each checkpoint records).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckpointMeta } from '../../engine/checkpoint.js';
import { manualSeed } from '../../engine/runtime.js';
import type { TrainerCallback } from '../../recipe/callbacks.js';
import { layerGroups } from '../../recipe/discriminative.js';
import { createSchedule } from '../../recipe/schedules.js';
import { Trainer } from '../../recipe/trainer.js';
import { isSampleRule } from '../../recipe/threshold.js';
import { hashSeed } from '../../util/rng.js';
import { inverseFrequencyWeights } from './dataSource.js';
import { checkpointMeta, memoByEpoch, prepared } from './fitCheckpointMeta.js';
import type { Fittable, FitOptions, RunSummary } from './fitRecord.js';
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
import { thresholdSummaryOf, type ThresholdSummary } from './trainThreshold.js';
import { fitOodForCheckpoint } from '../ood/fitOod.js';

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
      // A threshold rule chooses on validation predictions made as every consumer makes them (fp32), or its
      // promise (sensitivity >= 0.9) breaks on the scores evaluate and serve compute; the metrics that pick the
      // best epoch stay in the training precision.
      ...(isSampleRule(trainThresholdRule(cfg.validation)) ? { choicePrecision: 'fp32' as const } : {}),
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
  if (main) {
    await writeJson(join(runDir, RUN_FILES.summary), summary);
    await writeRefusalStats(runDir, cfg, opts.log);
  }
  return summary;
}

/**
 * ood.json beside the checkpoint consumers load (best, else last), so serve refuses what is not a
 * frontal chest radiograph with --model alone. A failure here does not fail the run: it is said,
 * and `cxrtune ood fit RUN` writes the file later.
 */
async function writeRefusalStats(runDir: string, cfg: TrainConfig, log?: (line: string) => void): Promise<void> {
  const best = join(runDir, RUN_FILES.best);
  const dir = existsSync(join(best, 'model.json')) ? best : lastCheckpointDir(runDir);
  if (!dir) return;
  try {
    const { file, record } = await fitOodForCheckpoint(dir, {
      manifest: cfg.manifest,
      trainSplit: cfg.data.trainSplit,
      validSplit: cfg.data.validSplit,
    });
    log?.(`refusal statistics: ${file} (feature distance limit ${record.features.limit.toFixed(2)})`);
  } catch (e) {
    log?.(`warning: no ood.json written (${(e as Error).message}); write it with cxrtune ood fit ${runDir}`);
  }
}

/** The threshold of the checkpoint a consumer loads (resolveModel: best, else last). */
async function thresholdOfRun(runDir: string, cfg: TrainConfig): Promise<ThresholdSummary | null> {
  const best = join(runDir, RUN_FILES.best);
  const dir = existsSync(join(best, 'model.json')) ? best : lastCheckpointDir(runDir);
  if (!dir) return null;
  return thresholdSummaryOf(await readCheckpointMeta(dir), dir === best ? 'best' : 'last', cfg.validation.threshold);
}
