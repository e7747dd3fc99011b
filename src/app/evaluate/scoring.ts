// Scoring an evaluated set: softmax rows and labels → the metric summary and a row per image,
// the threshold a rule gives on the set, and the rates per source at that threshold.
import { BOOTSTRAP_RESAMPLES, positiveColumn, summarize, type Summary } from '../../recipe/metrics.js';
import {
  formatThresholdRule,
  isPositive,
  isSampleRule,
  ratesByGroup,
  resolveThreshold,
  type ThresholdRule,
} from '../../recipe/threshold.js';
import type { ManifestRow } from '../../data/manifest.js';
import { errorMessage } from '../../util/errorMessage.js';
import type { PredictedSet } from '../train/predictSet.js';
import type { SourceRates } from './evaluationRecord.js';
import type { ProtocolInfo } from './protocol.js';

export interface ScoredRow {
  /** Position in the evaluated set. */
  index: number;
  label: number;
  /** Positive-class probability. */
  probability: number;
  /** Class called at the threshold (binary) or arg-max (more classes). */
  predicted: number;
  /** Cross-entropy −ln p(actual), p clamped at 1e-12. */
  loss: number;
}

export interface ScoreOptions {
  positiveClass?: number;
  threshold?: number;
  bootstrapIterations?: number;
  seed?: number;
  bins?: number;
  targetSensitivity?: number;
}

/** Pure: softmax rows + labels → the metric summary and a per-row table. */
export function scoreSet(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  numClasses: number,
  o: ScoreOptions = {},
): { summary: Summary; rows: ScoredRow[] } {
  const pc = o.positiveClass ?? 1;
  const threshold = o.threshold ?? 0.5;
  const pos = positiveColumn(probs, numClasses, pc);
  const summary = summarize(pos, labels, threshold, {
    positiveClass: pc,
    bootstrapIterations: o.bootstrapIterations ?? BOOTSTRAP_RESAMPLES,
    seed: o.seed ?? 0,
    bins: o.bins ?? 10,
    ...(o.targetSensitivity !== undefined ? { targetSensitivity: o.targetSensitivity } : {}),
  });
  const rows: ScoredRow[] = [];
  for (let i = 0; i < labels.length; i++) {
    let predicted: number;
    if (numClasses === 2) predicted = isPositive(pos[i]!, threshold) ? pc : 1 - pc;
    else {
      predicted = 0;
      for (let c = 1; c < numClasses; c++)
        if (probs[i * numClasses + c]! > probs[i * numClasses + predicted]!) predicted = c;
    }
    const y = labels[i]!;
    rows.push({
      index: i,
      label: y,
      probability: pos[i]!,
      predicted,
      loss: -Math.log(Math.max(probs[i * numClasses + y]!, 1e-12)),
    });
  }
  return { summary, rows };
}

/** The threshold the rule gives: the checkpoint's, a number, or chosen on the evaluated set. */
export function thresholdOnSet(
  rule: ThresholdRule,
  current: number,
  pred: PredictedSet,
  positiveClass: number,
): number {
  if (!isSampleRule(rule)) return resolveThreshold(rule, { current });
  const pos = positiveColumn(pred.probs, pred.numClasses, positiveClass);
  try {
    return resolveThreshold(rule, { sample: { pos, labels: pred.labels, positiveClass } });
  } catch (e) {
    // A one-class set cannot choose: say which flag asked for it.
    throw new Error(`--threshold ${formatThresholdRule(rule)}: ${errorMessage(e)}`);
  }
}

/** Sensitivity and specificity at the threshold for every source of the set, each labelled with its protocol. */
export function ratesBySource(
  rows: readonly ScoredRow[],
  evalRows: readonly Pick<ManifestRow, 'source'>[],
  threshold: number,
  pc: number,
  protocols: Map<string, ProtocolInfo>,
): SourceRates[] {
  return ratesByGroup(
    rows.map((r) => r.probability),
    rows.map((r) => r.label),
    rows.map((r) => evalRows[r.index]!.source),
    threshold,
    pc,
  ).map((g) => {
    const p = protocols.get(g.group) ?? { protocol: 'internal' as const, why: 'protocol unknown' };
    return { ...g, protocol: p.protocol, why: p.why };
  });
}
