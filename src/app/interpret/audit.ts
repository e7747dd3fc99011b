// `cxrtune audit`: does the model read the lungs, or where an image comes from? One pass of
// the model over a manifest's split scores each image as is, with only the frame left
// (lungs region blanked) and with the lung fields blacked out (data/occlusion.ts), and pools
// its penultimate features; the provenance cues of each file are read beside it. The tests
// and their verdicts are recipe/shortcutAudit.ts. Writes audit.json (every figure, interval
// and finding), audit_rows.csv (per image), audit_auc.svg, audit_sources.svg and
// audit_examples.png (what the model saw in each test); `cxrtune report` shows it.
import { applyCalibration, calibrationOf } from '../../recipe/calibrationMap.js';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import type { Preprocessing } from '../../engine/preprocessing.js';
import type { CheckpointMeta } from '../../engine/checkpoint.js';
import type { Model } from '../../engine/model.js';
import type { BatchLoader } from '../../data/batchLoader.js';
import { contactSheet } from '../../data/contactSheet.js';
import { formatCsv } from '../../data/csv.js';
import type { GrayImage } from '../../data/image.js';
import { readManifest, rowPath, type Manifest, type ManifestRow } from '../../data/manifest.js';
import { decodeMaskAsInput, LUNG_MASK_COLUMNS } from '../../data/inputImage.js';
import { applyOcclusion, coverage, occlusionMask, type OcclusionKind } from '../../data/occlusion.js';
import { CUE_FEATURES, cueVector, provenanceCues } from '../../data/provenance.js';
import { BOOTSTRAP_RESAMPLES, positiveColumn } from '../../recipe/metrics.js';
import { bootstrapAuc, type AucInterval } from '../../recipe/roc.js';
import {
  FRAME_ONLY_LIMIT,
  LUNGS_OUT_LIMIT,
  LOSO_SPREAD,
  METADATA_FLAG_AUC,
  METADATA_WARN_AUC,
  PROBE_FLAG_LIFT,
  PROBE_LAMBDA,
  PROBE_WARN_LIFT,
  leaveOneSourceOut,
  metadataBaseline,
  occlusionTest,
  perSource,
  sourceProbe,
  worst,
  type LosoResult,
  type MetadataResult,
  type OcclusionResult,
  type PerSourceResult,
  type Finding,
  type ProbeResult,
  type Verdict,
} from '../../recipe/shortcutAudit.js';
import { checkOverlap, defaultSplit, splitRows, type ResultModel } from '../evaluate/evaluate.js';
import { Learner } from '../train/learner.js';
import { resolveModel } from '../train/modelRef.js';
import { loaderFor } from '../train/predictSet.js';
import { auditAucSpec, perSourceSpec, type AuditBar, type SourceBar } from '../report/auditPlots.js';
import { renderSvg } from '../report/plots.js';
import { writeJson } from '../train/runFolder.js';
import pLimit from 'p-limit';

const AUDIT_DIR = 'audit';

/** A line of the audit's summary: a check's finding, or the model on the images as they are (no verdict). */
export type AuditLine = Finding | { check: 'as is'; verdict: null; text: string };

export interface AuditOptions {
  model: string;
  manifest: string;
  /** Split to audit; default as evaluate: test, else valid, else every row ('all'). */
  split?: string;
  /** Output folder; default RUN/audit when --model is a run folder. */
  out?: string;
  bootstrap?: number;
  seed?: number;
  /** Cross-validation folds of the probes (default 5). */
  folds?: number;
  /** Feature layer of the source probe (default: the Grad-CAM layer, the network's last block). */
  layer?: string;
  batch?: number;
  threads?: number | null;
  onProgress?: (done: number, total: number) => void;
}

export interface AuditResult {
  format: 'cxrtune-audit/1';
  created: string;
  model: ResultModel & {
    featureLayer: string;
    featureDims: number;
  };
  data: {
    manifest: string;
    split: string;
    images: number;
    patients: number;
    positives: number;
    negatives: number;
    sources: Record<string, Record<string, number>>;
    /**
     * Images whose lung region came from a lung mask / from the fixed box; masks present on only some images (then
     * unused).
     */
    lungRegion: { masks: number; fixedBox: number; ignoredMasks: number };
    /** Mean share of the image blanked by each test. */
    blanked: Record<OcclusionKind, number>;
    overlap: string;
  };
  /** The model on the images as they are. */
  full: { auc: AucInterval };
  frameOnly: OcclusionResult;
  lungsOut: OcclusionResult;
  sourceProbe: ProbeResult;
  metadata: MetadataResult;
  perSource: PerSourceResult;
  leaveOneSourceOut: LosoResult;
  verdict: Verdict;
  /** One per test, the overall verdict first, then the model as is (a reference: no verdict). */
  findings: AuditLine[];
  /** The findings' sentences, in order (what audit.json held before findings; kept for its readers). */
  lines: string[];
  choices: Record<string, number | string>;
  seconds: number;
  files: { json: string; rows: string; aucPlot: string; sourcesPlot: string; examples: string };
}

