// What `cxrtune evaluate` records in metrics.json: the model a result was computed with, the
// evaluated data and its protocol, the metrics, the rates per source and the files written.
import type { MultiClassSummary } from '../../recipe/multiClass.js';
import type { DatasetSummary } from '../../data/summary.js';
import type { TaskRecord } from '../../data/task.js';
import type { Summary } from '../../recipe/metrics.js';
import type { GroupRates } from '../../recipe/threshold.js';
import type { OverlapCheck } from './evaluatedSet.js';
import type { Protocol, ProtocolInfo } from './protocol.js';

/** One source's sensitivity and specificity at the threshold, and its protocol relative to training. */
export type SourceRates = GroupRates & { protocol: Protocol; why: string };

/** The model a result was computed with, as evaluate and the audit record it. */
export interface ResultModel {
  checkpoint: string;
  runDir: string | null;
  arch: string;
  classes: string[];
  positiveClass: number;
  inputSize: number;
  threshold: number;
}

export interface Evaluation {
  format: 'cxrtune-evaluation/1';
  created: string;
  name: string;
  model: ResultModel & {
    preprocessing: string;
    /** What the model screens for (the finding's name and code); absent in files written before it. */
    task?: TaskRecord;
    /** The rule that gave `threshold` (keep: the checkpoint's); absent in files written before it. */
    thresholdRule?: string;
    /** Set when the rule chose the threshold on this same set. */
    thresholdNote?: string;
  };
  data: {
    manifest: string;
    sha256: string;
    split: string;
    images: number;
    patients: number;
    summary: DatasetSummary;
    /** External validation: another manifest whose sources the training split never saw. */
    external: boolean;
    /** Sources of this set that also fed the training split. */
    sourcesSeenInTraining: string[];
  };
  overlap: OverlapCheck;
  /** internal | source-held-out | external, and why (app/protocol.ts). */
  protocol: ProtocolInfo;
  metrics: Summary;
  /** More than two classes: the C × C confusion at arg-max and per-class figures (recipe/multiClass.ts). */
  multiClass?: MultiClassSummary;
  /** Sensitivity and specificity (Wilson intervals) at the threshold, per source, with each source's protocol. */
  bySource: SourceRates[];
  seconds: number;
  files: { metrics: string; predictions: string; confusion: string; roc: string; pr: string; reliability: string };
}
