// Calibrate's work on its sample: the chosen split and its rows, the network's raw softmax on
// them, both classes required, the method fitted, and the operating figures at a threshold.
import type { CheckpointMeta } from '../../engine/checkpoint.js';
import { rowPath, writeManifest, type Manifest, type ManifestRow } from '../../data/manifest.js';
import { LUNG_MASK_COLUMNS } from '../../data/inputImage.js';
import { assignSplits } from '../../data/split.js';
import { applyCalibration, type CalibrationMethod } from '../../recipe/calibrationMap.js';
import { positiveColumn } from '../../recipe/metrics.js';
import { bootstrapAuc } from '../../recipe/roc.js';
import { calibration } from '../../recipe/calibration.js';
import type { CalibrationRecord } from '../../recipe/calibrationMap.js';
import { join } from 'node:path';
import { fitPlatt, type PlattFit } from '../../recipe/plattScaling.js';
import { fitTemperature, type TemperatureFit } from '../../recipe/temperatureScaling.js';
import { ratesByGroup } from '../../recipe/threshold.js';
import { Learner } from '../train/learner.js';
import type { ModelRef } from '../train/modelRef.js';
import { predictSet, type PredictedSet } from '../train/predictSet.js';
import type { CalibrateOptions, HeldApartSummary, OperatingSummary } from './calibrateRecord.js';
import { defaultSplit, splitRows } from './evaluatedSet.js';

export function operating(
  pos: Float64Array,
  labels: Int32Array,
  groups: string[],
  threshold: number,
  pc: number,
): OperatingSummary {
  return {
    threshold,
    ece: calibration(pos, labels, { positiveClass: pc }).ece,
    groups: ratesByGroup(pos, labels, groups, threshold, pc),
    all: ratesByGroup(
      pos,
      labels,
      groups.map(() => 'all'),
      threshold,
      pc,
    )[0]!,
  };
}

/** The chosen split (default as evaluate's) and its rows. */
export function selectSample(
  o: CalibrateOptions,
  manifest: Manifest,
): { split: string; all: boolean; selected: ManifestRow[] } {
  const split = o.split ?? defaultSplit(manifest);
  return { split, all: split === '' || split === 'all', selected: splitRows(manifest, split, o.manifest) };
}

/** The network's own softmax on the sample (an earlier calibration is set aside: the fit starts from the raw scale). */
export async function predictRaw(o: CalibrateOptions, ref: ModelRef, manifest: Manifest, split: string | undefined) {
  const learner = await Learner.loadRef(ref, { threads: o.threads ?? null, ...(o.lungs ? { lungs: o.lungs } : {}) });
  const { model, meta } = learner;
  const raw: CheckpointMeta = { ...meta };
  delete raw.calibration; // fit on the network's own softmax (an ensemble's: the mean of its members')
  const pred = await predictSet(model, raw, await learner.manifestFor(manifest, split), {
    split,
    batch: o.batch ?? 16,
    precision: o.precision ?? 'fp32',
    ...(o.onProgress ? { onBatch: o.onProgress } : {}),
  });
  return { meta, pred };
}

/** Positives and negatives of the sample; fitting and choosing a threshold need both. */
export function countClasses(
  o: CalibrateOptions,
  split: string,
  labels: Int32Array,
  meta: CheckpointMeta,
): { positives: number; negatives: number } {
  const pc = meta.positiveClass;
  let positives = 0;
  for (const y of labels) if (y === pc) positives++;
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) {
    throw new Error(
      `the calibration sample (${o.manifest}${split ? ` [${split}]` : ''}) has ${positives} ${meta.classes[pc]} ` +
        `and ${negatives} other image(s): fitting and choosing a threshold need both`,
    );
  }
  return { positives, negatives };
}

