// `cxrtune audit`: does the model read the lungs, or where an image comes from? One pass of
// the model over a manifest's split scores each image as is, with only the frame left
// (lungs region blanked) and with the lung fields blacked out (data/occlusion.ts), and pools
// its penultimate features; the provenance cues of each file are read beside it. The tests
// and their verdicts are recipe/shortcutAudit.ts. Writes audit.json (every figure, interval
// and finding), audit_rows.csv (per image), audit_auc.svg, audit_sources.svg and
// audit_examples.png (what the model saw in each test); `cxrtune report` shows it.
// Beside it: auditRecord (options and audit.json), auditScoring (the pass), auditTests (the tests).
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import { contactSheet } from '../../data/contactSheet.js';
import { formatCsv } from '../../data/csv.js';
import { readManifest, type Manifest, type ManifestRow } from '../../data/manifest.js';
import { LUNG_MASK_COLUMNS } from '../../data/inputImage.js';
import { CUE_FEATURES, cueVector, type provenanceCues } from '../../data/provenance.js';
import { BOOTSTRAP_RESAMPLES, positiveColumn } from '../../recipe/metrics.js';
import { checkOverlap, defaultSplit, splitRows } from '../evaluate/evaluatedSet.js';
import { Learner } from '../train/learner.js';
import { resolveModel } from '../train/modelRef.js';
import { loaderFor } from '../train/predictSet.js';
import { auditAucSpec, perSourceSpec } from '../report/auditPlots.js';
import { renderSvg } from '../report/plots.js';
import { writeJson } from '../train/runFolder.js';
import { AUDIT_DIR, auditBars, sourceBars, type AuditOptions, type AuditResult } from './auditRecord.js';
import { maskColumn, scoreImages } from './auditScoring.js';
import { auditChoices, auditFindings, runTests } from './auditTests.js';

export async function audit(o: AuditOptions): Promise<AuditResult> {
  const t0 = performance.now();
  const ref = await resolveModel(o.model);
  const outDir = resolve(o.out ?? (ref.runDir ? join(ref.runDir, AUDIT_DIR) : ''));
  if (!o.out && !ref.runDir) throw new Error('--model is a checkpoint outside a run folder: give --out DIR');
  const learner = await Learner.loadRef(ref, { threads: o.threads ?? null, ...(o.lungs ? { lungs: o.lungs } : {}) });
  const read = readManifest(o.manifest);
  const { split, all } = selectRows(o, read);
  // A lung-cropping model's own lung boxes for rows without a mask (these masks also place the occlusions).
  const manifest = await learner.manifestFor(read, all ? undefined : split);
  const { selected } = selectRows(o, manifest);
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

/** The chosen split (default as evaluate's) and its rows. */
function selectRows(o: AuditOptions, manifest: Manifest): { split: string; all: boolean; selected: ManifestRow[] } {
  const split = o.split ?? defaultSplit(manifest);
  return { split, all: split === '' || split === 'all', selected: splitRows(manifest, split, o.manifest) };
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

function countBy(labels: string[], sources: string[]): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  labels.forEach((l, i) => {
    out[l] ??= {};
    out[l]![sources[i]!] = (out[l]![sources[i]!] ?? 0) + 1;
  });
  return out;
}
