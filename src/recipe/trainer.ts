// The training loop: per-iteration schedule → per-group hyperparameters → one engine step,
// validation after every epoch, monitor/early stopping, divergence detection, and callbacks
// for everything else. No I/O here: data comes in as async batches, files are written by
// callbacks (app/).
//
// Choices:
// - The schedule runs over the whole run: T = epochs × batchesPerEpoch, step t is global.
// - Transfer mode and BatchNorm mode are (re)applied at the start of every epoch (gradual
//   unfreezing changes the trainable set per epoch; applying it every epoch also makes a
//   resumed run identical to an uninterrupted one).
// - `seedEpoch(e)` is called at every epoch start so the engine's RNG (dropout) depends only
//   on (seed, epoch): a run resumed at an epoch boundary draws what the uninterrupted run drew.
// - Divergence (divergenceStop.ts) and early stopping (earlyStopping.ts) are callbacks the
//   trainer always appends after the caller's: a step callback's { stop } ends training at once
//   (no epoch end is reported, so no checkpoint of broken weights is written), an epoch-end
//   callback's { stop } after the current epoch. The first stop asked for wins.
// - An aborted signal ends training at the next step with status 'interrupted'.
// - The model's task decides what a training batch carries (labels for a classifier, masks
//   for a segmenter) and its loss; the loop is the same. Validation is a classifier's.
import type {
  BatchNormMode,
  EngineModel,
  GroupHyper,
  LossSpec,
  OptimizerKind,
  Precision,
  TensorMap,
} from '../engine/types.js';
import type { EpochResult, StopRequest, TrainerCallback, TrainResult } from './callbacks.js';
import { DivergenceStop } from './divergenceStop.js';
import { EarlyStopping } from './earlyStopping.js';
import { scheduleGroupHyper, type Spacing } from './discriminative.js';
import { GradScaler, type GradScalerState } from './gradScaler.js';
import type { Schedule } from './schedules.js';
import { trainableAt, type TransferMode } from './transfer.js';
import { monitorMode, validationMetrics, type Monitor, type ValidMetrics } from './validationMetrics.js';
import type { Batch } from '../engine/types.js';

export interface LabelledBatch extends Batch {
  labels: Int32Array;
}

/** A dataset the trainer can walk epoch by epoch; epoch(e) must be a pure function of e. */
export interface EpochSource<B extends Batch = LabelledBatch> {
  batchesPerEpoch: number;
  imagesPerEpoch: number;
  epoch(e: number): AsyncIterable<B>;
}

export interface TrainerOptions {
  epochs: number;
  /** Built for totalSteps = epochs × train.batchesPerEpoch. */
  schedule: Schedule;
  /** Optimizer parameter groups (indices into model.parameters()), input → output. */
  groups: number[][];
  optimizer: OptimizerKind;
  weightDecay: number;
  spacing?: Spacing;
  momentumSpacing?: Spacing;
  /** false: every group gets the schedule's value (the traditional baseline). Default true. */
  discriminative?: boolean;
  /**
   * Fixed multipliers of the schedule's LR, one per group (momentum is the schedule's), instead
   * of interpolating from α_min (the segmenter's slower encoder).
   */
  lrFactors?: number[];
  precision?: Precision;
  /**
   * Precision of the validation predictions kept for a threshold rule (`lastValidation`); default
   * `precision`. The validation metrics (and so the best epoch) stay in the training precision.
   */
  choicePrecision?: Precision;
  classWeights?: number[];
  /** Default: the model's task's (engine/model.ts DEFAULT_LOSS). */
  loss?: LossSpec;
  transfer?: TransferMode;
  batchNorm?: BatchNormMode;
  monitor?: Monitor;
  /** Stop after this many epochs without improvement of the monitor (0 = never). */
  patience?: number;
  /** Improvement must exceed this to count. */
  minDelta?: number;
  positiveClass?: number;
  threshold?: number;
  maxConsecutiveOverflows?: number;
  seedEpoch?: (epoch: number) => void;
  signal?: AbortSignal;
  /** Data parallel: sums over ranks and the gather of validation rows (engine ProcessGroup). */
  collective?: TrainerCollective;
}

/** What the trainer needs of a process group: epoch figures and validation over all ranks. */
export interface TrainerCollective {
  sum(xs: number[]): Promise<number[]>;
  gather(probs: Float64Array, labels: Int32Array): Promise<{ probs: Float64Array; labels: Int32Array }>;
  /** Before validation: make every rank's model rank 0's (BatchNorm running statistics). */
  syncModel?(): Promise<void>;
}

