// The one mapping from a model's raw softmax to the probabilities a calibrated checkpoint
// reports. Every consumer that reads probabilities from a checkpoint (evaluate, explain,
// audit through predictSet; serve and the PACS link through screen.inferStudies) calls
// applyCalibration with model.json's `calibration` record, so a recalibrated model means
// the same thing everywhere.
import { applyPlatt, logOdds, sigmoid } from './plattScaling.js';
import { applyTemperature } from './temperatureScaling.js';

const CALIBRATION_METHODS = ['temperature', 'platt'] as const;
export type CalibrationMethod = (typeof CALIBRATION_METHODS)[number];

/** model.json's `calibration` (written by `cxrtune calibrate`). */
export interface CalibrationRecord {
  method: CalibrationMethod;
  /** temperature: {temperature}; platt: {a, b} on the positive class's log-odds. */
  parameters: { temperature?: number; a?: number; b?: number };
  fittedOn: { manifest: string; sha256: string; split: string; n: number; positives: number; negatives: number };
  /** Positive-class ECE on the fitting sample before and after (10 equal-width bins). */
  eceBefore: number;
  eceAfter: number;
  /** The decision threshold on the calibrated probability, and how it was chosen. */
  threshold: number;
  thresholdRule: string;
  /** The checkpoint's threshold before calibration (on the raw probability). */
  thresholdBefore: number;
  created: string;
}

/** Checks a record read from model.json; returns it typed or throws one line naming the fault. */
export function checkCalibration(c: unknown, where = 'model.json'): CalibrationRecord {
  const bad = (what: string): never => {
    throw new Error(`${where}: calibration ${what}`);
  };
  if (!c || typeof c !== 'object') bad('is not an object');
  const r = c as CalibrationRecord;
  if (!(CALIBRATION_METHODS as readonly string[]).includes(r.method))
    bad(`method '${String(r.method)}' is not one of ${CALIBRATION_METHODS.join(', ')}`);
  const p = r.parameters ?? {};
  if (
    r.method === 'temperature' &&
    !(typeof p.temperature === 'number' && p.temperature > 0 && Number.isFinite(p.temperature))
  )
    bad('temperature must be a finite number > 0');
  if (r.method === 'platt' && !(Number.isFinite(p.a) && Number.isFinite(p.b)))
    bad('platt needs finite parameters a and b');
  if (!(r.threshold >= 0 && r.threshold <= 1)) bad(`threshold ${r.threshold} is not in [0, 1]`);
  return r;
}

/** A checkpoint's calibration (checked), or null when it has none. */
export function calibrationOf(meta: { calibration?: unknown }): CalibrationRecord | null {
  return meta.calibration === undefined || meta.calibration === null ? null : checkCalibration(meta.calibration);
}

/**
 * Calibrated [n × C] probabilities. Temperature: softmax(ln p / T) over every class. Platt:
 * the positive class becomes σ(a·logit(p) + b) and the other classes share the rest in their
 * old proportions (equally when they had none). `cal` undefined/null returns the input.
 */
export function applyCalibration(
  probs: Float32Array,
  numClasses: number,
  positiveClass: number,
  cal: CalibrationRecord | null | undefined,
): Float32Array {
  if (!cal) return probs;
  if (cal.method === 'temperature') return applyTemperature(probs, numClasses, cal.parameters.temperature!);
  const C = numClasses;
  const n = probs.length / C;
  const out = new Float32Array(probs.length);
  const { a, b } = cal.parameters as { a: number; b: number };
  for (let i = 0; i < n; i++) {
    const p = probs[i * C + positiveClass]!;
    const q = applyPlatt(p, a, b);
    const rest = 1 - p;
    for (let k = 0; k < C; k++) {
      if (k === positiveClass) out[i * C + k] = q;
      else out[i * C + k] = rest > 1e-12 ? (probs[i * C + k]! / rest) * (1 - q) : (1 - q) / (C - 1);
    }
  }
  return out;
}

/**
 * A raw-scale threshold carried through the calibration (the same decisions, for two classes):
 * temperature σ(logit(t)/T), Platt σ(a·logit(t) + b). Exact for two classes, where the
 * positive probability is a monotone function of the logit difference.
 */
export function mapThreshold(t: number, cal: Pick<CalibrationRecord, 'method' | 'parameters'>): number {
  if (t <= 0 || t >= 1) return t;
  if (cal.method === 'temperature') return sigmoid(logOdds(t) / cal.parameters.temperature!);
  return applyPlatt(t, cal.parameters.a!, cal.parameters.b!);
}
