// What the trainer tells its callbacks, and the callback interface. Callbacks do the side
// work (progress display, history, schedule trace, checkpoints) so the loop stays small;
// anything that writes files lives in app/ and implements this interface.
import type { GroupHyper } from '../engine/types.js';
import type { TrainableSet } from './transfer.js';
import type { ValidMetrics } from './validationMetrics.js';

export interface TrainBeginInfo {
  epochs: number;
  batchesPerEpoch: number;
  imagesPerEpoch: number;
  totalSteps: number;
  groupCount: number;
  /** 0 for a fresh run; the epoch a resumed run continues at. */
  startEpoch: number;
  startStep: number;
}

interface EpochBeginInfo {
  epoch: number;
  trainable: TrainableSet;
}

export interface StepInfo {
  /** Global optimizer step t (0-based) of totalSteps. */
  step: number;
  totalSteps: number;
  epoch: number;
  /** Batch index within the epoch. */
  batch: number;
  batchesPerEpoch: number;
  images: number;
  loss: number;
  /** Exactly the hyperparameters passed to the engine for this step, per group. */
  hyper: GroupHyper[];
  overflow: boolean;
  lossScale: number;
  /** fp16: steps in a row whose gradients overflowed, this one included (0 after a clean step). */
  consecutiveOverflows: number;
  /** Wall seconds of this step (data wait included). */
  seconds: number;
}

export interface EpochResult {
  /** 0-based epoch index. */
  epoch: number;
  /** Steps done when the epoch ended. */
  step: number;
  trainLoss: number;
  valid: ValidMetrics;
  /** The monitored value this epoch, and whether it is the best so far. */
  monitorValue: number;
  improved: boolean;
  bestValue: number;
  bestEpoch: number;
  seconds: number;
  imagesPerSecond: number;
  /** Steps skipped for an fp16 overflow in this epoch. */
  skippedSteps: number;
}

export type TrainStatus = 'completed' | 'early-stopped' | 'diverged' | 'interrupted';

export interface TrainResult {
  status: TrainStatus;
  /** One line saying why training ended (always set for anything but 'completed'). */
  message: string;
  epochsDone: number;
  stepsDone: number;
  bestValue: number;
  bestEpoch: number;
  history: EpochResult[];
  seconds: number;
}

/** A callback's request to end training: why (one line), and the status it ends with (default 'interrupted'). */
export interface StopRequest {
  stop?: string;
  status?: Exclude<TrainStatus, 'completed'>;
}

export interface TrainerCallback {
  onTrainBegin?(info: TrainBeginInfo): void | Promise<void>;
  onEpochBegin?(info: EpochBeginInfo): void | Promise<void>;
  /** After each step. Return { stop } to end training at once (this step's loss is not counted). */
  // biome-ignore lint/suspicious/noConfusingVoidType: callbacks that return nothing (`: void`) must fit
  onStep?(info: StepInfo): void | StopRequest | Promise<void | StopRequest>;
  /** After validation. Return { stop } to end training after this epoch. */
  // biome-ignore lint/suspicious/noConfusingVoidType: callbacks that return nothing (`: void`) must fit
  onEpochEnd?(result: EpochResult): void | StopRequest | Promise<void | StopRequest>;
  onTrainEnd?(result: TrainResult): void | Promise<void>;
}
