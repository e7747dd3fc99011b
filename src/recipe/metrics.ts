// Binary diagnostic metrics as a clinician reads them, with intervals.
// Standard definitions (the paper's eq. 12 and its FP/FN wording are wrong):
//   sensitivity = TP/(TP+FN)   specificity = TN/(TN+FP)
//   PPV = TP/(TP+FP)           NPV = TN/(TN+FN)
//   F1 = 2TP/(2TP+FP+FN)       balanced accuracy = (sensitivity + specificity)/2
// A row is predicted positive when its positive-class probability >= threshold.
// Proportions carry Wilson 95 % intervals (wilson.ts); AUC a stratified bootstrap interval.
// Undefined ratios (0/0) are NaN (JSON: null).

import { BOOTSTRAP_RESAMPLES } from './bootstrap.js';
import { calibration, type Calibration, type CalibrationMode } from './calibration.js';
import {
  auc,
  averagePrecision,
  bootstrapAuc,
  prCurve,
  rocCurve,
  type AucInterval,
  type PrPoint,
  type RocPoint,
} from './roc.js';
import { wilson, Z95, type Proportion } from './wilson.js';

export { wilson } from './wilson.js';
export { BOOTSTRAP_RESAMPLES } from './bootstrap.js';
export {
  auc,
  averagePrecision,
  bootstrapAuc,
  prCurve,
  rocCurve,
  type PrPoint,
  type RocPoint,
} from './roc.js';
export { calibration, type Calibration } from './calibration.js';

export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

/** Confusion counts from class indices: positive = `positiveClass`, any other class negative. */
export function confusionMatrix(actual: ArrayLike<number>, predicted: ArrayLike<number>, positiveClass = 1): Confusion {
  if (actual.length !== predicted.length) {
    throw new Error(`metrics: ${actual.length} labels but ${predicted.length} predictions`);
  }
  const cm = emptyConfusion();
  for (let i = 0; i < actual.length; i++) count(cm, actual[i] === positiveClass, predicted[i] === positiveClass);
  return cm;
}

function emptyConfusion(): Confusion {
  return { tp: 0, fp: 0, tn: 0, fn: 0 };
}

/** The one tally of the project: a row that is (or is not) positive, called positive (or not). */
function count(cm: Confusion, positive: boolean, called: boolean): void {
  if (positive && called) cm.tp++;
  else if (positive) cm.fn++;
  else if (called) cm.fp++;
  else cm.tn++;
}

/** Confusion counts from positive-class probabilities at a threshold (p >= threshold → positive). */
export function confusionAtThreshold(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  threshold = 0.5,
  positiveClass = 1,
): Confusion {
  if (probs.length !== labels.length)
    throw new Error(`metrics: ${probs.length} probabilities but ${labels.length} labels`);
  if (typeof threshold !== 'number' || Number.isNaN(threshold))
    throw new Error(`metrics: threshold must be a number, got ${threshold}`);
  const cm = emptyConfusion();
  for (let i = 0; i < probs.length; i++) count(cm, labels[i] === positiveClass, probs[i]! >= threshold);
  return cm;
}

/** Confusion counts at a threshold for each group of rows (e.g. each source), in order of first appearance. */
export function confusionByGroup(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  groups: readonly string[],
  threshold: number,
  positiveClass = 1,
): Map<string, Confusion> {
  const out = new Map<string, Confusion>();
  for (let i = 0; i < probs.length; i++) {
    const g = groups[i]!;
    const cm = out.get(g) ?? out.set(g, emptyConfusion()).get(g)!;
    count(cm, labels[i] === positiveClass, probs[i]! >= threshold);
  }
  return out;
}

export interface Rates {
  accuracy: Proportion;
  sensitivity: Proportion;
  specificity: Proportion;
  ppv: Proportion;
  npv: Proportion;
  f1: number;
  balancedAccuracy: number;
}

