// The checkpoint calibrate writes: a new (or empty) --out folder, the weights verified against their
// hash and copied, and a model.json with the threshold, how it was chosen and the calibration record.
// What the folder carries travels with it (its lung segmenter); an ensemble's members stay where
// they are, their pins re-based to the new folder.
import { copyFile, mkdir, readdir, rename } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import { ENSEMBLE_ARCH, type CheckpointMeta } from '../../engine/checkpoint.js';
import { copyCarriedSegmenter } from '../lungs/carriedSegmenter.js';
import { repin } from '../train/modelRef.js';
import type { CalibrationRecord } from '../../recipe/calibrationMap.js';
import type { AucInterval } from '../../recipe/roc.js';
import {
  formatThresholdRule,
  thresholdEvaluation,
  type ThresholdChoice,
  type ThresholdRule,
} from '../../recipe/threshold.js';
import type { ModelRef } from '../train/modelRef.js';
import { sha256File as sha256FileAsync } from '../serve/servedModel.js';
import type { CalibrateOptions, CalibrateResult, OperatingSummary } from './calibrateRecord.js';
import type { ProtocolInfo } from './protocol.js';

/** calibrate writes a new checkpoint: --out must be a new (or empty) folder, not the model's own. */
export async function checkOutFolder(o: CalibrateOptions, out: string, ref: ModelRef): Promise<void> {
  if (out === resolve(ref.checkpoint))
    throw new Error(
      "--out is the model's own checkpoint folder: calibrate writes a new checkpoint, give another folder",
    );
  if (existsSync(out) && (await readdir(out)).length > 0)
    throw new Error(`--out ${o.out} exists and is not empty: give a new folder`);
}

// Weights are verified before they are copied: a calibrated copy of tampered weights would carry a
// valid-looking record.
export async function verifyWeights(ref: ModelRef): Promise<void> {
  if (ref.meta.arch === ENSEMBLE_ARCH) return; // its members are verified as they load
  const declared = ref.meta.weightsSha256;
  const actual = await sha256FileAsync(join(ref.checkpoint, 'model.safetensors'));
  if (declared !== undefined && declared !== actual)
    throw new Error(
      `${ref.checkpoint}: model.safetensors does not match its weightsSha256 ` +
        '(the weights changed after training); not calibrating it',
    );
}

/** model.json of the new checkpoint: the threshold, how it was chosen, its figures, and the calibration record. */
export function calibratedMeta(
  meta: CheckpointMeta,
  record: CalibrationRecord | null,
  rule: ThresholdRule,
  threshold: number,
  chosenOn: CalibrateResult['sample'] & { sources: string[] },
  created: string,
  protocol: ProtocolInfo,
  auc: AucInterval,
  after: OperatingSummary,
): CheckpointMeta {
  const { n, positives, negatives } = chosenOn;
  const thresholdChoice: ThresholdChoice = {
    rule: formatThresholdRule(rule),
    value: threshold,
    chosenOn,
    calibrated: Boolean(record),
    created,
    // The figures at this threshold on the sample (the model card shows them with their protocol).
    evaluation: thresholdEvaluation(rule, protocol, { n, positives, negatives }, auc, after.all, after.ece, {
      bySource: after.groups.map((g) => ({
        group: g.group,
        n: g.n,
        sensitivity: g.sensitivity,
        specificity: g.specificity,
      })),
    }),
  };
  const next: CheckpointMeta = { ...meta, threshold, thresholdChoice };
  if (record) next.calibration = record as unknown as Record<string, unknown>;
  else if (meta.calibration) delete next.calibration; // --method none: thresholds on the raw scale again
  return next;
}

/** Weights first, then model.json: a model.json never points at missing weights. */
export async function writeCheckpointCopy(out: string, from: string, next: CheckpointMeta): Promise<void> {
  await mkdir(out, { recursive: true });
  if (next.ensemble) {
    next = {
      ...next,
      ensemble: { ...next.ensemble, members: next.ensemble.members.map((m) => ({ ...m, ...repin(m, from, out) })) },
    };
  } else {
    const tmp = join(out, `.model.safetensors.${process.pid}.tmp`);
    await copyFile(join(from, 'model.safetensors'), tmp);
    await rename(tmp, join(out, 'model.safetensors'));
  }
  copyCarriedSegmenter(from, next, out);
  await writeFileAtomic(join(out, 'model.json'), `${JSON.stringify(next, null, 2)}\n`);
}
