// `cxrtune evaluate`: a model on any manifest (its validation split, a test split, or an
// external set) → metrics.json (recipe/metrics' summary with Wilson and bootstrap intervals,
// ECE, the Youden operating point; the threshold is the checkpoint's or --threshold's rule),
// predictions.csv (one line per image: probability, label, loss) and the confusion-matrix, ROC,
// PR and reliability plots as SVG.
// A set that shares patients with the model's training split is refused unless allowed, and
// then the result says so (the report repeats it next to every number).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import type { ProcessGroup } from '../../engine/distributed.js';
import { describePreprocessing } from '../../engine/preprocessing.js';
import type { Precision } from '../../engine/types.js';
import { formatCsv } from '../../data/csv.js';
import { readManifest, rowPath, type Manifest, type ManifestRow } from '../../data/manifest.js';
import { summarise, type DatasetSummary } from '../../data/summary.js';
import { BOOTSTRAP_RESAMPLES, positiveColumn, summarize, type Summary } from '../../recipe/metrics.js';
import { sha256File } from '../train/dataSource.js';
import { resolveModel, trainingSet, type ModelRef } from '../train/modelRef.js';
import { Learner } from '../train/learner.js';
import type { PredictedSet } from '../train/predictSet.js';
import { renderSvg } from '../report/plots.js';
import { confusionSpec, prSpec, reliabilitySpec, rocSpec } from '../report/evalPlots.js';
import { thresholdText } from '../report/figures.js';
import { writeJson } from '../train/runFolder.js';
import {
  decideProtocol,
  manifestSplitBy,
  protocolLabel,
  sourceProtocols,
  trainingRowsOf,
  type Protocol,
  type ProtocolInfo,
} from './protocol.js';
import {
  formatThresholdRule,
  isPositive,
  isSampleRule,
  parseThresholdRule,
  ratesByGroup,
  resolveThreshold,
  SAME_SAMPLE_NOTE,
  THRESHOLD_FORMS,
  thresholdRecordOf,
  type GroupRates,
  type ThresholdRule,
} from '../../recipe/threshold.js';
import { errorMessage } from '../../util/errorMessage.js';
import { recordedTrainConfig } from '../train/trainConfig.js';

/** One source's sensitivity and specificity at the threshold, and its protocol relative to training. */
export type SourceRates = GroupRates & { protocol: Protocol; why: string };

interface ScoredRow {
  /** Position in the evaluated set. */
  index: number;
  label: number;
  /** Positive-class probability. */
  probability: number;
  /** Class called at the threshold (binary) or arg-max (more classes). */
  predicted: number;
  /** Cross-entropy −ln p(actual), p clamped at 1e-12. */
  loss: number;
}

interface ScoreOptions {
  positiveClass?: number;
  threshold?: number;
  bootstrapIterations?: number;
  seed?: number;
  bins?: number;
  targetSensitivity?: number;
}

/** Pure: softmax rows + labels → the metric summary and a per-row table. */
export function scoreSet(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  numClasses: number,
  o: ScoreOptions = {},
): { summary: Summary; rows: ScoredRow[] } {
  const pc = o.positiveClass ?? 1;
  const threshold = o.threshold ?? 0.5;
  const pos = positiveColumn(probs, numClasses, pc);
  const summary = summarize(pos, labels, threshold, {
    positiveClass: pc,
    bootstrapIterations: o.bootstrapIterations ?? BOOTSTRAP_RESAMPLES,
    seed: o.seed ?? 0,
    bins: o.bins ?? 10,
    ...(o.targetSensitivity !== undefined ? { targetSensitivity: o.targetSensitivity } : {}),
  });
  const rows: ScoredRow[] = [];
  for (let i = 0; i < labels.length; i++) {
    let predicted: number;
    if (numClasses === 2) predicted = isPositive(pos[i]!, threshold) ? pc : 1 - pc;
    else {
      predicted = 0;
      for (let c = 1; c < numClasses; c++)
        if (probs[i * numClasses + c]! > probs[i * numClasses + predicted]!) predicted = c;
    }
    const y = labels[i]!;
    rows.push({
      index: i,
      label: y,
      probability: pos[i]!,
      predicted,
      loss: -Math.log(Math.max(probs[i * numClasses + y]!, 1e-12)),
    });
  }
  return { summary, rows };
}

