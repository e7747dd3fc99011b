// `cxrtune calibrate`: fit temperature or Platt scaling on a site's small labelled sample
// and write a NEW checkpoint folder — the same weights (copied byte for byte, weightsSha256
// kept) with model.json gaining `calibration` (method, parameters, the sample it was fitted
// on, ECE before and after, the threshold on the calibrated scale). `--method none` fits
// nothing and only chooses the threshold: run it on a source-held-out validation split so the
// threshold is picked on hospitals the model never trained on.
//
// The fit always starts from the network's raw softmax (an earlier calibration is replaced,
// not stacked). Sensitivity and specificity at the threshold are reported per source with
// Wilson intervals, before and after.
// Beside it: calibrateRecord, calibrationSample, calibratedCheckpoint and formatCalibration.
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import { readManifest } from '../../data/manifest.js';
import { calibration } from '../../recipe/calibration.js';
import { applyCalibration, type CalibrationMethod, type CalibrationRecord } from '../../recipe/calibrationMap.js';
import { positiveColumn } from '../../recipe/metrics.js';
import { formatThresholdRule, parseThresholdRule, resolveThreshold, THRESHOLD_FORMS } from '../../recipe/threshold.js';
import { sha256File } from '../train/dataSource.js';
import { resolveModel } from '../train/modelRef.js';
import { renderSvg } from '../report/plots.js';
import { reliabilitySpec } from '../report/evalPlots.js';
import { writeJson } from '../train/runFolder.js';
import { bootstrapAuc } from '../../recipe/roc.js';
import { calibratedMeta, checkOutFolder, verifyWeights, writeCheckpointCopy } from './calibratedCheckpoint.js';
import { CALIBRATE_METHODS, type CalibrateOptions, type CalibrateResult } from './calibrateRecord.js';
import {
  countClasses,
  fitMethod,
  heldApartFigures,
  holdApart,
  operating,
  predictRaw,
  selectSample,
} from './calibrationSample.js';
import { checkOverlap } from './evaluatedSet.js';
import { decideProtocol, manifestSplitBy, trainingRowsOf } from './protocol.js';

