// The decision threshold: one rule, parsed from one grammar by every command, chosen on a
// sample, recorded in model.json and applied to a score. A threshold picked on the training
// hospitals does not hold on a new one, so the rule is explicit and recorded with the value:
// `youden` (maximise sensitivity + specificity − 1 on the sample), `sensitivity:X` (the most
// specific threshold reaching sensitivity X), `specificity:X` (the most sensitive threshold
// reaching specificity X), a fixed number, and for a recalibrated checkpoint `keep` (the old
// value, read as a risk level on the new scale) or `mapped` (the old decisions carried through
// the calibration). On a source-held-out split the sample is hospitals the model never trained on.
import { mapThreshold, type CalibrationRecord } from './calibrationMap.js';
import {
  confusionByGroup,
  thresholdForSensitivity,
  thresholdForSpecificity,
  youdenThreshold,
  type OperatingPoint,
} from './metrics.js';
import type { AucInterval } from './roc.js';
import { wilson, type Proportion } from './wilson.js';

export type ThresholdRule =
  | { kind: 'youden' }
  | { kind: 'sensitivity'; target: number }
  | { kind: 'specificity'; target: number }
  | { kind: 'fixed'; value: number }
  | { kind: 'keep' }
  | { kind: 'mapped' };

export type ThresholdRuleKind = ThresholdRule['kind'];
/** The rules that choose the threshold on a labelled sample. */
export type SampleRule = Extract<ThresholdRule, { kind: 'youden' | 'sensitivity' | 'specificity' }>;

/** The forms each command takes. keep and mapped need a checkpoint's earlier threshold. */
export const THRESHOLD_FORMS = {
  train: ['youden', 'sensitivity', 'specificity', 'fixed'],
  calibrate: ['youden', 'sensitivity', 'specificity', 'fixed', 'keep', 'mapped'],
  evaluate: ['keep', 'youden', 'sensitivity', 'specificity', 'fixed'],
  // cxrtune ensemble chooses as train does, on the averaged model's validation predictions.
  ensemble: ['youden', 'sensitivity', 'specificity', 'fixed'],
} as const satisfies Record<string, readonly ThresholdRuleKind[]>;
export type ThresholdCommand = keyof typeof THRESHOLD_FORMS;

const FORM_TEXT: Record<ThresholdRuleKind, string> = {
  youden: 'youden',
  sensitivity: 'sensitivity:X',
  specificity: 'specificity:X',
  fixed: 'a number in [0, 1]',
  keep: 'keep',
  mapped: 'mapped',
};

/** 'youden, sensitivity:X, specificity:X or a number in [0, 1]': the accepted forms, for messages and help. */
export function thresholdForms(kinds: readonly ThresholdRuleKind[]): string {
  const t = kinds.map((k) => FORM_TEXT[k]);
  return t.length < 2 ? (t[0] ?? '') : `${t.slice(0, -1).join(', ')} or ${t.at(-1)}`;
}

export const isSampleRule = (r: ThresholdRule): r is SampleRule =>
  r.kind === 'youden' || r.kind === 'sensitivity' || r.kind === 'specificity';

/**
 * Parses the one grammar: youden | sensitivity:X (also sens:X) | specificity:X (also spec:X) |
 * keep | mapped | a number in [0, 1]; case and surrounding blanks do not matter. `accepts`
 * limits the forms to a command's (`command` names it in the refusal).
 */
export function parseThresholdRule(
  text: string,
  accepts: readonly ThresholdRuleKind[] = THRESHOLD_FORMS.calibrate,
  command = 'calibrate',
): ThresholdRule {
  const t = text.trim().toLowerCase();
  const rule = parseAny(text, t, accepts);
  if (!accepts.includes(rule.kind)) {
    const owner = rule.kind === 'keep' || rule.kind === 'mapped' ? 'a calibrate rule' : `not a ${command} rule`;
    throw new Error(`'${text}' is ${owner}; ${command} takes ${thresholdForms(accepts)}`);
  }
  return rule;
}