interface OverlapCheck {
  /** Whether the training patients could be compared at all. */
  checked: boolean;
  trainingManifest: string | null;
  trainingSplit: string | null;
  /** Patients of the evaluated set that are also in the training split. */
  sharedPatients: number;
  sharedImages: number;
  examples: string[];
  /** True when sharing was allowed by the user (--allow-train-overlap). */
  allowed: boolean;
  note: string;
}

/** Compares the evaluated rows' patients with the model's training split. */
export function checkOverlap(ref: ModelRef, rows: { patientId: string }[], allow: boolean): OverlapCheck {
  const ts = trainingSet(ref.meta);
  const base = { trainingManifest: ts?.manifest ?? null, trainingSplit: ts?.split ?? null, allowed: allow };
  if (!ts?.patients) {
    return {
      ...base,
      checked: false,
      sharedPatients: 0,
      sharedImages: 0,
      examples: [],
      note: ts?.unavailable ?? 'the checkpoint does not record its training manifest: patient overlap not checked',
    };
  }
  const shared = new Set<string>();
  let images = 0;
  for (const r of rows)
    if (ts.patients.has(r.patientId)) {
      shared.add(r.patientId);
      images++;
    }
  const n = shared.size;
  const note =
    n === 0
      ? `no patient of this set is in the training split (${ts.patients.size} training patients checked)`
      : `${n} patient(s) (${images} image(s)) of this set are in the model's training split: metrics are ` +
        `optimistic${allow ? ' (allowed by --allow-train-overlap)' : ''}`;
  return { ...base, checked: true, sharedPatients: n, sharedImages: images, examples: [...shared].slice(0, 5), note };
}

interface EvaluateOptions {
  model: string;
  manifest: string;
  /** Split(s) to evaluate; default: 'test' if present, else 'valid', else every row. */
  split?: string;
  out: string;
  /**
   * Decision threshold rule (recipe/threshold.ts, evaluate's forms): keep (the checkpoint's,
   * the default), a number, or youden / sensitivity:X / specificity:X chosen on this set.
   */
  threshold?: number | string;
  bootstrap?: number;
  seed?: number;
  bins?: number;
  allowTrainOverlap?: boolean;
  precision?: Precision;
  batch?: number;
  threads?: number | null;
  /** Shown in plots and the report (default: manifest file name + split). */
  name?: string;
  onProgress?: (done: number, total: number) => void;
  /** Data parallel (evaluate --nproc): this process's group. */
  group?: ProcessGroup;
}

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
  /** Sensitivity and specificity (Wilson intervals) at the threshold, per source, with each source's protocol. */
  bySource: SourceRates[];
  seconds: number;
  files: { metrics: string; predictions: string; confusion: string; roc: string; pr: string; reliability: string };
}

/** Sources of the model's training split (null when its manifest is not here). */
function trainingSources(meta: ModelRef['meta']): Set<string> | null {
  const cfg = recordedTrainConfig(meta);
  if (!cfg.manifest || !existsSync(cfg.manifest)) return null;
  return new Set(
    readManifest(cfg.manifest)
      .rows.filter((r) => r.split === (cfg.trainSplit ?? 'train'))
      .map((r) => r.source),
  );
}

/** The split evaluate uses when none is given. */
export function defaultSplit(m: Manifest): string {
  const splits = new Set(m.rows.map((r) => r.split));
  if (splits.has('test')) return 'test';
  if (splits.has('valid')) return 'valid';
  return '';
}

/** The rows of `split` ('' or 'all': every row); an empty selection is an error naming the splits present. */
export function splitRows(manifest: Manifest, split: string, manifestArg: string): ManifestRow[] {
  const selected = split === '' || split === 'all' ? manifest.rows : manifest.rows.filter((r) => r.split === split);
  if (!selected.length) {
    const present = [...new Set(manifest.rows.map((r) => r.split || '(none)'))].join(', ');
    throw new Error(
      `manifest ${manifestArg} has no '${split}' rows (splits present: ${present}); choose one with ` +
        `--split, or --split all`,
    );
  }
  return selected;
}

