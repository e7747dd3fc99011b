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
  /**
   * Fit on a seeded draw of about this many images of the split (by patient, stratified by label)
   * and hold the rest apart: calibration.json's `heldApart` is measured on images the fit never saw.
   */
  fitSample?: number;
  /** Seed of the fit-sample draw (default 0). */
  seed?: number;
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
  /** With fitSample: the images held apart from the fit, before and after (the honest figure). */
  heldApart?: HeldApartSummary;
  files: { json: string; reliabilityBefore: string; reliabilityAfter: string };
}

export interface HeldApartSummary {
  /** Their manifest (split test), for `cxrtune evaluate`. */
  manifest: string;
  n: number;
  positives: number;
  negatives: number;
  /** AUC on the held-apart images (the same before and after). */
  auc: AucInterval;
  /** The checkpoint's probabilities and threshold. */
  before: OperatingSummary;
  /** The calibration and the threshold chosen on the fitted sample. */
  after: OperatingSummary;
}