/** Everything besides the weights and optimizer tensors that a resumed run needs. */
export interface TrainerState {
  /** Next epoch to run (= epochs completed). */
  epoch: number;
  /** Next global step. */
  step: number;
  scaler: GradScalerState;
  bestValue: number | null;
  bestEpoch: number;
  epochsWithoutImprovement: number;
  history: EpochResult[];
}

export interface ResumePoint {
  state: TrainerState;
  optimizer?: TensorMap;
}

/** What one epoch of steps leaves for its end (sums are this rank's). */
interface EpochRun {
  /** Next global step. */
  step: number;
  lossSum: number;
  lossCount: number;
  images: number;
  skipped: number;
  /** Seconds of the steps (validation excluded). */
  seconds: number;
  stop?: StopRequest;
}

/** The validation split's softmax rows of one epoch (all ranks gathered). */
export interface ValidationPredictions {
  epoch: number;
  /** [n, numClasses] row-major. */
  probs: Float64Array;
  labels: Int32Array;
  numClasses: number;
}

export class Trainer {
  /** The latest epoch's validation predictions (a threshold rule chooses on them; null before any). */
  lastValidation: ValidationPredictions | null = null;
  private readonly o: Required<
    Omit<
      TrainerOptions,
      'classWeights' | 'loss' | 'seedEpoch' | 'signal' | 'collective' | 'lrFactors' | 'choicePrecision'
    >
  > &
    TrainerOptions;
  private scaler: GradScaler;
  private st: TrainerState;
  /** The caller's callbacks, then divergence and early stopping. */
  readonly callbacks: TrainerCallback[];

  constructor(
    readonly model: EngineModel,
    opts: TrainerOptions,
    callbacks: TrainerCallback[] = [],
  ) {
    this.o = {
      spacing: 'geometric',
      momentumSpacing: 'linear',
      discriminative: true,
      precision: 'fp32',
      transfer: 'finetune',
      batchNorm: 'train',
      monitor: 'valid_loss',
      patience: 0,
      minDelta: 0,
      positiveClass: 1,
      threshold: 0.5,
      maxConsecutiveOverflows: 20,
      ...opts,
    };
    if (!Number.isInteger(opts.epochs) || opts.epochs < 1)
      throw new Error(`epochs must be a positive integer (got ${opts.epochs})`);
    const f = opts.lrFactors;
    if (f && (f.length !== opts.groups.length || !f.every((x) => Number.isFinite(x) && x >= 0)))
      throw new Error(`lrFactors must be ${opts.groups.length} finite numbers >= 0, one per group (got [${f}])`);
    this.callbacks = [
      ...callbacks,
      new DivergenceStop({ precision: this.o.precision, maxConsecutiveOverflows: this.o.maxConsecutiveOverflows }),
      new EarlyStopping({ monitor: this.o.monitor, patience: this.o.patience, epochs: opts.epochs }),
    ];
    this.scaler = new GradScaler({ enabled: this.o.precision === 'fp16' });
    this.st = {
      epoch: 0,
      step: 0,
      scaler: this.scaler.state(),
      bestValue: null,
      bestEpoch: -1,
      epochsWithoutImprovement: 0,
      history: [],
    };
  }

  /** The state to save beside a checkpoint (valid at an epoch end). */
  state(): TrainerState {
    return structuredClone({ ...this.st, scaler: this.scaler.state() });
  }

  /** Hyperparameters of every group at step t (what the trace records). */
  hyperAt(t: number): GroupHyper[] {
    const { lrFactors, schedule, weightDecay } = this.o;
    if (lrFactors)
      return lrFactors.map((f) => ({ lr: schedule.lr(t) * f, momentum: schedule.momentum(t), weightDecay }));
    return scheduleGroupHyper(this.o.schedule, t, this.o.groups.length, {
      spacing: this.o.spacing,
      momentumSpacing: this.o.momentumSpacing,
      weightDecay: this.o.weightDecay,
      discriminative: this.o.discriminative,
    });
  }