export async function evaluate(o: EvaluateOptions): Promise<Evaluation> {
  const t0 = performance.now();
  const ref = await resolveModel(o.model);
  const manifest = readManifest(o.manifest);
  const split = o.split ?? defaultSplit(manifest);
  const selected = splitRows(manifest, split, o.manifest);
  const overlap = checkOverlap(ref, selected, Boolean(o.allowTrainOverlap));
  if (overlap.sharedPatients > 0 && !o.allowTrainOverlap) {
    throw new Error(
      `${overlap.sharedPatients} patient(s) of ${o.manifest}${split ? ` (${split})` : ''} are in the ` +
        `model's training split (e.g. ${overlap.examples[0]}); evaluate on held-out patients, or pass ` +
        `--allow-train-overlap to do it anyway (the result will say so)`,
    );
  }
  // Data parallel: every rank predicts its share and scores the gathered set; rank 0 writes.
  const main = !o.group || o.group.isMain;
  const write = (file: string, data: string | Uint8Array) => (main ? writeFileAtomic(file, data) : Promise.resolve());
  const learner = await Learner.loadRef(ref, { threads: o.threads ?? null, worker: true });
  const meta = learner.meta;
  const rule = parseThresholdRule(String(o.threshold ?? 'keep'), THRESHOLD_FORMS.evaluate, 'evaluate');
  const current = thresholdRecordOf(meta).value;
  const pred = await learner.predictSet(manifest, {
    split: split === '' || split === 'all' ? undefined : split,
    batch: o.batch ?? 16,
    precision: o.precision ?? 'fp32',
    ...(o.onProgress ? { onBatch: o.onProgress } : {}),
    ...(o.group ? { group: o.group } : {}),
  });
  const threshold = thresholdOnSet(rule, current, pred, meta.positiveClass);
  const { summary, rows } = scoreSet(pred.probs, pred.labels, pred.numClasses, {
    positiveClass: meta.positiveClass,
    threshold,
    bootstrapIterations: o.bootstrap ?? BOOTSTRAP_RESAMPLES,
    seed: o.seed ?? 0,
    bins: o.bins ?? 10,
    // metrics.json's atTargetSensitivity, as the former --target-sensitivity wrote it.
    ...(rule.kind === 'sensitivity' ? { targetSensitivity: rule.target } : {}),
  });
  const out = resolve(o.out);
  const files = {
    metrics: join(out, 'metrics.json'),
    predictions: join(out, 'predictions.csv'),
    confusion: join(out, 'confusion.svg'),
    roc: join(out, 'roc.svg'),
    pr: join(out, 'pr.svg'),
    reliability: join(out, 'reliability.svg'),
  };
  const cls = meta.classes;
  const pc = meta.positiveClass;
  await write(files.predictions, predictionsCsv(manifest, pred, rows, cls));
  const name = o.name ?? `${manifest.file.split('/').slice(-2).join('/')}${split ? ` [${split}]` : ''}`;
  await writePlots(write, files, summary, { name, cls, pc, threshold });
  const evalRows = pred.rows.map((i) => manifest.rows[i]!);
  const sha256 = sha256File(manifest.file);
  const trainSources = trainingSources(ref.meta);
  const seen = trainSources ? [...new Set(evalRows.map((r) => r.source))].filter((s) => trainSources.has(s)) : [];
  const trainRows = trainingRowsOf(ref.meta, readManifest);
  const splitBy = manifestSplitBy(manifest.file);
  const protocol = decideProtocol(evalRows, trainRows, splitBy, sha256 !== meta.manifestSha256 && seen.length === 0);
  const result: Evaluation = {
    format: 'cxrtune-evaluation/1',
    created: new Date().toISOString(),
    name,
    model: {
      checkpoint: ref.checkpoint,
      runDir: ref.runDir,
      arch: meta.arch,
      classes: cls,
      positiveClass: pc,
      inputSize: meta.preprocessing.size,
      preprocessing: describePreprocessing(meta.preprocessing),
      threshold,
      thresholdRule: formatThresholdRule(rule),
      ...(isSampleRule(rule) ? { thresholdNote: SAME_SAMPLE_NOTE } : {}),
    },
    data: {
      manifest: manifest.file,
      sha256,
      split: split || 'all',
      images: rows.length,
      patients: new Set(evalRows.map((r) => r.patientId)).size,
      summary: summarise(evalRows),
      external: sha256 !== meta.manifestSha256 && seen.length === 0,
      sourcesSeenInTraining: seen,
    },
    overlap,
    protocol,
    metrics: summary,
    bySource: ratesBySource(rows, evalRows, threshold, pc, sourceProtocols(evalRows, trainRows, splitBy, protocol)),
    seconds: (performance.now() - t0) / 1000,
    files,
  };
  if (main) await writeJson(files.metrics, result);
  return result;
}

