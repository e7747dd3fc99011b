// Calibrate's work on its sample: the chosen split and its rows, the network's raw softmax on
// them, both classes required, the method fitted, and the operating figures at a threshold.
import type { CheckpointMeta } from '../../engine/checkpoint.js';
import type { Manifest, ManifestRow } from '../../data/manifest.js';
import { calibration } from '../../recipe/calibration.js';
import type { CalibrationRecord } from '../../recipe/calibrationMap.js';
import { fitPlatt, type PlattFit } from '../../recipe/plattScaling.js';
import { fitTemperature, type TemperatureFit } from '../../recipe/temperatureScaling.js';
import { ratesByGroup } from '../../recipe/threshold.js';
import { Learner } from '../train/learner.js';
import type { ModelRef } from '../train/modelRef.js';
import { predictSet } from '../train/predictSet.js';
import type { CalibrateOptions, OperatingSummary } from './calibrateRecord.js';
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