  async fit(train: EpochSource<Batch>, valid: EpochSource | null, resume?: ResumePoint): Promise<TrainResult> {
    const totalSteps = await this.begin(train, resume);
    const t0 = performance.now();
    let stop: StopRequest | undefined;
    while (this.st.epoch < this.o.epochs && !stop) {
      const e = this.st.epoch;
      await this.beginEpoch(e);
      const te = performance.now();
      const run = await this.trainEpoch(train, e, totalSteps);
      stop = run.stop ?? (await this.endEpoch(run, valid, e, te));
    }
    const result: TrainResult = {
      status: stop ? (stop.status ?? 'interrupted') : 'completed',
      message: stop?.stop ?? '',
      epochsDone: this.st.epoch,
      stepsDone: this.st.step,
      bestValue: this.st.bestValue ?? NaN,
      bestEpoch: this.st.bestEpoch,
      history: this.st.history,
      seconds: (performance.now() - t0) / 1000,
    };
    for (const cb of this.callbacks) await cb.onTrainEnd?.(result);
    return result;
  }

  /** Checks the schedule, configures the optimizer, restores a resume point; returns T. */
  private async begin(train: EpochSource<Batch>, resume?: ResumePoint): Promise<number> {
    const o = this.o;
    const totalSteps = o.epochs * train.batchesPerEpoch;
    if (o.schedule.totalSteps !== totalSteps) {
      throw new Error(
        `the schedule has ${o.schedule.totalSteps} steps; ` +
          `the run has ${o.epochs} epochs × ${train.batchesPerEpoch} batches = ${totalSteps}`,
      );
    }
    this.model.configureOptimizer({ kind: o.optimizer, groups: o.groups, weightDecay: o.weightDecay });
    if (resume) {
      this.st = structuredClone(resume.state);
      this.scaler.load(resume.state.scaler);
      if (resume.optimizer?.size) await this.model.loadOptimizerState(resume.optimizer);
    }
    for (const cb of this.callbacks) {
      await cb.onTrainBegin?.({
        epochs: o.epochs,
        batchesPerEpoch: train.batchesPerEpoch,
        imagesPerEpoch: train.imagesPerEpoch,
        totalSteps,
        groupCount: o.groups.length,
        startEpoch: this.st.epoch,
        startStep: this.st.step,
      });
    }
    return totalSteps;
  }

  /** Trainable set, BatchNorm mode and the engine's RNG for epoch e (reapplied every epoch). */
  private async beginEpoch(e: number): Promise<void> {
    const { model, o } = { model: this.model, o: this.o };
    const trainable = trainableAt(o.transfer, model.layers(), model.parameters(), e);
    if (trainable.frozen.length) model.setTrainable(trainable.frozen, false);
    model.setTrainable(trainable.trainable, true);
    model.setBatchNormMode(o.batchNorm);
    o.seedEpoch?.(e);
    for (const cb of this.callbacks) await cb.onEpochBegin?.({ epoch: e, trainable });
  }

  /** One epoch of steps; ends early with a stop request (abort, divergence, a callback). */
  private async trainEpoch(train: EpochSource<Batch>, e: number, totalSteps: number): Promise<EpochRun> {
    const o = this.o;
    const run: EpochRun = {
      step: e * train.batchesPerEpoch,
      lossSum: 0,
      lossCount: 0,
      images: 0,
      skipped: 0,
      seconds: 0,
    };
    const te = performance.now();
    let b = 0;
    let tStep = performance.now();
    for await (const batch of train.epoch(e)) {
      // Data parallel: all ranks stop at the same step (a rank that stopped alone would
      // leave the others waiting in the next gradient all-reduce).
      const aborted = o.collective ? (await o.collective.sum([o.signal?.aborted ? 1 : 0]))[0]! > 0 : o.signal?.aborted;
      if (aborted) {
        return {
          ...run,
          stop: {
            status: 'interrupted',
            stop:
              `interrupted during epoch ${e + 1}; the last checkpoint is from epoch ${e} ` +
              `(resume repeats epoch ${e + 1})`,
          },
        };
      }
      if (run.step >= totalSteps) throw new Error(`epoch ${e + 1} gave more than ${train.batchesPerEpoch} batches`);
      const hyper = this.hyperAt(run.step);
      const r = await this.model.trainStep(batch, hyper, {
        precision: o.precision,
        lossScale: this.scaler.scale,
        skipNonFinite: this.scaler.skipNonFinite,
        ...(o.classWeights ? { classWeights: o.classWeights } : {}),
        ...(o.loss ? { loss: o.loss } : {}),
      });
      const { skip } = this.scaler.update(r.overflow);
      const n = batch.shape[0];
      const now = performance.now();
      let stop: StopRequest | undefined;
      for (const cb of this.callbacks) {
        const req = await cb.onStep?.({
          step: run.step,
          totalSteps,
          epoch: e,
          batch: b,
          batchesPerEpoch: train.batchesPerEpoch,
          images: n,
          loss: r.loss,
          hyper,
          overflow: r.overflow,
          lossScale: r.lossScale,
          consecutiveOverflows: this.scaler.state().consecutiveOverflows,
          seconds: (now - tStep) / 1000,
        });
        if (req?.stop && !stop) stop = req;
      }
      tStep = now;
      if (stop) return { ...run, stop };
      if (skip) run.skipped++;
      run.lossSum += r.loss * n;
      run.lossCount += n;
      run.images += n;
      run.step++;
      b++;
    }
    if (b !== train.batchesPerEpoch)
      throw new Error(`epoch ${e + 1} gave ${b} batches; expected ${train.batchesPerEpoch}`);
    run.seconds = (performance.now() - te) / 1000;
    return run;
  }