/** The threshold the rule gives: the checkpoint's, a number, or chosen on the evaluated set. */
function thresholdOnSet(rule: ThresholdRule, current: number, pred: PredictedSet, positiveClass: number): number {
  if (!isSampleRule(rule)) return resolveThreshold(rule, { current });
  const pos = positiveColumn(pred.probs, pred.numClasses, positiveClass);
  try {
    return resolveThreshold(rule, { sample: { pos, labels: pred.labels, positiveClass } });
  } catch (e) {
    // A one-class set cannot choose: say which flag asked for it.
    throw new Error(`--threshold ${formatThresholdRule(rule)}: ${errorMessage(e)}`);
  }
}

/** Sensitivity and specificity at the threshold for every source of the set, each labelled with its protocol. */
export function ratesBySource(
  rows: readonly ScoredRow[],
  evalRows: readonly Pick<ManifestRow, 'source'>[],
  threshold: number,
  pc: number,
  protocols: Map<string, ProtocolInfo>,
): SourceRates[] {
  return ratesByGroup(
    rows.map((r) => r.probability),
    rows.map((r) => r.label),
    rows.map((r) => evalRows[r.index]!.source),
    threshold,
    pc,
  ).map((g) => {
    const p = protocols.get(g.group) ?? { protocol: 'internal' as const, why: 'protocol unknown' };
    return { ...g, protocol: p.protocol, why: p.why };
  });
}

/**
 * predictions.csv: per image its path, patient, source, label, score, prediction, loss and every class's probability.
 */
function predictionsCsv(manifest: Manifest, pred: PredictedSet, rows: ScoredRow[], cls: string[]): string {
  const header = [
    'row',
    'path',
    'patient_id',
    'source',
    'label',
    'probability',
    'predicted',
    'loss',
    ...cls.map((c) => `p_${c}`),
  ];
  const table = rows.map((r) => {
    const mr = manifest.rows[pred.rows[r.index]!]!;
    const rec: Record<string, unknown> = {
      row: pred.rows[r.index],
      path: rowPath(manifest, mr),
      patient_id: mr.patientId,
      source: mr.source,
      label: cls[r.label],
      probability: r.probability.toFixed(6),
      predicted: cls[r.predicted],
      loss: r.loss.toFixed(6),
    };
    cls.forEach((c, k) => {
      rec[`p_${c}`] = pred.probs[r.index * cls.length + k]!.toFixed(6);
    });
    return rec;
  });
  return formatCsv(header, table);
}

/** The confusion matrix, ROC and PR (both classes present only) and reliability plots. */
async function writePlots(
  write: (file: string, data: string | Uint8Array) => Promise<void>,
  files: Evaluation['files'],
  summary: Summary,
  c: { name: string; cls: string[]; pc: number; threshold: number },
): Promise<void> {
  const { name, cls, pc, threshold } = c;
  const negName = cls.length === 2 ? cls[1 - pc]! : `not ${cls[pc]}`;
  const ops = [
    {
      fpr: 1 - summary.specificity.value,
      tpr: summary.sensitivity.value,
      label: `threshold ${thresholdText(threshold)}`,
    },
  ]
    .concat(
      summary.youden
        ? [
            {
              fpr: 1 - summary.youden.specificity,
              tpr: summary.youden.sensitivity,
              label: `Youden ${summary.youden.threshold.toFixed(3)}`,
            },
          ]
        : [],
    )
    .filter((p) => Number.isFinite(p.fpr) && Number.isFinite(p.tpr));
  await write(
    files.confusion,
    await renderSvg(confusionSpec(summary.confusion, [negName, cls[pc]!], `Confusion matrix — ${name}`)),
  );
  if (summary.positives > 0 && summary.negatives > 0) {
    await write(files.roc, await renderSvg(rocSpec(summary.roc, summary.auc, ops, `ROC — ${name}`)));
    await write(
      files.pr,
      await renderSvg(
        prSpec(summary.pr, summary.averagePrecision, summary.positives / summary.n, `Precision–recall — ${name}`),
      ),
    );
  }
  await write(files.reliability, await renderSvg(reliabilitySpec(summary.calibration, `Reliability — ${name}`)));
}

