// model.json's `thresholdChoice.evaluation`: the figures at a chosen threshold on the sample it
// was chosen on, with that sample's protocol. One shape, written by `cxrtune calibrate` and by a
// training run's threshold rule (trainThreshold.ts); the model card and the run summary read it.
import type { ThresholdRule } from '../../recipe/operatingThreshold.js';
import type { AucInterval } from '../../recipe/roc.js';
import type { Proportion } from '../../recipe/wilson.js';
import type { ProtocolInfo } from './protocol.js';

export function thresholdEvaluation(
  rule: ThresholdRule,
  protocol: ProtocolInfo,
  counts: { n: number; positives: number; negatives: number },
  auc: AucInterval,
  at: { sensitivity: Proportion; specificity: Proportion },
  ece: number,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const chosenOnSample = rule.kind === 'youden' || rule.kind === 'sensitivity';
  return {
    protocol: protocol.protocol,
    why: protocol.why,
    ...counts,
    auc: { value: auc.value, lo: auc.lo, hi: auc.hi },
    sensitivity: at.sensitivity,
    specificity: at.specificity,
    ece,
    ...extra,
    note: chosenOnSample
      ? 'threshold chosen on this same sample: its sensitivity/specificity are optimistic'
      : undefined,
  };
}