/** The column holding lung masks when every audited row has one, else null (fixed box for all). */
export function maskColumn(rows: ManifestRow[]): string | null {
  return LUNG_MASK_COLUMNS.find((c) => rows.every((r) => r.extra[c])) ?? null;
}

/** A lung mask placed exactly as the model's input (same fit, same lung crop), thresholded. */
async function lungMask(
  manifest: Manifest,
  row: ManifestRow,
  p: Preprocessing,
  col: string | null,
): Promise<Uint8Array | null> {
  if (!col) return null;
  const m = await decodeMaskAsInput(manifest, row, row.extra[col]!, p);
  return m.some((v) => v) ? m : null;
}

export async function audit(o: AuditOptions): Promise<AuditResult> {
  const t0 = performance.now();
  const ref = await resolveModel(o.model);
  const outDir = resolve(o.out ?? (ref.runDir ? join(ref.runDir, AUDIT_DIR) : ''));
  if (!o.out && !ref.runDir) throw new Error('--model is a checkpoint outside a run folder: give --out DIR');
  const manifest = readManifest(o.manifest);
  const { split, all, selected } = selectRows(o, manifest);
  const learner = await Learner.loadRef(ref, { threads: o.threads ?? null });
  const { model, meta } = learner;
  const pc = meta.positiveClass;
  const C = meta.classes.length;
  const S = meta.preprocessing.size;
  const layer = o.layer ?? model.camLayer;
  if (!model.blockNames.includes(layer))
    throw new Error(`unknown feature layer '${layer}' (one of: ${model.blockNames.join(', ')})`);
  // Masks only when every image has one: masks on one class and the box on the other would
  // make the blanked shape itself a label cue (e.g. V7 masks exist for covid-chestxray only).
  const maskCol = maskColumn(selected);
  const partialMasks = maskCol ? 0 : selected.filter((r) => LUNG_MASK_COLUMNS.some((c) => r.extra[c])).length;
  const loader = loaderFor(manifest, meta, all ? undefined : split, o.batch ?? 16);
  const n = loader.length;
  const sc = await scoreImages(model, meta, manifest, loader, layer, maskCol, o.onProgress);
  const rows = sc.rowIdx.map((i) => manifest.rows[i]!);
  const y = Int32Array.from(sc.labelIdx, (l) => (l === pc ? 1 : 0));
  const labels = rows.map((r) => r.label);
  const sources = rows.map((r) => r.source);
  const patients = rows.map((r) => r.patientId);
  const threshold = meta.threshold;
  const stat = { bootstrap: o.bootstrap ?? BOOTSTRAP_RESAMPLES, seed: o.seed ?? 0 };
  const pos = {
    full: positiveColumn(sc.probs.full, C, pc),
    frame: positiveColumn(sc.probs['frame-only'], C, pc),
    lungs: positiveColumn(sc.probs['lungs-out'], C, pc),
  };
  const { full, frameOnly, lungsOut, probe, cues, metadata, per, loso, verdict, flagged } = await runTests(
    manifest,
    rows,
    sc,
    pos,
    y,
    { labels, sources, patients },
    threshold,
    stat,
    o.folds ?? 5,
  );

  const files = {
    json: join(outDir, 'audit.json'),
    rows: join(outDir, 'audit_rows.csv'),
    aucPlot: join(outDir, 'audit_auc.svg'),
    sourcesPlot: join(outDir, 'audit_sources.svg'),
    examples: join(outDir, 'audit_examples.png'),
  };
  await writeRowsCsv(files.rows, rows, sc.rowIdx, pos, cues);
  const findings = auditFindings({ full, frameOnly, lungsOut, probe, metadata, per, loso, verdict, flagged }, n);
  const result: AuditResult = {
    format: 'cxrtune-audit/1',
    created: new Date().toISOString(),
    model: {
      checkpoint: ref.checkpoint,
      runDir: ref.runDir,
      arch: meta.arch,
      classes: meta.classes,
      positiveClass: pc,
      inputSize: S,
      threshold,
      featureLayer: layer,
      featureDims: sc.dims,
    },
    data: {
      manifest: manifest.file,
      split: split || 'all',
      images: n,
      patients: new Set(patients).size,
      positives: y.reduce((a, b) => a + b, 0),
      negatives: n - y.reduce((a, b) => a + b, 0),
      sources: countBy(labels, sources),
      lungRegion: { masks: sc.fromMasks, fixedBox: n - sc.fromMasks, ignoredMasks: partialMasks },
      blanked: { 'frame-only': sc.blanked['frame-only'] / n, 'lungs-out': sc.blanked['lungs-out'] / n },
      overlap: checkOverlap(ref, rows, true).note,
    },
    full,
    frameOnly,
    lungsOut,
    sourceProbe: probe,
    metadata,
    perSource: per,
    leaveOneSourceOut: loso,
    verdict,
    findings,
    lines: findings.map((f) => f.text),
    choices: auditChoices(o, stat),
    seconds: (performance.now() - t0) / 1000,
    files,
  };
  for (const [file, spec] of [
    [files.aucPlot, auditAucSpec(auditBars(result))],
    [files.sourcesPlot, perSourceSpec(sourceBars(result))],
  ] as const) {
    await writeFileAtomic(file, await renderSvg(spec));
  }
  if (sc.examples.length)
    await writeFileAtomic(
      files.examples,
      await contactSheet(sc.examples, { cols: 6, cell: Math.min(160, Math.max(96, S)) }),
    );
  await writeJson(files.json, result);
  return result;
}