/** One paragraph of the headline numbers (CLI and demo output). */
export function formatEvaluation(e: Evaluation): string {
  const m = e.metrics;
  const pct = (p: { value: number; lo: number; hi: number }) =>
    Number.isFinite(p.value)
      ? `${(100 * p.value).toFixed(1)} % (${(100 * p.lo).toFixed(1)}–${(100 * p.hi).toFixed(1)})`
      : 'n/a';
  const c = m.confusion;
  const rate = (p: { value: number; lo: number; hi: number; num: number; den: number }) =>
    p.den
      ? `${(100 * p.value).toFixed(1)} % (${(100 * p.lo).toFixed(1)}–${(100 * p.hi).toFixed(1)}, ${p.num}/${p.den})`
      : '—';
  // The rule is named when it is not the checkpoint's value or the number given.
  const rule = e.model.thresholdRule;
  const ruleText = rule && rule !== 'keep' && rule !== String(m.threshold) ? ` (rule ${rule})` : '';
  const posName = e.model.classes[e.model.positiveClass];
  const counts = `${m.n} images (${m.positives} ${posName}, ${m.negatives} other)`;
  return [
    ...(e.protocol ? [`[${protocolLabel(e.protocol.protocol)}] ${e.protocol.why}`] : []),
    `${e.name}: ${counts}, threshold ${Number(m.threshold.toFixed(4))}${ruleText}`,
    ...(e.model.thresholdNote ? [`  note: ${e.model.thresholdNote}`] : []),
    `  TP ${c.tp}  FN ${c.fn}  TN ${c.tn}  FP ${c.fp}`,
    `  accuracy    ${pct(m.accuracy)}`,
    `  sensitivity ${pct(m.sensitivity)}`,
    `  specificity ${pct(m.specificity)}`,
    `  PPV ${pct(m.ppv)}   NPV ${pct(m.npv)}   F1 ${Number.isFinite(m.f1) ? m.f1.toFixed(3) : 'n/a'}`,
    '  AUC         ' +
      (Number.isFinite(m.auc.value)
        ? `${m.auc.value.toFixed(3)} (${m.auc.lo.toFixed(3)}–${m.auc.hi.toFixed(3)}, bootstrap)`
        : 'n/a') +
      `   ECE ${m.calibration.ece.toFixed(3)}`,
    ...(m.youden
      ? [
          `  Youden threshold ${m.youden.threshold.toFixed(3)}: sensitivity ` +
            `${(100 * m.youden.sensitivity).toFixed(1)} %, specificity ` +
            `${(100 * m.youden.specificity).toFixed(1)} %`,
        ]
      : []),
    ...(m.positives === 0 || m.negatives === 0
      ? [
          `  one class only (${m.positives ? `${m.positives} ${posName}` : `${m.negatives} other`}): ` +
            `${m.positives ? 'sensitivity' : 'specificity'} is the figure this set can give; ` +
            'AUC and the other rate need both classes',
        ]
      : []),
    ...((e.bySource ?? []).length
      ? [
          `  per source at threshold ${Number(m.threshold.toFixed(4))}:`,
          ...e.bySource.map(
            (g) =>
              `    ${g.group.padEnd(20)} ${(g.protocol ? `[${protocolLabel(g.protocol)}]` : '').padEnd(17)} ` +
              `n ${String(g.n).padEnd(5)} sensitivity ${rate(g.sensitivity).padEnd(28)} specificity ` +
              `${rate(g.specificity)}`,
          ),
        ]
      : []),
    `  patients vs training split: ${e.overlap.note}`,
  ].join('\n');
}
