// What fitting a learner takes and gives: the run's options, what it needs of a learner, and
// the run's summary (summary.json).
import type { ProcessGroup } from '../../engine/distributed.js';
import type { Model } from '../../engine/model.js';
import type { TrainerCallback, TrainResult } from '../../recipe/callbacks.js';
import type { ScheduleDescription } from '../../recipe/schedules.js';
import type { ResumePoint } from '../../recipe/trainer.js';
import type { ValidMetrics } from '../../recipe/validationMetrics.js';
import type { RunData } from './dataSource.js';
import type { ThresholdSummary } from './trainThreshold.js';

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
