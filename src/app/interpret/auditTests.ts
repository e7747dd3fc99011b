// The audit's tests over the scores (as is, frame only, lungs out, source probe, metadata-only
// baseline, per source, leave one source out), their findings and the limits they were judged by.
import pLimit from 'p-limit';
import { rowPath, type Manifest, type ManifestRow } from '../../data/manifest.js';
import { CUE_FEATURES, cueVector, provenanceCues } from '../../data/provenance.js';
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
  type ProbeResult,
  type Verdict,
} from '../../recipe/shortcutAudit.js';
import type { AuditLine, AuditOptions } from './auditRecord.js';
import type { Scored } from './auditScoring.js';

/**
 * The audit's tests, in order: as is, frame only, lungs out, source probe, metadata-only baseline, per source, leave
 * one source out.
 */
export async function runTests(
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

/** The limits and settings the verdicts were reached with (a table). */
export function auditChoices(
  o: AuditOptions,
  stat: { bootstrap: number; seed: number },
): Record<string, number | string> {
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

const fmt = (a: { value: number; lo: number; hi: number }) =>
  Number.isFinite(a.value) ? `${a.value.toFixed(3)} (95 % CI ${a.lo.toFixed(3)}–${a.hi.toFixed(3)})` : 'n/a';