  /** Validation, the monitor and best epoch, the epoch-end callbacks (which may stop the run). */
  private async endEpoch(
    run: EpochRun,
    valid: EpochSource | null,
    e: number,
    te: number,
  ): Promise<StopRequest | undefined> {
    const o = this.o;
    let { lossSum, lossCount, images } = run;
    if (o.collective) [lossSum, lossCount, images] = await o.collective.sum([lossSum, lossCount, images]);
    await o.collective?.syncModel?.();
    const vm = valid ? await this.validate(valid, e) : emptyMetrics();
    const trainLoss = lossCount ? lossSum / lossCount : NaN;
    const value = o.monitor === 'train_loss' ? trainLoss : vm[o.monitor.slice('valid_'.length) as keyof ValidMetrics];
    const best = this.st.bestValue;
    const improved =
      Number.isFinite(value) &&
      (best === null || (monitorMode(o.monitor) === 'min' ? value < best - o.minDelta : value > best + o.minDelta));
    if (improved) {
      this.st.bestValue = value;
      this.st.bestEpoch = e;
      this.st.epochsWithoutImprovement = 0;
    } else {
      this.st.epochsWithoutImprovement++;
    }
    const result: EpochResult = {
      epoch: e,
      step: run.step,
      trainLoss,
      valid: vm,
      monitorValue: value,
      improved,
      bestValue: this.st.bestValue ?? NaN,
      bestEpoch: this.st.bestEpoch,
      seconds: (performance.now() - te) / 1000,
      imagesPerSecond: images / run.seconds,
      skippedSteps: run.skipped,
    };
    this.st.history.push(result);
    this.st.epoch = e + 1;
    this.st.step = run.step;
    let stop: StopRequest | undefined;
    for (const cb of this.callbacks) {
      const req = await cb.onEpochEnd?.(result);
      if (req?.stop && !stop) stop = req;
    }
    return stop;
  }

  /** Validation pass in eval mode; BatchNorm statistics are not touched. */
  private async validate(valid: EpochSource, e: number): Promise<ValidMetrics> {
    if (this.model.spec.task === 'segment')
      throw new Error("validation metrics are a classifier's; a segmenter trains without");
    const k = this.model.spec.numClasses;
    const pass = async (precision: Precision) => {
      const probs: number[] = [];
      const labels: number[] = [];
      for await (const batch of valid.epoch(e)) {
        const r = await this.model.predict(batch, { precision });
        for (const p of r.probs) probs.push(p);
        for (const l of batch.labels) labels.push(l);
      }
      let p: Float64Array = Float64Array.from(probs);
      let l: Int32Array = Int32Array.from(labels);
      if (this.o.collective) ({ probs: p, labels: l } = await this.o.collective.gather(p, l));
      return { p, l };
    };
    const { p, l } = await pass(this.o.precision);
    const choice = this.o.choicePrecision ?? this.o.precision;
    const kept = choice === this.o.precision ? { p, l } : await pass(choice);
    this.lastValidation = { epoch: e, probs: kept.p, labels: kept.l, numClasses: k };
    return validationMetrics(p, l, k, this.o.positiveClass, this.o.threshold);
  }
}

function emptyMetrics(): ValidMetrics {
  return { n: 0, loss: NaN, accuracy: NaN, sensitivity: NaN, specificity: NaN, auc: NaN };
}
