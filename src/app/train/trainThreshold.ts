// The threshold a training run chooses (`train --threshold youden|sensitivity:X|specificity:X`): at every
// checkpoint it writes, on that checkpoint's own validation predictions, by the same rules
// as `cxrtune calibrate` (recipe/threshold.ts), recorded in model.json's `thresholdChoice`
// (the same ThresholdChoice record calibrate writes). The validation split's protocol travels with it:
// a threshold chosen on held-out patients of the training hospitals (INTERNAL) is the one
// that does not travel, so the summary warns about it.
import { calibration } from '../../recipe/calibration.js';
import { positiveColumn } from '../../recipe/metrics.js';
import {
  chooseThreshold,
  formatThresholdRule,
  isSampleRule,
  ratesByGroup,
  thresholdEvaluation,
  thresholdRecordOf,
  type ThresholdChoice,
  type ThresholdRule,
} from '../../recipe/threshold.js';
import { bootstrapAuc } from '../../recipe/roc.js';
import type { ValidationPredictions } from '../../recipe/trainer.js';
import type { Proportion } from '../../recipe/wilson.js';
import { protocolLabel, type Protocol, type ProtocolInfo } from '../evaluate/protocol.js';

/** Where the choice was made: the run's validation split and its protocol. */
export interface ValidationSample {
  manifest: string;
  sha256: string;
  split: string;
  protocol: ProtocolInfo;
  /** Sources of the validation split. */
  sources: string[];
}

/**
 * model.json's `threshold` and `thresholdChoice` for a checkpoint of epoch `epoch` (0-based):
 * chosen on `pred` by a sample rule; a fixed rule (or no predictions of this epoch) leaves
 * the provisional threshold and records nothing. A one-class validation split cannot choose:
 * the record says so and the provisional threshold stays.
 */
export function trainThresholdChoice(
  rule: ThresholdRule,
  provisional: number,
  pred: ValidationPredictions | null,
  epoch: number,
  positiveClass: number,
  sample: ValidationSample,
  chosenBy: 'train' | 'ensemble' = 'train',
): { threshold: number; thresholdChoice?: ThresholdChoice } {
  if (!isSampleRule(rule) || !pred || pred.epoch !== epoch) return { threshold: provisional };
  const pos = positiveColumn(pred.probs, pred.numClasses, positiveClass);
  const labels = pred.labels;
  let positives = 0;
  for (const y of labels) if (y === positiveClass) positives++;
  const n = labels.length;
  const negatives = n - positives;
  const created = new Date().toISOString();
  const chosenOn = {
    manifest: sample.manifest,
    sha256: sample.sha256,
    split: sample.split,
    n,
    positives,
    negatives,
    by: 'source',
    sources: sample.sources,
  };
  const base = {
    rule: formatThresholdRule(rule),
    calibrated: false,
    created,
    chosenBy,
    ...(chosenBy === 'train' ? { epoch: epoch + 1 } : {}),
    chosenOn,
  };
  if (positives === 0 || negatives === 0) {
    return {
      threshold: provisional,
      thresholdChoice: {
        ...base,
        value: provisional,
        unavailable:
          `the '${sample.split}' split has ${positives} positive and ${negatives} other image(s): ` +
          `a threshold needs both; kept ${provisional}`,
      },
    };
  }
  const threshold = chooseThreshold(pos, labels, rule, positiveClass).threshold;
  const at = ratesByGroup(
    pos,
    labels,
    Array.from(labels, () => 'all'),
    threshold,
    positiveClass,
  )[0]!;
  const auc = bootstrapAuc(pos, labels, { seed: 0, positiveClass });
  return {
    threshold,
    thresholdChoice: {
      ...base,
      value: threshold,
      evaluation: thresholdEvaluation(
        rule,
        sample.protocol,
        { n, positives, negatives },
        auc,
        at,
        calibration(pos, labels, { positiveClass }).ece,
      ),
    },
  };
}

/** The run summary's account of the threshold of the checkpoint a consumer loads (best, else last). */
export interface ThresholdSummary {
  rule: string;
  value: number;
  /** 'best' or 'last': whose model.json it is. */
  checkpoint: string;
  /** True when chosen on validation predictions by the rule. */
  chosen: boolean;
  split?: string;
  protocol?: Protocol;
  why?: string;
  n?: number;
  sensitivity?: Proportion;
  specificity?: Proportion;
  /** Why no choice was made (a one-class validation split). */
  unavailable?: string;
  /** Set when the threshold was chosen on INTERNAL validation. */
  warning?: string;
}

export const INTERNAL_THRESHOLD_WARNING =
  'the threshold was chosen on INTERNAL validation (held-out patients of the training sources): ' +
  'a threshold chosen on the training hospitals may not travel; choose it on a source-held-out split ' +
  "(data build --split-by source) or on a site's own sample (cxrtune calibrate)";

/** From a checkpoint's model.json (its threshold and thresholdChoice). */
export function thresholdSummaryOf(
  meta: { threshold: number; thresholdChoice?: object },
  checkpoint: string,
  configured: number | string,
): ThresholdSummary {
  const { value, choice: tc } = thresholdRecordOf(meta);
  const rule = tc?.rule ?? String(configured);
  if (!tc) return { rule, value, checkpoint, chosen: false };
  if (!tc.evaluation)
    return { rule, value, checkpoint, chosen: false, ...(tc.unavailable ? { unavailable: tc.unavailable } : {}) };
  const ev = tc.evaluation;
  const protocol = ev.protocol as Protocol | undefined;
  return {
    rule,
    value,
    checkpoint,
    chosen: true,
    ...(tc.chosenOn?.split ? { split: tc.chosenOn.split } : {}),
    ...(protocol ? { protocol } : {}),
    ...(ev.why ? { why: ev.why } : {}),
    ...(ev.n !== undefined ? { n: ev.n } : {}),
    ...(ev.sensitivity ? { sensitivity: ev.sensitivity } : {}),
    ...(ev.specificity ? { specificity: ev.specificity } : {}),
    ...(protocol === 'internal' ? { warning: INTERNAL_THRESHOLD_WARNING } : {}),
  };
}

const rate = (p: Proportion | undefined) =>
  p?.den
    ? `${(100 * p.value).toFixed(1)} % (${(100 * p.lo).toFixed(1)}–${(100 * p.hi).toFixed(1)}, ${p.num}/${p.den})`
    : 'n/a';

/** The summary's threshold line, and the warning line when there is one. */
export function formatThresholdSummary(t: ThresholdSummary): string[] {
  if (!t.chosen) {
    const how = t.unavailable ? `rule ${t.rule} could not choose: ${t.unavailable}` : 'fixed';
    return [`threshold ${t.value} (${how}) in ${t.checkpoint}`];
  }
  const split = t.split && t.split !== 'valid' ? ` ('${t.split}' split)` : '';
  const where = `${t.protocol ? protocolLabel(t.protocol) : '?'} validation${split}`;
  return [
    `threshold ${Number(t.value.toFixed(4))} chosen by ${t.rule} on ${where} (${t.n} images) for ${t.checkpoint}: ` +
      `sensitivity ${rate(t.sensitivity)}  specificity ${rate(t.specificity)}`,
    ...(t.warning ? [`warning: ${t.warning}`] : []),
  ];
}