function parseAny(text: string, t: string, accepts: readonly ThresholdRuleKind[]): ThresholdRule {
  if (t === 'youden') return { kind: 'youden' };
  if (t === 'keep') return { kind: 'keep' };
  if (t === 'mapped') return { kind: 'mapped' };
  const m = /^(sensitivity|sens|specificity|spec):(.+)$/.exec(t);
  if (m) {
    const kind = m[1]!.startsWith('sens') ? 'sensitivity' : 'specificity';
    const target = Number(m[2]);
    if (!(target > 0 && target <= 1)) throw new Error(`threshold rule '${text}': the target ${kind} must be in (0, 1]`);
    return { kind, target };
  }
  const v = Number(t);
  if (t !== '' && Number.isFinite(v)) {
    if (!(v >= 0 && v <= 1)) throw new Error(`threshold rule '${text}': a fixed threshold must be in [0, 1]`);
    return { kind: 'fixed', value: v };
  }
  throw new Error(`unknown threshold rule '${text}' (${thresholdForms(accepts)})`);
}

/** The canonical text of a rule (what parseThresholdRule reads back to the same rule). */
export function formatThresholdRule(r: ThresholdRule): string {
  switch (r.kind) {
    case 'sensitivity':
    case 'specificity':
      return `${r.kind}:${r.target}`;
    case 'fixed':
      return String(r.value);
    default:
      return r.kind;
  }
}

/**
 * The operating point a sample rule picks on positive-class scores `pos`. The metric functions
 * return an observed score; the threshold is set halfway down to the next lower score, which
 * makes the same decisions on the sample but leaves a margin: the pass that chose it (training's
 * validation) and the one that applies it (evaluate, serve) may differ in the last bits of a
 * score, and a threshold sitting on an image's score flips that image (measured: 1.8e-7 on a
 * MobileNetV2, one tuberculosis case lost). Below the lowest score, the margin is 1e-6.
 */
export function chooseThreshold(
  pos: ArrayLike<number>,
  labels: ArrayLike<number>,
  rule: ThresholdRule,
  positiveClass = 1,
): OperatingPoint {
  const op =
    rule.kind === 'youden'
      ? youdenThreshold(pos, labels, positiveClass)
      : rule.kind === 'sensitivity'
        ? thresholdForSensitivity(pos, labels, rule.target, positiveClass)
        : rule.kind === 'specificity'
          ? thresholdForSpecificity(pos, labels, rule.target, positiveClass)
          : null;
  if (!op) throw new Error(`threshold rule '${formatThresholdRule(rule)}' does not choose from a sample`);
  let below = -Infinity;
  for (let i = 0; i < pos.length; i++) if (pos[i]! < op.threshold && pos[i]! > below) below = pos[i]!;
  const threshold = below === -Infinity ? Math.max(0, op.threshold - 1e-6) : (op.threshold + below) / 2;
  return { ...op, threshold };
}

/** What a rule may need besides itself: the threshold in force, the calibration, the sample. */
export interface ThresholdContext {
  /** The checkpoint's threshold now (keep). */
  current?: number;
  /** The raw-scale threshold in force and the calibration the scores now pass through (mapped). */
  raw?: number;
  calibration?: Pick<CalibrationRecord, 'method' | 'parameters'> | null;
  /** Positive-class scores and labels of the sample (youden, sensitivity:X, specificity:X). */
  sample?: { pos: ArrayLike<number>; labels: ArrayLike<number>; positiveClass?: number };
}

/** The threshold value a rule gives in a context: the one place keep and mapped are decided. */
export function resolveThreshold(rule: ThresholdRule, ctx: ThresholdContext): number {
  const need = (what: string): never => {
    throw new Error(`threshold rule '${formatThresholdRule(rule)}' needs ${what}`);
  };
  switch (rule.kind) {
    case 'fixed':
      return rule.value;
    case 'keep':
      return ctx.current ?? need("the checkpoint's threshold");
    case 'mapped':
      if (!ctx.calibration) return need('a calibration to carry the threshold through');
      return mapThreshold(ctx.raw ?? ctx.current ?? need("the checkpoint's threshold"), ctx.calibration);
    default: {
      const s = ctx.sample ?? need('a labelled sample');
      return chooseThreshold(s.pos, s.labels, rule, s.positiveClass ?? 1).threshold;
    }
  }
}

/** Applies a threshold to a positive-class score: at or above it the study is called positive. */
export const isPositive = (score: number, threshold: number): boolean => score >= threshold;

/**
 * The class called for one row of class probabilities: the positive class at or above the
 * threshold, else the most probable of the other classes (the negative class for two).
 */
export function decideClass(probabilities: ArrayLike<number>, positiveClass: number, threshold: number): number {
  if (isPositive(probabilities[positiveClass]!, threshold)) return positiveClass;
  let best = -1;
  for (let i = 0; i < probabilities.length; i++)
    if (i !== positiveClass && (best < 0 || probabilities[i]! > probabilities[best]!)) best = i;
  return best;
}