export function rates(cm: Confusion, z = Z95): Rates {
  for (const k of ['tp', 'fp', 'tn', 'fn'] as const) {
    if (!Number.isInteger(cm[k]) || cm[k] < 0)
      throw new Error(`metrics: confusion count ${k} must be a non-negative integer, got ${cm[k]}`);
  }
  const { tp, fp, tn, fn } = cm;
  const sensitivity = wilson(tp, tp + fn, z);
  const specificity = wilson(tn, tn + fp, z);
  const f1d = 2 * tp + fp + fn;
  return {
    accuracy: wilson(tp + tn, tp + tn + fp + fn, z),
    sensitivity,
    specificity,
    ppv: wilson(tp, tp + fp, z),
    npv: wilson(tn, tn + fn, z),
    f1: f1d ? (2 * tp) / f1d : NaN,
    balancedAccuracy: (sensitivity.value + specificity.value) / 2,
  };
}

export interface OperatingPoint {
  threshold: number;
  sensitivity: number;
  specificity: number;
  j: number;
}

/**
 * Youden's J = sensitivity + specificity − 1, maximised over the observed scores as
 * thresholds (so the threshold is a score the model actually produced); ties go to the
 * highest threshold (the more specific operating point).
 */
export function youdenThreshold(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  positiveClass = 1,
): OperatingPoint {
  const roc = rocCurve(probs, labels, positiveClass).slice(1); // drop the +Infinity point
  if (roc.length === 0) throw new Error('metrics: no rows to choose a threshold from');
  if (!Number.isFinite(roc[0]!.tpr) || !Number.isFinite(roc[0]!.fpr)) {
    throw new Error('metrics: choosing a threshold needs both positive and negative rows');
  }
  let best = roc[0]!;
  for (const p of roc) if (p.tpr - p.fpr > best.tpr - best.fpr) best = p;
  return { threshold: best.threshold, sensitivity: best.tpr, specificity: 1 - best.fpr, j: best.tpr - best.fpr };
}

/**
 * The operating point that reaches a target sensitivity with the best specificity: the
 * *highest* observed-score threshold whose sensitivity is >= target. (Lowering the threshold
 * only adds positives, so this is the least aggressive threshold meeting the target.)
 */
export function thresholdForSensitivity(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  target: number,
  positiveClass = 1,
): OperatingPoint {
  if (!(target > 0 && target <= 1)) throw new Error(`metrics: target sensitivity must be in (0, 1], got ${target}`);
  const roc = rocCurve(probs, labels, positiveClass).slice(1);
  if (roc.length === 0 || !Number.isFinite(roc[0]!.tpr))
    throw new Error('metrics: a target sensitivity needs positive rows');
  // Guard round-off: 0.95 of 20 positives is 19/20 = 0.95 exactly, but 0.7 of 10 is 7/10 ≠ 0.7 in floating point.
  const p = roc.find((q) => q.tpr >= target - 1e-12)!;
  return { threshold: p.threshold, sensitivity: p.tpr, specificity: 1 - p.fpr, j: p.tpr - p.fpr };
}

/**
 * The operating point that reaches a target specificity with the best sensitivity: the
 * *lowest* observed-score threshold whose specificity is >= target (raising the threshold
 * only drops calls, so this is the most sensitive threshold meeting the target).
 */
export function thresholdForSpecificity(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  target: number,
  positiveClass = 1,
): OperatingPoint {
  if (!(target > 0 && target <= 1)) throw new Error(`metrics: target specificity must be in (0, 1], got ${target}`);
  const roc = rocCurve(probs, labels, positiveClass).slice(1);
  if (roc.length === 0 || !Number.isFinite(roc[0]!.fpr))
    throw new Error('metrics: a target specificity needs negative rows');
  let p: RocPoint | undefined;
  for (const q of roc) if (1 - q.fpr >= target - 1e-12) p = q;
  // The top-scored image is negative and the target allows no false call: no observed score reaches it.
  if (!p)
    throw new Error(`metrics: no observed score reaches specificity ${target} (the highest score is a negative's)`);
  return { threshold: p.threshold, sensitivity: p.tpr, specificity: 1 - p.fpr, j: p.tpr - p.fpr };
}

