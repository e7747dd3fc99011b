// Decision thresholds that say how they were chosen. A threshold picked on the training
// hospitals does not hold on a new one, so the rule is explicit and recorded with the
// threshold: `youden` (maximise sensitivity + specificity − 1 on the sample), `sensitivity:X`
// (the most specific threshold reaching sensitivity X on the sample), or a fixed number.
// On a source-held-out validation split, the sample is hospitals the model never trained on.
import { confusionByGroup, thresholdForSensitivity, youdenThreshold, type OperatingPoint } from './metrics.js';
import { wilson, type Proportion } from './wilson.js';

export type ThresholdRule =
  | { kind: 'youden' }
  | { kind: 'sensitivity'; target: number }
  | { kind: 'fixed'; value: number }
  | { kind: 'keep' }
  | { kind: 'mapped' };

/** 'youden' | 'sensitivity:0.9' | 'keep' | 'mapped' | a number in [0, 1]. */
export function parseThresholdRule(text: string): ThresholdRule {
  const t = text.trim().toLowerCase();
  if (t === 'youden') return { kind: 'youden' };
  if (t === 'keep') return { kind: 'keep' };
  if (t === 'mapped') return { kind: 'mapped' };
  const m = /^(?:sensitivity|sens):(.+)$/.exec(t);
  if (m) {
    const target = Number(m[1]);
    if (!(target > 0 && target <= 1))
      throw new Error(`threshold rule '${text}': the target sensitivity must be in (0, 1]`);
    return { kind: 'sensitivity', target };
  }
  const v = Number(t);
  if (t !== '' && Number.isFinite(v)) {
    if (!(v >= 0 && v <= 1)) throw new Error(`threshold rule '${text}': a fixed threshold must be in [0, 1]`);
    return { kind: 'fixed', value: v };
  }
  throw new Error(`unknown threshold rule '${text}' (youden, sensitivity:X, keep, mapped, or a number in [0, 1])`);
}

export function formatThresholdRule(r: ThresholdRule): string {
  switch (r.kind) {
    case 'youden':
      return 'youden';
    case 'sensitivity':
      return `sensitivity:${r.target}`;
    case 'fixed':
      return String(r.value);
    case 'keep':
      return 'keep';
    case 'mapped':
      return 'mapped';
  }
}

/** The operating point a sample-based rule picks on positive-class scores `pos`. */
export function chooseThreshold(
  pos: ArrayLike<number>,
  labels: ArrayLike<number>,
  rule: ThresholdRule,
  positiveClass = 1,
): OperatingPoint {
  if (rule.kind === 'youden') return youdenThreshold(pos, labels, positiveClass);
  if (rule.kind === 'sensitivity') return thresholdForSensitivity(pos, labels, rule.target, positiveClass);
  throw new Error(`threshold rule '${formatThresholdRule(rule)}' does not choose from a sample`);
}

export interface GroupRates {
  group: string;
  n: number;
  positives: number;
  negatives: number;
  /** TP / (TP + FN) with its Wilson interval (den 0: no positives in this group). */
  sensitivity: Proportion;
  /** TN / (TN + FP) with its Wilson interval (den 0: no negatives in this group). */
  specificity: Proportion;
}

/** Sensitivity and specificity at `threshold` for each group (e.g. each source), sorted by name. */
export function ratesByGroup(
  pos: ArrayLike<number>,
  labels: ArrayLike<number>,
  groups: readonly string[],
  threshold: number,
  positiveClass = 1,
): GroupRates[] {
  if (pos.length !== labels.length || pos.length !== groups.length)
    throw new Error(`ratesByGroup: ${pos.length} scores, ${labels.length} labels, ${groups.length} groups`);
  const acc = confusionByGroup(pos, labels, groups, threshold, positiveClass);
  return [...acc]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([group, c]) => ({
      group,
      n: c.tp + c.fn + c.tn + c.fp,
      positives: c.tp + c.fn,
      negatives: c.tn + c.fp,
      sensitivity: wilson(c.tp, c.tp + c.fn),
      specificity: wilson(c.tn, c.tn + c.fp),
    }));
}