/** The figures at a chosen threshold on the sample it was chosen on, with that sample's protocol. */
export interface ThresholdEvaluation {
  protocol: string;
  why: string;
  n: number;
  positives: number;
  negatives: number;
  auc: { value: number; lo: number; hi: number };
  sensitivity: Proportion;
  specificity: Proportion;
  ece: number;
  /** calibrate: the rates of each source of the sample. */
  bySource?: { group: string; n: number; sensitivity: Proportion; specificity: Proportion }[];
  /** Set when the rule chose on this same sample (its rates are optimistic). */
  note?: string;
}

/** model.json's `thresholdChoice`: how `threshold` was chosen (train's rule or `cxrtune calibrate`). */
/** The set a rule was chosen or a calibration fitted on, as its record names it. */
export interface ThresholdSample {
  manifest: string;
  sha256: string;
  split: string;
  n: number;
  positives: number;
  negatives: number;
  by: string;
}

export interface ThresholdChoice {
  /** The rule's canonical text (formatThresholdRule). */
  rule: string;
  value: number;
  /** True when the threshold is on a calibrated scale. */
  calibrated: boolean;
  created: string;
  /**
   * 'train' for a training run's rule, 'ensemble' for `cxrtune ensemble`'s (on the averaged model's
   * validation predictions); absent for calibrate (records written before the field).
   */
  chosenBy?: 'train' | 'ensemble';
  /** train: the 1-based epoch of the checkpoint. */
  epoch?: number;
  chosenOn?: ThresholdSample & { sources: string[] };
  evaluation?: ThresholdEvaluation;
  /** Why the rule could not choose (a one-class sample); the value is the provisional one. */
  unavailable?: string;
}

export const SAME_SAMPLE_NOTE = 'threshold chosen on this same sample: its sensitivity/specificity are optimistic';

/** The evaluation part of a ThresholdChoice. */
export function thresholdEvaluation(
  rule: ThresholdRule,
  protocol: { protocol: string; why: string },
  counts: { n: number; positives: number; negatives: number },
  auc: AucInterval,
  at: { sensitivity: Proportion; specificity: Proportion },
  ece: number,
  extra: Pick<ThresholdEvaluation, 'bySource'> = {},
): ThresholdEvaluation {
  return {
    protocol: protocol.protocol,
    why: protocol.why,
    ...counts,
    auc: { value: auc.value, lo: auc.lo, hi: auc.hi },
    sensitivity: at.sensitivity,
    specificity: at.specificity,
    ece,
    ...extra,
    ...(isSampleRule(rule) ? { note: SAME_SAMPLE_NOTE } : {}),
  };
}

/** A checkpoint's threshold as its consumers read it: the value, its rule, and the choice record. */
export interface ThresholdRecord {
  value: number;
  rule: ThresholdRule;
  choice: ThresholdChoice | null;
}

/**
 * Reads model.json's `threshold` and `thresholdChoice` (any record written so far: a train
 * or calibrate choice, or none, which reads as the fixed value). Throws one line naming the fault.
 */
export function thresholdRecordOf(
  meta: { threshold: number; thresholdChoice?: unknown },
  where = 'model.json',
): ThresholdRecord {
  const value = meta.threshold;
  if (typeof value !== 'number' || !(value >= 0 && value <= 1))
    throw new Error(`${where}: threshold ${JSON.stringify(value)} is not a number in [0, 1]`);
  const tc = meta.thresholdChoice;
  if (tc === undefined || tc === null) return { value, rule: { kind: 'fixed', value }, choice: null };
  if (typeof tc !== 'object' || Array.isArray(tc)) throw new Error(`${where}: thresholdChoice is not an object`);
  const c = tc as Partial<ThresholdChoice>;
  if (typeof c.rule !== 'string') throw new Error(`${where}: thresholdChoice has no rule`);
  let rule: ThresholdRule;
  try {
    rule = parseThresholdRule(c.rule);
  } catch (e) {
    throw new Error(`${where}: thresholdChoice: ${(e as Error).message}`);
  }
  const choice: ThresholdChoice = {
    ...(c as ThresholdChoice),
    value: typeof c.value === 'number' ? c.value : value,
    calibrated: c.calibrated === true,
    created: typeof c.created === 'string' ? c.created : '',
  };
  return { value, rule, choice };
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
  // The one confusion tally (recipe/metrics.ts); it calls a score positive as isPositive does.
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