/**
 * The audit's tests, in order: as is, frame only, lungs out, source probe, metadata-only baseline, per source, leave
 * one source out.
 */
async function runTests(
  manifest: Manifest,
  rows: ManifestRow[],
  sc: Scored,
  pos: { full: Float64Array; frame: Float64Array; lungs: Float64Array },
  y: Int32Array,
  cols: { labels: string[]; sources: string[]; patients: string[] },
  threshold: number,
  stat: { bootstrap: number; seed: number },
  folds: number,
) {
  const { labels, sources, patients } = cols;
  const full = { auc: bootstrapAuc(pos.full, y, { iterations: stat.bootstrap, seed: stat.seed }) };
  const frameOnly = occlusionTest('frame-only', pos.frame, y, full.auc.value, threshold, stat);
  const lungsOut = occlusionTest('lungs-out', pos.lungs, y, full.auc.value, threshold, stat);
  const probe = sourceProbe(sc.features!, sc.dims, labels, sources, patients, { ...stat, k: folds });
  const cues = await pLimit(4).map(rows, (r) => provenanceCues(rowPath(manifest, r)));
  const cueMatrix = Float64Array.from(cues.flatMap(cueVector));
  const metadata = metadataBaseline(cueMatrix, CUE_FEATURES, y, patients, { ...stat, k: folds });
  const per = perSource(pos.full, y, sources, threshold, stat);
  const loso = leaveOneSourceOut(pos.full, y, labels, sources, stat);
  const verdict = worst([
    frameOnly.verdict,
    lungsOut.verdict,
    probe.verdict,
    metadata.verdict,
    per.verdict,
    loso.verdict,
  ]);
  const flagged = [frameOnly, lungsOut, probe, metadata, per, loso]
    .filter((t) => t.verdict === 'flag')
    .map((t) => t.check);
  return { full, frameOnly, lungsOut, probe, cues, metadata, per, loso, verdict, flagged };
}

/** The chosen split (default as evaluate's) and its rows. */
function selectRows(o: AuditOptions, manifest: Manifest): { split: string; all: boolean; selected: ManifestRow[] } {
  const split = o.split ?? defaultSplit(manifest);
  return { split, all: split === '' || split === 'all', selected: splitRows(manifest, split, o.manifest) };
}

interface Scored {
  probs: Record<'full' | OcclusionKind, Float32Array>;
  rowIdx: number[];
  labelIdx: Int32Array;
  features: Float32Array | null;
  dims: number;
  fromMasks: number;
  blanked: Record<OcclusionKind, number>;
  examples: GrayImage[];
}

