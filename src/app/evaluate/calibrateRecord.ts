// What `cxrtune calibrate` takes and records (calibration.json): the methods, the options, the
// operating figures at a threshold, and the fit, sample, protocol and figures before and after.
import type { Precision } from '../../engine/types.js';
import type { CalibrationRecord } from '../../recipe/calibrationMap.js';
import type { PlattFit } from '../../recipe/plattScaling.js';
import type { AucInterval } from '../../recipe/roc.js';
import type { TemperatureFit } from '../../recipe/temperatureScaling.js';
import type { GroupRates, ThresholdSample } from '../../recipe/threshold.js';
import type { ProtocolInfo } from './protocol.js';

export const CALIBRATE_METHODS = ['temperature', 'platt', 'none'] as const;

export type CalibrateMethod = (typeof CALIBRATE_METHODS)[number];

export interface CalibrateOptions {
  model: string;
  manifest: string;
  /** Split to fit on; default test if present, else valid, else every row ('all'). */
  split?: string;
  method: CalibrateMethod;
  /**
   * youden | sensitivity:X | specificity:X (chosen on the sample after calibration) | keep (the
   * checkpoint's threshold value, read as a risk level) | mapped (the old decisions carried
   * through the calibration) | a number (recipe/threshold.ts). Default: keep with a method, youden with none.
   */
  threshold?: string | number;
  /** Platt's smoothed targets (default true). */
  smooth?: boolean;
  /** Column whose values get a sensitivity/specificity row each (default source). */
  by?: string;
  out: string;
  batch?: number;
  precision?: Precision;
  /** A lung segmenter instead of the one a lung-cropping model carries (rows without lung_mask). */
  lungs?: string;
  threads?: number | null;
  onProgress?: (done: number, total: number) => void;
}

export interface OperatingSummary {
  threshold: number;
  ece: number;
  /** Per group of `by` at the threshold. */
  groups: GroupRates[];
  /** The whole sample at the threshold. */
  all: GroupRates;
}

export interface CalibrateResult {
  format: 'cxrtune-calibration/1';
  checkpoint: string;
  from: string;
  method: CalibrateMethod;
  fit: TemperatureFit | PlattFit | null;
  record: CalibrationRecord | null;
  thresholdRule: string;
  sample: ThresholdSample;
  /** Of the sample against the training split: source-held-out / external / internal. */
  protocol: ProtocolInfo;
  /** AUC on the sample (unchanged by either calibration: both keep the ranking). */
  auc: AucInterval;
  before: OperatingSummary;
  after: OperatingSummary;
  files: { json: string; reliabilityBefore: string; reliabilityAfter: string };
}
