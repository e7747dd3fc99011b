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
import { copyFile, mkdir, readdir, rename } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import type { CheckpointMeta } from '../../engine/checkpoint.js';
import type { Precision } from '../../engine/types.js';
import { readManifest, type Manifest, type ManifestRow } from '../../data/manifest.js';
import { calibration } from '../../recipe/calibration.js';
import { applyCalibration, type CalibrationMethod, type CalibrationRecord } from '../../recipe/calibrationMap.js';
import { positiveColumn } from '../../recipe/metrics.js';
import {
  formatThresholdRule,
  parseThresholdRule,
  ratesByGroup,
  resolveThreshold,
  thresholdEvaluation,
  THRESHOLD_FORMS,
  type GroupRates,
  type ThresholdChoice,
  type ThresholdRule,
  type ThresholdSample,
} from '../../recipe/threshold.js';
import { fitPlatt, type PlattFit } from '../../recipe/plattScaling.js';
import { fitTemperature, type TemperatureFit } from '../../recipe/temperatureScaling.js';
import { sha256File } from '../train/dataSource.js';
import { checkOverlap, defaultSplit, splitRows } from './evaluatedSet.js';
import { Learner } from '../train/learner.js';
import { resolveModel, type ModelRef } from '../train/modelRef.js';
import { predictSet } from '../train/predictSet.js';
import { renderSvg } from '../report/plots.js';
import { reliabilitySpec } from '../report/evalPlots.js';
import { writeJson } from '../train/runFolder.js';
import { decideProtocol, manifestSplitBy, trainingRowsOf, type ProtocolInfo } from './protocol.js';
import { bootstrapAuc, type AucInterval } from '../../recipe/roc.js';
import { sha256File as sha256FileAsync } from '../serve/servedModel.js';

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

function operating(
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

  const { meta, pred } = await predictRaw(o, ref, manifest, all ? undefined : split);
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
    files,
  };
  await writeJson(files.json, result);
  return result;
}

/** calibrate writes a new checkpoint: --out must be a new (or empty) folder, not the model's own. */
async function checkOutFolder(o: CalibrateOptions, out: string, ref: ModelRef): Promise<void> {
  if (out === resolve(ref.checkpoint))
    throw new Error(
      "--out is the model's own checkpoint folder: calibrate writes a new checkpoint, give another folder",
    );
  if (existsSync(out) && (await readdir(out)).length > 0)
    throw new Error(`--out ${o.out} exists and is not empty: give a new folder`);
}

/** The chosen split (default as evaluate's) and its rows. */
function selectSample(
  o: CalibrateOptions,
  manifest: Manifest,
): { split: string; all: boolean; selected: ManifestRow[] } {
  const split = o.split ?? defaultSplit(manifest);
  return { split, all: split === '' || split === 'all', selected: splitRows(manifest, split, o.manifest) };
}

/** The network's own softmax on the sample (an earlier calibration is set aside: the fit starts from the raw scale). */
async function predictRaw(o: CalibrateOptions, ref: ModelRef, manifest: Manifest, split: string | undefined) {
  const { model, meta } = await Learner.loadRef(ref, { threads: o.threads ?? null });
  const raw: CheckpointMeta = { ...meta };
  delete raw.calibration; // fit on the network's own softmax
  const pred = await predictSet(model, raw, manifest, {
    split,
    batch: o.batch ?? 16,
    precision: o.precision ?? 'fp32',
    ...(o.onProgress ? { onBatch: o.onProgress } : {}),
  });
  return { meta, pred };
}

/** Positives and negatives of the sample; fitting and choosing a threshold need both. */
function countClasses(
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

// Weights are verified before they are copied: a calibrated copy of tampered weights would carry a
// valid-looking record.
async function verifyWeights(ref: ModelRef): Promise<void> {
  const declared = ref.meta.weightsSha256;
  const actual = await sha256FileAsync(join(ref.checkpoint, 'model.safetensors'));
  if (declared !== undefined && declared !== actual)
    throw new Error(
      `${ref.checkpoint}: model.safetensors does not match its weightsSha256 ` +
        '(the weights changed after training); not calibrating it',
    );
}

/** Fits the chosen method on the sample's raw softmax (nothing for 'none'). */
function fitMethod(
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

/** model.json of the new checkpoint: the threshold, how it was chosen, its figures, and the calibration record. */
function calibratedMeta(
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
async function writeCheckpointCopy(out: string, from: string, next: CheckpointMeta): Promise<void> {
  await mkdir(out, { recursive: true });
  const tmp = join(out, `.model.safetensors.${process.pid}.tmp`);
  await copyFile(join(from, 'model.safetensors'), tmp);
  await rename(tmp, join(out, 'model.safetensors'));
  await writeFileAtomic(join(out, 'model.json'), `${JSON.stringify(next, null, 2)}\n`);
}

const pct = (p: { value: number; lo: number; hi: number; num: number; den: number }) =>
  p.den
    ? `${(100 * p.value).toFixed(1)} % (${(100 * p.lo).toFixed(1)}–${(100 * p.hi).toFixed(1)}, ${p.num}/${p.den})`
    : '—';

/** The CLI's table: the fit, then sensitivity/specificity per group before and after. */
export function formatCalibration(r: CalibrateResult): string {
  const f = r.fit;
  const fitLine = !f
    ? 'no calibration (threshold only)'
    : 'temperature' in f
      ? `temperature T = ${f.temperature.toFixed(4)}${f.atBound ? ' (at its bound: the sample is separated)' : ''}; ` +
        `NLL ${f.nllBefore.toFixed(4)} → ${f.nllAfter.toFixed(4)}`
      : `Platt a = ${f.a.toFixed(4)}, b = ${f.b.toFixed(4)} ` +
        `(targets ${f.targets.positive.toFixed(3)}/${f.targets.negative.toFixed(3)}); ` +
        `loss ${f.lossBefore.toFixed(4)} → ${f.lossAfter.toFixed(4)}`;
  const s = r.sample;
  const lines = [
    `[${r.protocol.protocol.toUpperCase()}] ${r.protocol.why}`,
    `${r.method}: fitted on ${s.n} images (${s.positives} positive, ${s.negatives} other) ` +
      `of ${s.manifest} [${s.split}]`,
    `  ${fitLine}`,
    `  AUC ${r.auc.value.toFixed(3)} (${r.auc.lo.toFixed(3)}–${r.auc.hi.toFixed(3)}, ` +
      `bootstrap; the same before and after)   ECE ${r.before.ece.toFixed(3)} → ${r.after.ece.toFixed(3)}`,
    `  threshold ${r.before.threshold.toFixed(4)} → ${r.after.threshold.toFixed(4)} (rule ${r.thresholdRule})`,
    `  ${s.by.padEnd(22)} ${'sensitivity before'.padEnd(30)} ${'sensitivity after'.padEnd(30)} ` +
      `${'specificity before'.padEnd(30)} specificity after`,
  ];
  const b = new Map(r.before.groups.map((g) => [g.group, g]));
  for (const g of [...r.after.groups, r.after.all]) {
    const x = g.group === 'all' && g === r.after.all ? r.before.all : b.get(g.group)!;
    lines.push(
      `  ${g.group.slice(0, 22).padEnd(22)} ${pct(x.sensitivity).padEnd(30)} ${pct(g.sensitivity).padEnd(30)} ` +
        `${pct(x.specificity).padEnd(30)} ${pct(g.specificity)}`,
    );
  }
  lines.push(`wrote ${r.checkpoint} (model.json + the same model.safetensors) and ${r.files.json}`);
  return lines.join('\n');
}
