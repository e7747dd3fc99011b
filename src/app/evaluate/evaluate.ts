// `cxrtune evaluate`: a model on any manifest (its validation split, a test split, or an
// external set) → metrics.json (recipe/metrics' summary with Wilson and bootstrap intervals,
// ECE, the Youden operating point; the threshold is the checkpoint's or --threshold's rule),
// predictions.csv (one line per image: probability, label, loss) and the confusion-matrix, ROC,
// PR and reliability plots as SVG.
// A set that shares patients with the model's training split is refused unless allowed, and
// then the result says so (the report repeats it next to every number).
// Beside it: evaluatedSet (split, overlap), scoring, evaluationRecord (metrics.json),
// evaluationFiles (predictions.csv, plots) and formatEvaluation (the printout).
import { summarizeMultiClass } from '../../recipe/multiClass.js';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import type { ProcessGroup } from '../../engine/distributed.js';
import { describePreprocessing } from '../../engine/preprocessing.js';
import type { Precision } from '../../engine/types.js';
import { readManifest } from '../../data/manifest.js';
import { summarise } from '../../data/summary.js';
import { taskOfModel } from '../../data/task.js';
import { BOOTSTRAP_RESAMPLES } from '../../recipe/metrics.js';
import {
  formatThresholdRule,
  isSampleRule,
  parseThresholdRule,
  SAME_SAMPLE_NOTE,
  THRESHOLD_FORMS,
  thresholdRecordOf,
} from '../../recipe/threshold.js';
import { sha256File } from '../train/dataSource.js';
import { resolveModel } from '../train/modelRef.js';
import { Learner } from '../train/learner.js';
import { writeJson } from '../train/runFolder.js';
import { checkOverlap, defaultSplit, splitRows, trainingSources } from './evaluatedSet.js';
import { predictionsCsv, writePlots } from './evaluationFiles.js';
import type { Evaluation } from './evaluationRecord.js';
import { decideProtocol, manifestSplitBy, sourceProtocols, trainingRowsOf } from './protocol.js';
import { ratesBySource, scoreSet, thresholdOnSet } from './scoring.js';

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
  /** A lung segmenter instead of the one a lung-cropping model carries (rows without lung_mask). */
  lungs?: string;
  /** Shown in plots and the report (default: manifest file name + split). */
  name?: string;
  onProgress?: (done: number, total: number) => void;
  /** Data parallel (evaluate --nproc): this process's group. */
  group?: ProcessGroup;
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
  const learner = await Learner.loadRef(ref, {
    threads: o.threads ?? null,
    worker: true,
    ...(o.lungs ? { lungs: o.lungs } : {}),
  });
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
      task: taskOfModel(meta),
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
    ...(pred.numClasses > 2
      ? {
          multiClass: summarizeMultiClass(pred.probs, pred.labels, pred.numClasses, {
            iterations: o.bootstrap ?? BOOTSTRAP_RESAMPLES,
            seed: o.seed ?? 0,
          }),
        }
      : {}),
    bySource: ratesBySource(rows, evalRows, threshold, pc, sourceProtocols(evalRows, trainRows, splitBy, protocol)),
    seconds: (performance.now() - t0) / 1000,
    files,
  };
  if (main) await writeJson(files.metrics, result);
  return result;
}