/** One pass over the split: each image as is (with its pooled features) and under both occlusions. */
async function scoreImages(
  model: Model,
  meta: CheckpointMeta,
  manifest: Manifest,
  loader: BatchLoader,
  layer: string,
  maskCol: string | null,
  onProgress: AuditOptions['onProgress'],
): Promise<Scored> {
  const pc = meta.positiveClass;
  const C = meta.classes.length;
  const S = meta.preprocessing.size;
  const ch = meta.preprocessing.channels;
  const n = loader.length;
  const sc: Scored = {
    probs: {
      full: new Float32Array(n * C),
      'frame-only': new Float32Array(n * C),
      'lungs-out': new Float32Array(n * C),
    },
    rowIdx: [],
    labelIdx: new Int32Array(n),
    features: null,
    dims: 0,
    fromMasks: 0,
    blanked: { 'frame-only': 0, 'lungs-out': 0 },
    examples: [],
  };
  const gray = (px: Uint8Array, i: number): GrayImage => ({
    pixels: Uint8Array.from({ length: S * S }, (_, p) => px[(i * S * S + p) * ch]!),
    width: S,
    height: S,
  });
  const cal = calibrationOf(meta); // a recalibrated checkpoint: its threshold is on the calibrated scale
  let done = 0;
  for await (const b of loader.epoch(0)) {
    const B = b.shape[0];
    const f = await model.features(b, layer);
    sc.dims = f.shape[1];
    if (!sc.features) sc.features = new Float32Array(n * sc.dims);
    sc.features.set(f.features, done * sc.dims);
    sc.probs.full.set(applyCalibration(f.probs, C, pc, cal), done * C);
    const masks = await Promise.all(
      b.rows.map((r) => lungMask(manifest, manifest.rows[r]!, meta.preprocessing, maskCol)),
    );
    const occluded: Partial<Record<OcclusionKind, Uint8Array>> = {};
    for (const kind of ['frame-only', 'lungs-out'] as const) {
      const px = b.pixels.slice();
      masks.forEach((lung, i) => {
        const m = occlusionMask(kind, S, lung);
        sc.blanked[kind] += coverage(m);
        applyOcclusion(px, i, S, ch, m);
      });
      const r = await model.predict({ ...b, pixels: px });
      sc.probs[kind].set(applyCalibration(r.probs, C, pc, cal), done * C);
      occluded[kind] = px;
    }
    for (let i = 0; i < B && sc.examples.length < 18; i++)
      sc.examples.push(gray(b.pixels, i), gray(occluded['frame-only']!, i), gray(occluded['lungs-out']!, i));
    sc.fromMasks += masks.filter((m) => m).length;
    sc.labelIdx.set(b.labels, done);
    sc.rowIdx.push(...b.rows);
    done += B;
    onProgress?.(done, n);
  }
  return sc;
}

/** The audit's summary: the overall finding, the model as is, then each test's finding. */
export function auditFindings(
  t: {
    full: { auc: AucInterval };
    frameOnly: OcclusionResult;
    lungsOut: OcclusionResult;
    probe: ProbeResult;
    metadata: MetadataResult;
    per: PerSourceResult;
    loso: LosoResult;
    verdict: Verdict;
    flagged: string[];
  },
  images: number,
): AuditLine[] {
  return [
    { check: 'audit', verdict: t.verdict, text: headlineOf(t.verdict, t.flagged) },
    { check: 'as is', verdict: null, text: `as is: AUC ${fmt(t.full.auc)} on ${images} images` },
    t.frameOnly,
    t.lungsOut,
    t.probe,
    t.metadata,
    t.per,
    t.loso,
  ].map(({ check, verdict, text }) => ({ check, verdict, text }) as AuditLine);
}

function headlineOf(verdict: Verdict, flagged: string[]): string {
  return verdict === 'flag'
    ? `AUDIT: FLAG — shortcut evidence (${flagged.join(', ')}); do not trust this model's figures on this ` +
        `data as evidence that it reads the lungs`
    : verdict === 'warn'
      ? 'AUDIT: WARN — no test flags a shortcut, but some are inconclusive or show partial provenance signal ' +
        '(see below)'
      : 'AUDIT: PASS — the model falls to chance without the lungs, and provenance does not predict the label';
}

