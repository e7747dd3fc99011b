// The run folder and the callbacks that fill it:
//   config.json              the resolved TrainConfig (+ manifest hash): rerun with --config
//   history.json / .csv      one record per epoch
//   schedule_trace.csv       step,epoch,group,lr,momentum,weight_decay for every step and group
//   checkpoints/last/        weights + model.json + optimizer.safetensors + trainer.json (resume)
//   checkpoints/best/        weights + model.json of the best epoch by --monitor
//   segmenter/               the lung segmenter the model crops with (train --lungs), and a hard
//                            link of it in each checkpoint folder (lungs/carriedSegmenter.ts)
//   summary.json             how the run ended
// Every file is written atomically; a checkpoint folder is built beside its target and
// swapped in by renames, so `last` is always a complete checkpoint.
import { existsSync } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { removeStaleTemps, writeFileAtomic } from '../../util/atomicWrite.js';
import { saveCheckpoint, type CheckpointInput } from '../../engine/checkpoint.js';
import type { Model } from '../../engine/model.js';
import { readSafetensors, writeSafetensors } from '../../engine/safetensors.js';
import type { EngineModel, TensorMap } from '../../engine/types.js';
import type { EpochResult, StepInfo, TrainerCallback } from '../../recipe/callbacks.js';
import type { Trainer, TrainerState } from '../../recipe/trainer.js';
import { placeSegmenter, SEGMENTER_DIR } from '../lungs/carriedSegmenter.js';

export const RUN_FILES = {
  config: 'config.json',
  historyJson: 'history.json',
  historyCsv: 'history.csv',
  trace: 'schedule_trace.csv',
  last: join('checkpoints', 'last'),
  best: join('checkpoints', 'best'),
  summary: 'summary.json',
} as const;

/** Beside a resumable checkpoint's weights. */
export const RESUME_FILES = { optimizer: 'optimizer.safetensors', trainer: 'trainer.json' } as const;