/** The positive class's column of a [N, C] row-major probability array. */
export function positiveColumn(probs: ArrayLike<number>, numClasses: number, positiveClass = 1): Float64Array {
  if (!Number.isInteger(numClasses) || numClasses < 1 || probs.length % numClasses !== 0) {
    throw new Error(`metrics: ${probs.length} probabilities do not form rows of ${numClasses} classes`);
  }
  if (!Number.isInteger(positiveClass) || positiveClass < 0 || positiveClass >= numClasses) {
    throw new Error(`metrics: positive class ${positiveClass} is not one of the ${numClasses} classes`);
  }
  const n = probs.length / numClasses;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = probs[i * numClasses + positiveClass]!;
  return out;
}

interface SummarizeOptions {
  positiveClass?: number;
  /** Bootstrap resamples for the AUC interval (default BOOTSTRAP_RESAMPLES; 0 skips the interval). */
  bootstrapIterations?: number;
  /** Bootstrap seed (default 0). */
  seed?: number;
  /** Reliability bins (default 10). */
  bins?: number;
  calibrationMode?: CalibrationMode;
  /** Also report the operating point for this sensitivity. */
  targetSensitivity?: number;
}

export interface Summary extends Rates {
  n: number;
  positives: number;
  negatives: number;
  threshold: number;
  positiveClass: number;
  confusion: Confusion;
  auc: AucInterval;
  averagePrecision: number;
  roc: RocPoint[];
  pr: PrPoint[];
  calibration: Calibration;
  /** Youden's operating point (absent without both classes). */
  youden?: OperatingPoint;
  /** Operating point for targetSensitivity, when asked. */
  atTargetSensitivity?: OperatingPoint & { target: number };
}

/** Every metric above for positive-class probabilities `probs` at `threshold`, as one plain object. */
export function summarize(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  threshold = 0.5,
  opts: SummarizeOptions = {},
): Summary {
  const pc = opts.positiveClass ?? 1;
  const confusion = confusionAtThreshold(probs, labels, threshold, pc);
  const positives = confusion.tp + confusion.fn;
  const negatives = confusion.tn + confusion.fp;
  const B = opts.bootstrapIterations ?? BOOTSTRAP_RESAMPLES;
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(B) || B < 0)
    throw new Error(`summarize: bootstrapIterations must be a non-negative integer, got ${B}`);
  const both = positives > 0 && negatives > 0;
  const aucCi: AucInterval =
    B > 0
      ? bootstrapAuc(probs, labels, { iterations: B, seed, positiveClass: pc })
      : {
          value: auc(probs, labels, pc),
          lo: NaN,
          hi: NaN,
          level: 0.95,
          iterations: 0,
          seed,
          method: 'stratified percentile bootstrap',
        };
  const out: Summary = {
    n: probs.length,
    positives,
    negatives,
    threshold,
    positiveClass: pc,
    confusion,
    ...rates(confusion),
    auc: aucCi,
    averagePrecision: averagePrecision(probs, labels, pc),
    roc: rocCurve(probs, labels, pc),
    pr: prCurve(probs, labels, pc),
    calibration: calibration(probs, labels, { bins: opts.bins, mode: opts.calibrationMode, positiveClass: pc }),
  };
  if (both) out.youden = youdenThreshold(probs, labels, pc);
  if (opts.targetSensitivity !== undefined && positives > 0) {
    out.atTargetSensitivity = {
      ...thresholdForSensitivity(probs, labels, opts.targetSensitivity, pc),
      target: opts.targetSensitivity,
    };
  }
  return out;
}