export async function calibrate(o: CalibrateOptions): Promise<CalibrateResult> {
  if (!(CALIBRATE_METHODS as readonly string[]).includes(o.method))
    throw new Error(`--method must be one of ${CALIBRATE_METHODS.join(', ')} (got '${o.method}')`);
  const rule = parseThresholdRule(
    String(o.threshold ?? (o.method === 'none' ? 'youden' : 'keep')),
    THRESHOLD_FORMS.calibrate,
    'calibrate',
  );
  if (o.method === 'none' && (rule.kind === 'keep' || rule.kind === 'mapped'))
    throw new Error(
      `--threshold ${formatThresholdRule(rule)} with --method none changes nothing; ` +
        'choose youden, sensitivity:X, specificity:X or a number',
    );
  const ref = await resolveModel(o.model);
  const out = resolve(o.out);
  await checkOutFolder(o, out, ref);
  const manifest = readManifest(o.manifest);
  const { split, all, selected } = selectSample(o, manifest);
  const overlap = checkOverlap(ref, selected, false);
  if (overlap.sharedPatients > 0)
    throw new Error(
      `${overlap.sharedPatients} patient(s) of the calibration sample are in the model's training split ` +
        `(e.g. ${overlap.examples[0]}): calibrate on a site's own held-out images`,
    );
  const by = o.by ?? 'source';
  const groupOf = (r: (typeof selected)[number]) =>
    (by === 'source' ? r.source : by === 'view' ? r.view : (r.extra[by] ?? '')) || '(none)';
  await verifyWeights(ref);

  const { meta, pred: whole } = await predictRaw(o, ref, manifest, all ? undefined : split);
  // --fit-sample: fit on a seeded draw of the split, and keep the rest apart for the figure.
  const parts = o.fitSample ? holdApart(whole, manifest.rows, o.fitSample, o.seed ?? 0) : null;
  const pred = parts ? parts.fit : whole;
  const pc = meta.positiveClass;
  const C = meta.classes.length;
  const labels = pred.labels;
  const groups = pred.rows.map((i) => groupOf(manifest.rows[i]!));
  const { positives, negatives } = countClasses(o, split, labels, meta);
  const rawPos = positiveColumn(pred.probs, C, pc);
  // The raw-scale threshold in force (an earlier calibration recorded it).
  const prevRaw =
    typeof meta.calibration?.thresholdBefore === 'number' ? meta.calibration.thresholdBefore : meta.threshold;
  const before = operating(rawPos, labels, groups, prevRaw, pc);

  const { fit, parameters } = fitMethod(o, pred.probs, rawPos, labels, C, pc);
  const method = o.method === 'none' ? null : (o.method as CalibrationMethod);
  const probs = method ? applyCalibration(pred.probs, C, pc, { method, parameters } as CalibrationRecord) : pred.probs;
  const pos = positiveColumn(probs, C, pc);
  const threshold = resolveThreshold(rule, {
    current: meta.threshold,
    raw: prevRaw,
    calibration: method ? { method, parameters } : null,
    sample: { pos, labels, positiveClass: pc },
  });
  const after = operating(pos, labels, groups, threshold, pc);
  const sha256 = sha256File(manifest.file);
  const sample = { manifest: manifest.file, sha256, split: split || 'all', n: labels.length, positives, negatives, by };
  const sampleRows = pred.rows.map((i) => manifest.rows[i]!);
  const trainRows = trainingRowsOf(meta, readManifest);
  const protocol = decideProtocol(
    sampleRows,
    trainRows,
    manifestSplitBy(manifest.file),
    sha256 !== meta.manifestSha256 && trainRows === null,
  );
  const auc = bootstrapAuc(pos, labels, { seed: 0, positiveClass: pc });
  const created = new Date().toISOString();
  const record: CalibrationRecord | null = method
    ? {
        method,
        parameters,
        fittedOn: { manifest: manifest.file, sha256, split: split || 'all', n: labels.length, positives, negatives },
        eceBefore: before.ece,
        eceAfter: after.ece,
        threshold,
        thresholdRule: formatThresholdRule(rule),
        thresholdBefore: prevRaw,
        created,
      }
    : null;
  const next = calibratedMeta(
    meta,
    record,
    rule,
    threshold,
    { ...sample, sources: [...new Set(groups)].sort() },
    created,
    protocol,
    auc,
    after,
  );

  await writeCheckpointCopy(out, ref.checkpoint, next);
  const heldApart = parts
    ? await heldApartFigures(parts.held, manifest, {
        out,
        groupOf: (i) => groupOf(manifest.rows[i]!),
        prevRaw,
        threshold,
        method,
        parameters,
        pc,
      })
    : undefined;
  const files = {
    json: join(out, 'calibration.json'),
    reliabilityBefore: join(out, 'reliability-before.svg'),
    reliabilityAfter: join(out, 'reliability-after.svg'),
  };
  await writeFileAtomic(
    files.reliabilityBefore,
    await renderSvg(
      reliabilitySpec(calibration(rawPos, labels, { positiveClass: pc }), 'Reliability before calibration'),
    ),
  );
  await writeFileAtomic(
    files.reliabilityAfter,
    await renderSvg(
      reliabilitySpec(
        calibration(pos, labels, { positiveClass: pc }),
        `Reliability after ${o.method === 'none' ? '(no calibration)' : o.method}`,
      ),
    ),
  );
  const result: CalibrateResult = {
    format: 'cxrtune-calibration/1',
    checkpoint: out,
    from: ref.checkpoint,
    method: o.method,
    fit,
    record,
    thresholdRule: formatThresholdRule(rule),
    sample,
    protocol,
    auc,
    before,
    after,
    ...(heldApart ? { heldApart } : {}),
    files,
  };
  await writeJson(files.json, result);
  return result;
}
