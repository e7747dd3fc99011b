// ROC and precision–recall curves, AUC, average precision, and a bootstrap interval for AUC.
// Binary: `scores` are the positive class's probabilities; a row is positive when its label
// equals `positiveClass` (default 1), negative otherwise. A row is called positive when
// score >= threshold.

import { createRng } from '../util/rng.js';
import { BOOTSTRAP_RESAMPLES } from './bootstrap.js';
import { linearQuantileSorted } from './quantile.js';

export interface RocPoint {
  threshold: number;
  fpr: number;
  tpr: number;
}
export interface PrPoint {
  threshold: number;
  precision: number;
  recall: number;
}

export interface Scored {
  /** Row indices sorted by score, descending. */
  order: number[];
  /** End (exclusive, in `order`) of each group of tied scores. */
  groupEnds: number[];
  positive: boolean[];
  P: number;
  N: number;
}

/** Validate and sort once; shared by the curves and the bootstrap. */
export function scored(scores: ArrayLike<number>, labels: ArrayLike<number>, positiveClass = 1): Scored {
  if (scores.length !== labels.length) {
    throw new Error(`metrics: ${scores.length} scores but ${labels.length} labels`);
  }
  const n = scores.length;
  const positive: boolean[] = new Array(n);
  let P = 0;
  for (let i = 0; i < n; i++) {
    const s = scores[i]!;
    if (!Number.isFinite(s)) throw new Error(`metrics: score at row ${i} is not finite (${s})`);
    if (!Number.isInteger(labels[i]))
      throw new Error(`metrics: label at row ${i} is not an integer class index (${labels[i]})`);
    positive[i] = labels[i] === positiveClass;
    if (positive[i]) P++;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  const groupEnds: number[] = [];
  for (let k = 1; k <= n; k++) {
    if (k === n || scores[order[k]!] !== scores[order[k - 1]!]) groupEnds.push(k);
  }
  return { order, groupEnds, positive, P, N: n - P };
}

/**
 * ROC curve: one point per distinct score (tied scores move together, giving a diagonal
 * segment), from (0, 0) at threshold +Infinity to (1, 1) at the lowest score.
 */
export function rocCurve(scores: ArrayLike<number>, labels: ArrayLike<number>, positiveClass = 1): RocPoint[] {
  const s = scored(scores, labels, positiveClass);
  const pts: RocPoint[] = [{ threshold: Infinity, fpr: 0, tpr: 0 }];
  let tp = 0;
  let fp = 0;
  let k0 = 0;
  for (const k1 of s.groupEnds) {
    for (let k = k0; k < k1; k++) s.positive[s.order[k]!] ? tp++ : fp++;
    pts.push({ threshold: scores[s.order[k0]!]!, fpr: s.N ? fp / s.N : NaN, tpr: s.P ? tp / s.P : NaN });
    k0 = k1;
  }
  return pts;
}

/**
 * AUC as the Mann–Whitney statistic: the probability that a random positive scores higher
 * than a random negative, ties counting one half. Equals the trapezoidal area under
 * rocCurve. NaN when either class is absent.
 */
export function auc(scores: ArrayLike<number>, labels: ArrayLike<number>, positiveClass = 1): number {
  const s = scored(scores, labels, positiveClass);
  return weightedAuc(s, null, null);
}

/**
 * Mann–Whitney AUC with optional per-row multiplicities (the bootstrap's resample counts).
 * Walks the tie groups from the lowest score up: each positive beats every negative in the
 * groups already passed, and half of each negative tied with it.
 */
function weightedAuc(s: Scored, wPos: Float64Array | null, wNeg: Float64Array | null): number {
  let P = 0;
  let N = 0;
  let negBelow = 0;
  let sum = 0;
  // Walk groups from lowest score to highest.
  for (let g = s.groupEnds.length - 1; g >= 0; g--) {
    const k1 = s.groupEnds[g]!;
    const k0 = g === 0 ? 0 : s.groupEnds[g - 1]!;
    let gp = 0;
    let gn = 0;
    for (let k = k0; k < k1; k++) {
      const r = s.order[k]!;
      if (s.positive[r]) gp += wPos ? wPos[r]! : 1;
      else gn += wNeg ? wNeg[r]! : 1;
    }
    sum += gp * (negBelow + 0.5 * gn);
    negBelow += gn;
    P += gp;
    N += gn;
  }
  return P > 0 && N > 0 ? sum / (P * N) : NaN;
}

/** Precision–recall curve, thresholds descending; precision at recall 0 is not invented. */
export function prCurve(scores: ArrayLike<number>, labels: ArrayLike<number>, positiveClass = 1): PrPoint[] {
  const s = scored(scores, labels, positiveClass);
  const pts: PrPoint[] = [];
  let tp = 0;
  let fp = 0;
  let k0 = 0;
  for (const k1 of s.groupEnds) {
    for (let k = k0; k < k1; k++) s.positive[s.order[k]!] ? tp++ : fp++;
    pts.push({ threshold: scores[s.order[k0]!]!, precision: tp / (tp + fp), recall: s.P ? tp / s.P : NaN });
    k0 = k1;
  }
  return pts;
}

/**
 * Average precision, step-wise (scikit-learn's definition, no interpolation):
 * AP = Σ_k (R_k − R_{k−1})·P_k over the PR points, R_0 = 0. NaN without positives.
 */
export function averagePrecision(scores: ArrayLike<number>, labels: ArrayLike<number>, positiveClass = 1): number {
  const pts = prCurve(scores, labels, positiveClass);
  if (pts.length === 0 || !Number.isFinite(pts[0]!.recall)) return NaN;
  let ap = 0;
  let prev = 0;
  for (const p of pts) {
    ap += (p.recall - prev) * p.precision;
    prev = p.recall;
  }
  return ap;
}

export interface BootstrapOptions {
  /** Resamples; default BOOTSTRAP_RESAMPLES (2000). */
  iterations?: number;
  /** Default 0. */
  seed?: number;
  /** Interval coverage; default 0.95. */
  level?: number;
  positiveClass?: number;
}

export interface AucInterval {
  value: number;
  lo: number;
  hi: number;
  level: number;
  iterations: number;
  seed: number;
  method: 'stratified percentile bootstrap';
}

/**
 * Stratified bootstrap percentile interval for AUC: each resample draws P positives from the
 * positives and N negatives from the negatives, with replacement (so every resample has both
 * classes and the prevalence of the test set); the interval is the (1−level)/2 and
 * (1+level)/2 quantiles of the resampled AUCs (linear interpolation between order
 * statistics, R's type 7). Seeded: the same inputs and seed give the same interval.
 */
export function bootstrapAuc(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  opts: BootstrapOptions = {},
): AucInterval {
  const B = opts.iterations ?? BOOTSTRAP_RESAMPLES;
  const seed = opts.seed ?? 0;
  const level = opts.level ?? 0.95;
  if (!Number.isInteger(B) || B < 1) throw new Error(`bootstrapAuc: iterations must be a positive integer, got ${B}`);
  if (!(level > 0 && level < 1)) throw new Error(`bootstrapAuc: level must be in (0, 1), got ${level}`);
  const s = scored(scores, labels, opts.positiveClass ?? 1);
  const value = weightedAuc(s, null, null);
  const base = { level, iterations: B, seed, method: 'stratified percentile bootstrap' as const };
  if (!Number.isFinite(value)) return { value, lo: NaN, hi: NaN, ...base };
  const pos: number[] = [];
  const neg: number[] = [];
  for (const [i, p] of s.positive.entries()) (p ? pos : neg).push(i);
  const rng = createRng(seed);
  const n = s.positive.length;
  const wPos = new Float64Array(n);
  const wNeg = new Float64Array(n);
  const values = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    wPos.fill(0);
    wNeg.fill(0);
    for (let k = 0; k < pos.length; k++) wPos[pos[rng.int(pos.length)]!]! += 1;
    for (let k = 0; k < neg.length; k++) wNeg[neg[rng.int(neg.length)]!]! += 1;
    values[b] = weightedAuc(s, wPos, wNeg);
  }
  values.sort();
  return {
    value,
    lo: linearQuantileSorted(values, (1 - level) / 2),
    hi: linearQuantileSorted(values, (1 + level) / 2),
    ...base,
  };
}