export async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, jsonSafe, 2)}\n`);
}

/** NaN/Infinity become null (JSON has no such numbers). */
function jsonSafe(_k: string, v: unknown): unknown {
  return typeof v === 'number' && !Number.isFinite(v) ? null : v;
}

const HISTORY_COLUMNS = [
  'epoch',
  'step',
  'train_loss',
  'valid_loss',
  'valid_accuracy',
  'valid_sensitivity',
  'valid_specificity',
  'valid_auc',
  'monitor',
  'improved',
  'seconds',
  'images_per_s',
  'skipped_steps',
];

function historyCsv(history: EpochResult[]): string {
  const num = (x: number) => (Number.isFinite(x) ? String(x) : '');
  const lines = history.map((h) =>
    [
      h.epoch + 1,
      h.step,
      num(h.trainLoss),
      num(h.valid.loss),
      num(h.valid.accuracy),
      num(h.valid.sensitivity),
      num(h.valid.specificity),
      num(h.valid.auc),
      num(h.monitorValue),
      h.improved ? 1 : 0,
      h.seconds.toFixed(3),
      h.imagesPerSecond.toFixed(2),
      h.skippedSteps,
    ].join(','),
  );
  return `${[HISTORY_COLUMNS.join(','), ...lines].join('\n')}\n`;
}

/** history.json + history.csv after every epoch. */
export class HistoryWriter implements TrainerCallback {
  constructor(
    private readonly dir: string,
    private readonly trainer: () => Trainer,
  ) {}
  async onEpochEnd(): Promise<void> {
    const h = this.trainer().state().history;
    await writeJson(join(this.dir, RUN_FILES.historyJson), h);
    await writeFileAtomic(join(this.dir, RUN_FILES.historyCsv), historyCsv(h));
  }
}

const TRACE_HEADER = 'step,epoch,group,lr,momentum,weight_decay';

/** Every step's per-group hyperparameters, exactly as given to the engine. */
export class ScheduleTrace implements TrainerCallback {
  private lines: string[] = [];
  constructor(private readonly file: string) {}

  /** Keeps the lines of steps before `step` from an existing trace (resume). */
  async loadUpTo(step: number): Promise<void> {
    if (!existsSync(this.file)) return;
    const rows = (await readFile(this.file, 'utf8')).split('\n').slice(1).filter(Boolean);
    this.lines = rows.filter((l) => Number(l.slice(0, l.indexOf(','))) < step);
  }
  onStep(s: StepInfo): void {
    for (const [g, h] of s.hyper.entries())
      this.lines.push(`${s.step},${s.epoch + 1},${g},${h.lr},${h.momentum},${h.weightDecay}`);
  }
  async flush(): Promise<void> {
    await writeFileAtomic(this.file, `${[TRACE_HEADER, ...this.lines].join('\n')}\n`);
  }
  async onEpochEnd(): Promise<void> {
    await this.flush();
  }
  async onTrainEnd(): Promise<void> {
    await this.flush();
  }
}

/** Saves checkpoints/last every epoch (with everything resume needs) and checkpoints/best on improvement. */
export class CheckpointWriter implements TrainerCallback {
  constructor(
    private readonly dir: string,
    private readonly model: Model,
    private readonly trainer: () => Trainer,
    private readonly meta: (r: EpochResult | null) => CheckpointInput,
  ) {}

  async onEpochEnd(r: EpochResult): Promise<void> {
    await saveResumable(join(this.dir, RUN_FILES.last), this.model, this.meta(r), this.trainer().state());
    if (r.improved)
      await swapDir(join(this.dir, RUN_FILES.best), (tmp) => saveRunCheckpoint(tmp, this.model, this.meta(r)));
  }
}

/**
 * A checkpoint of a run (tmp is RUN/checkpoints/<name>.tmp-…): with the run's segmenter beside
 * its weights when model.json pins one, so the folder alone is a complete model.
 */
async function saveRunCheckpoint(tmp: string, model: Model, meta: CheckpointInput): Promise<void> {
  await saveCheckpoint(tmp, model, meta);
  if (meta.segmenter) placeSegmenter(join(dirname(dirname(tmp)), SEGMENTER_DIR), tmp);
}

/** A checkpoint plus optimizer state and trainer state. */
export async function saveResumable(
  dir: string,
  model: Model,
  meta: CheckpointInput,
  state: TrainerState | null,
): Promise<void> {
  await swapDir(dir, async (tmp) => {
    await saveRunCheckpoint(tmp, model, meta);
    if (state) await saveTrainerState(tmp, model, state);
  });
}

/** What resume needs beside a checkpoint's weights: the optimizer's tensors and the trainer's state. */
export async function saveTrainerState(dir: string, model: EngineModel, state: TrainerState): Promise<void> {
  await writeSafetensors(join(dir, RESUME_FILES.optimizer), await model.optimizerState());
  await writeJson(join(dir, RESUME_FILES.trainer), state);
}

export async function readResumable(dir: string): Promise<{ state: TrainerState | null; optimizer: TensorMap | null }> {
  const tf = join(dir, RESUME_FILES.trainer);
  const of = join(dir, RESUME_FILES.optimizer);
  const state = existsSync(tf) ? revive(JSON.parse(await readFile(tf, 'utf8')) as TrainerState) : null;
  const optimizer = existsSync(of) ? (await readSafetensors(of)).tensors : null;
  return { state, optimizer };
}

/** JSON nulls back to NaN in the numeric fields the trainer reads. */
function revive(s: TrainerState): TrainerState {
  const n = (x: unknown) => (typeof x === 'number' ? x : NaN);
  s.history = s.history.map((h) => ({
    ...h,
    trainLoss: n(h.trainLoss),
    monitorValue: n(h.monitorValue),
    bestValue: n(h.bestValue),
    valid: {
      n: h.valid.n,
      loss: n(h.valid.loss),
      accuracy: n(h.valid.accuracy),
      sensitivity: n(h.valid.sensitivity),
      specificity: n(h.valid.specificity),
      auc: n(h.valid.auc),
    },
  }));
  return s;
}

/** The folder that holds the newest complete checkpoint (a crash between renames leaves `.old`). */
export function lastCheckpointDir(runDir: string): string | null {
  const d = join(runDir, RUN_FILES.last);
  if (existsSync(join(d, 'model.json'))) return d;
  if (existsSync(join(`${d}.old`, 'model.json'))) return `${d}.old`;
  return null;
}

/**
 * Removes what a crashed writer left in a run folder (temp checkpoint folders, temp files of
 * dead processes); run at every start and resume. `.old` is kept: it may be the only
 * complete checkpoint (lastCheckpointDir falls back to it).
 */
export async function removeStaleRunTemps(runDir: string): Promise<string[]> {
  return [...(await removeStaleTemps(runDir)), ...(await removeStaleTemps(join(runDir, 'checkpoints')))];
}

/** Builds `target` in a sibling temp folder, then swaps it in: target → .old, tmp → target. */
async function swapDir(target: string, build: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${target}.tmp-${process.pid}`;
  const old = `${target}.old`;
  await removeStaleTemps(dirname(target));
  await rm(tmp, { recursive: true, force: true });
  try {
    await build(tmp);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  await rm(old, { recursive: true, force: true });
  if (existsSync(target)) await rename(target, old);
  await rename(tmp, target);
  await rm(old, { recursive: true, force: true });
}