/** audit_rows.csv: per image, the three scores and its provenance cues. */
async function writeRowsCsv(
  file: string,
  rows: ManifestRow[],
  rowIdx: number[],
  pos: { full: Float64Array; frame: Float64Array; lungs: Float64Array },
  cues: Awaited<ReturnType<typeof provenanceCues>>[],
): Promise<void> {
  const header = [
    'row',
    'path',
    'patient_id',
    'source',
    'label',
    'p_full',
    'p_frame_only',
    'p_lungs_out',
    'bytes_per_pixel',
    ...CUE_FEATURES.map((f) => f.replace(/[^a-z0-9]+/gi, '_')),
  ];
  await writeFileAtomic(
    file,
    formatCsv(
      header,
      rows.map((r, k) => {
        const rec: Record<string, unknown> = {
          row: rowIdx[k],
          path: r.path,
          patient_id: r.patientId,
          source: r.source,
          label: r.label,
          p_full: pos.full[k]!.toFixed(6),
          p_frame_only: pos.frame[k]!.toFixed(6),
          p_lungs_out: pos.lungs[k]!.toFixed(6),
          bytes_per_pixel: Number(cues[k]!.bytesPerPixel.toPrecision(6)),
        };
        cueVector(cues[k]!).forEach((v, j) => {
          rec[header[9 + j]!] = Number(v.toPrecision(6));
        });
        return rec;
      }),
    ),
  );
}

/** The limits and settings the verdicts were reached with (a table). */
function auditChoices(o: AuditOptions, stat: { bootstrap: number; seed: number }): Record<string, number | string> {
  return {
    frameOnlyLimit: FRAME_ONLY_LIMIT,
    lungsOutLimit: LUNGS_OUT_LIMIT,
    probeLambda: PROBE_LAMBDA,
    probeFlagLift: PROBE_FLAG_LIFT,
    probeWarnLift: PROBE_WARN_LIFT,
    metadataFlagAuc: METADATA_FLAG_AUC,
    metadataWarnAuc: METADATA_WARN_AUC,
    losoSpread: LOSO_SPREAD,
    folds: o.folds ?? 5,
    bootstrap: stat.bootstrap,
    seed: stat.seed,
    regions:
      "frame-only blanks the lungs' bounding box grown by 5 % of the side (fixed box x 12–88 %, y 10–85 % " +
      'without a mask); lungs-out blacks out the lung mask grown by 2 % (two superellipses in the fixed box, ' +
      'the central 10 % kept, without a mask)',
  };
}

function countBy(labels: string[], sources: string[]): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  labels.forEach((l, i) => {
    out[l] ??= {};
    out[l]![sources[i]!] = (out[l]![sources[i]!] ?? 0) + 1;
  });
  return out;
}

const fmt = (a: { value: number; lo: number; hi: number }) =>
  Number.isFinite(a.value) ? `${a.value.toFixed(3)} (95 % CI ${a.lo.toFixed(3)}–${a.hi.toFixed(3)})` : 'n/a';

/** The AUC rows of the audit plot (also used by the report). */
export function auditBars(
  a: Pick<AuditResult, 'full' | 'frameOnly' | 'lungsOut' | 'metadata' | 'sourceProbe'>,
): AuditBar[] {
  const bar = (test: string, x: AucInterval, verdict: string, limit?: number): AuditBar => ({
    test,
    value: x.value,
    lo: x.lo,
    hi: x.hi,
    verdict,
    ...(limit !== undefined ? { limit } : {}),
  });
  return [
    bar('model, images as they are', a.full.auc, 'reference'),
    bar('frame only (lungs blanked)', a.frameOnly.auc, a.frameOnly.verdict, FRAME_ONLY_LIMIT),
    bar('lungs out (lung fields black)', a.lungsOut.auc, a.lungsOut.verdict, LUNGS_OUT_LIMIT),
    bar('metadata-only baseline', a.metadata.auc, a.metadata.verdict, METADATA_FLAG_AUC),
    ...a.sourceProbe.labels.filter((l) => l.auc).map((l) => bar(`source probe within ${l.label}`, l.auc!, l.verdict)),
  ];
}

export function sourceBars(a: Pick<AuditResult, 'perSource'>): SourceBar[] {
  return a.perSource.sources.flatMap((s) => [
    ...(s.positives
      ? [
          {
            source: s.source,
            metric: 'sensitivity' as const,
            value: s.sensitivity.value,
            lo: s.sensitivity.lo,
            hi: s.sensitivity.hi,
            n: s.positives,
          },
        ]
      : []),
    ...(s.negatives
      ? [
          {
            source: s.source,
            metric: 'specificity' as const,
            value: s.specificity.value,
            lo: s.specificity.lo,
            hi: s.specificity.hi,
            n: s.negatives,
          },
        ]
      : []),
  ]);
}

/** audit.json of a run folder (RUN/audit/audit.json or RUN/audit.json), or null. */
export function findAudit(runDir: string): string | null {
  for (const f of [join(runDir, AUDIT_DIR, 'audit.json'), join(runDir, 'audit.json')]) if (existsSync(f)) return f;
  return null;
}
