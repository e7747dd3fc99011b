// The experiment runner: TrainConfig → run folder + data + Learner, ready for learner.fit.
// startRun prepares a new run; continueRun one to continue from checkpoints/last (fit.ts restores
// the weights, optimizer state, schedule position and every seed-derived stream), so an
// interrupted run resumed ends with the same weights as an uninterrupted one (bitwise on CPU fp32).
// trainRun and resumeRun are either, then fit.
//
// Seeds: the engine RNG is seeded with `seed` before the model is built (initialisation,
// a re-initialised head; Learner.forTraining), then per epoch by fit.ts.
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ProcessGroup } from '../../engine/distributed.js';
import { weightsRef } from '../../engine/weights/weightsFile.js';
import type { ResumePoint } from '../../recipe/trainer.js';
import { isOfflineAug } from '../../data/augmentMode.js';
import { copySegmenter, SEGMENTER_DIR } from '../lungs/carriedSegmenter.js';
import { openRunData } from './dataSource.js';
import type { FitOptions, RunOptions, RunSummary } from './fitRecord.js';
import { Learner } from './learner.js';
import { lastCheckpointDir, readResumable, removeStaleRunTemps, RUN_FILES, writeJson } from './runFolder.js';
import {
  completeTrainConfig,
  nestTrainConfig,
  runDataOptionsOf,
  trainThresholdRule,
  validateTrainConfig,
  type TrainConfig,
  type TrainConfigPatch,
} from './trainConfig.js';

export type { RunOptions, RunSummary } from './fitRecord.js';

const shardOf = (g?: ProcessGroup) => (g ? { shard: { rank: g.rank, world: g.worldSize } } : {});

/** A run ready to fit: its learner, its resolved config and, when continuing, where it stopped. */
export interface PreparedRun {
  learner: Learner;
  cfg: TrainConfig;
  /** Options for learner.fit: the resume point when continuing a run. */
  fit: Pick<FitOptions, 'resume'>;
}

/** Starts a new run in cfg.out and fits it. */
export async function trainRun(config: TrainConfig, opts: RunOptions = {}): Promise<RunSummary> {
  const run = await startRun(config, opts);
  return run.learner.fit(run.cfg, { ...opts, ...run.fit });
}

/** Continues the run in runDir from its last checkpoint to its end. */
export async function resumeRun(runDir: string, opts: RunOptions = {}): Promise<RunSummary> {
  const run = await continueRun(runDir, opts);
  return run.learner.fit(run.cfg, { ...opts, ...run.fit });
}

/**
 * The run's copy of its lung segmenter (RUN/segmenter/, once; a resumed run keeps its copy), or
 * a note that a lung-cropping model without one will need --lungs wherever it is used.
 */
async function carrySegmenter(cfg: TrainConfig, log: (m: string) => void): Promise<void> {
  if (!cfg.lungs) {
    if (cfg.preprocessing.crop === 'lungs')
      log(
        'note: no --lungs given: the model will carry no lung segmenter, so images without a lung mask ' +
          'need --lungs DIR wherever it is used',
      );
    return;
  }
  const to = join(cfg.out, SEGMENTER_DIR);
  if (existsSync(join(to, 'model.safetensors'))) return;
  await mkdir(cfg.out, { recursive: true });
  const pin = await copySegmenter(cfg.lungs, to);
  log(`lung segmenter ${cfg.lungs} (sha256 ${pin.weightsSha256.slice(0, 12)}) copied into the run: ${to}`);
}

/** A new run in cfg.out (which must not hold a run already): config.json written, the learner built. */
export async function startRun(config: TrainConfig, opts: RunOptions = {}): Promise<PreparedRun> {
  const log = opts.log ?? (() => undefined);
  validateTrainConfig(config);
  const cfg: TrainConfig = {
    ...config,
    data: { ...config.data }, // aug and monitor are resolved below, on this run's copy
    validation: { ...config.validation },
    manifest: resolve(config.manifest),
    out: resolve(config.out),
    pretrained: config.pretrained ? weightsRef(config.pretrained) : null,
    lungs: config.lungs ? resolve(config.lungs) : null,
  };
  if (isOfflineAug(cfg.data.aug)) cfg.data.aug = resolve(cfg.data.aug);
  if (existsSync(join(cfg.out, RUN_FILES.config))) {
    throw new Error(`${cfg.out} already holds a run; continue it with --resume ${config.out}, or choose another --out`);
  }
  const g = opts.group;
  await g?.barrier(); // every rank has checked before rank 0 writes config.json
  const main = !g || g.isMain;
  if (main) await removeStaleRunTemps(cfg.out);
  if (main) await carrySegmenter(cfg, log);
  const data = openRunData({ ...runDataOptionsOf(cfg), needValid: false, ...shardOf(g) });
  if (!data.valid)
    log(
      `no '${cfg.data.validSplit}' rows in the manifest: validation metrics will be empty; ` +
        'monitor falls back to train_loss',
    );
  if (!data.valid && cfg.validation.monitor !== 'train_loss') cfg.validation.monitor = 'train_loss';
  const rule = trainThresholdRule(cfg.validation);
  if (!data.valid && rule.kind !== 'fixed')
    throw new Error(
      `--threshold ${cfg.validation.threshold} chooses the threshold on the '${cfg.data.validSplit}' split, ` +
        'which the manifest does not have; give a fixed threshold or a manifest with that split',
    );

  // Local workers share the cores (torchrun and `train --nproc` set LOCAL_WORLD_SIZE).
  const learner = await Learner.forTraining(cfg, data, { log, worker: true });
  if (g) await g.broadcastModel(learner.model); // rank 0's weights everywhere (as DDP's constructor)
  if (main) await writeJson(join(cfg.out, RUN_FILES.config), { ...cfg, manifestSha256: data.manifestSha256 });
  return { learner, cfg, fit: {} };
}

/** The run in runDir, to continue from its last checkpoint (its own config.json). */
export async function continueRun(runDir: string, opts: RunOptions = {}): Promise<PreparedRun> {
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
  if (!g || g.isMain) await carrySegmenter(cfg, opts.log ?? (() => undefined));
  const data = openRunData({ ...runDataOptionsOf(cfg), needValid: false, ...shardOf(g) });
  if (data.manifestSha256 !== manifestSha256) {
    throw new Error(
      `the manifest ${cfg.manifest} changed since this run started ` +
        `(sha256 ${manifestSha256.slice(0, 12)}… → ${data.manifestSha256.slice(0, 12)}…); start a new run`,
    );
  }
  const learner = await Learner.resume(last, cfg.compute, data, { worker: true });
  if (g) await g.broadcastModel(learner.model);
  const { state, optimizer } = await readResumable(last);
  const resume: ResumePoint | undefined = state ? { state, ...(optimizer ? { optimizer } : {}) } : undefined;
  if (state)
    opts.log?.(`resuming ${runDir} at epoch ${state.epoch + 1}/${cfg.schedule.epochs} ` + `(step ${state.step})`);
  return { learner, cfg, fit: resume ? { resume } : {} };
}