/** Fits the chosen method on the sample's raw softmax (nothing for 'none'). */
export function fitMethod(
  o: CalibrateOptions,
  probs: Float32Array | Float64Array,
  rawPos: Float64Array,
  labels: Int32Array,
  C: number,
  pc: number,
): { fit: TemperatureFit | PlattFit | null; parameters: CalibrationRecord['parameters'] } {
  if (o.method === 'temperature') {
    const f = fitTemperature(probs, labels, C);
    return { fit: f, parameters: { temperature: f.temperature } };
  } else if (o.method === 'platt') {
    const f = fitPlatt(
      rawPos,
      Array.from(labels, (y) => y === pc),
      { smooth: o.smooth ?? true },
    );
    return { fit: f, parameters: { a: f.a, b: f.b } };
  }
  return { fit: null, parameters: {} };
}

/** The predictions of the rows at positions `keep` (in order). */
function subset(p: PredictedSet, keep: number[]): PredictedSet {
  const C = p.numClasses;
  const probs = new Float32Array(keep.length * C);
  for (const [i, j] of keep.entries()) probs.set(p.probs.subarray(j * C, (j + 1) * C), i * C);
  return {
    rows: keep.map((j) => p.rows[j]!),
    labels: Int32Array.from(keep, (j) => p.labels[j]!),
    probs,
    numClasses: C,
  };
}

/**
 * `--fit-sample N`: a seeded draw of about N images of the split (by patient, stratified by label,
 * as data build splits) to fit on; the rest is held apart, so the figure after calibration is
 * measured on images the fit never saw.
 */
export function holdApart(
  p: PredictedSet,
  rows: readonly ManifestRow[],
  n: number,
  seed: number,
): { fit: PredictedSet; held: PredictedSet } {
  const total = p.rows.length;
  if (!(Number.isInteger(n) && n >= 2 && n < total))
    throw new Error(`--fit-sample ${n}: needs at least 2 and fewer than the ${total} images of the sample`);
  const sides = assignSplits(
    p.rows.map((i) => ({ label: rows[i]!.label, patientId: rows[i]!.patientId })),
    { names: ['fit', 'held'], fractions: [n / total, 1 - n / total] },
    seed,
  );
  const at = (side: string) => sides.flatMap((s, j) => (s === side ? [j] : []));
  return { fit: subset(p, at('fit')), held: subset(p, at('held')) };
}

/**
 * The held-apart images before (the checkpoint's probabilities and threshold) and after (the
 * calibration and the threshold chosen on the fitted sample), and a manifest of them
 * (held-apart.csv, split test) for `cxrtune evaluate`.
 */
export async function heldApartFigures(
  held: PredictedSet,
  manifest: Manifest,
  o: {
    out: string;
    groupOf: (row: number) => string;
    prevRaw: number;
    threshold: number;
    method: CalibrationMethod | null;
    parameters: CalibrationRecord['parameters'];
    pc: number;
  },
): Promise<HeldApartSummary> {
  const C = held.numClasses;
  const groups = held.rows.map(o.groupOf);
  const rawPos = positiveColumn(held.probs, C, o.pc);
  const probs = o.method
    ? applyCalibration(held.probs, C, o.pc, { method: o.method, parameters: o.parameters } as CalibrationRecord)
    : held.probs;
  const pos = positiveColumn(probs, C, o.pc);
  let positives = 0;
  for (const y of held.labels) if (y === o.pc) positives++;
  const file = join(o.out, 'held-apart.csv');
  // The manifest lies in another folder than its images: their paths (and lung masks') become absolute.
  const abs = (p: string) => rowPath(manifest, { path: p });
  await writeManifest(
    file,
    held.rows.map((i) => {
      const r = manifest.rows[i]!;
      const extra = { ...r.extra };
      for (const c of [...LUNG_MASK_COLUMNS, 'mask']) if (extra[c]) extra[c] = abs(extra[c]);
      return { ...r, path: abs(r.path), extra, split: 'test' };
    }),
  );
  return {
    manifest: file,
    n: held.labels.length,
    positives,
    negatives: held.labels.length - positives,
    auc: bootstrapAuc(pos, held.labels, { seed: 0, positiveClass: o.pc }),
    before: operating(rawPos, held.labels, groups, o.prevRaw, o.pc),
    after: operating(pos, held.labels, groups, o.threshold, o.pc),
  };
}
