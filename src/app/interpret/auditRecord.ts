// The shortcut audit's options and its record (audit.json): where a run keeps it, and the rows
// its plots draw (AUC per test, sensitivity and specificity per source).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { OcclusionKind } from '../../data/occlusion.js';
import type { AucInterval } from '../../recipe/roc.js';
import {
  FRAME_ONLY_LIMIT,
  LUNGS_OUT_LIMIT,
  METADATA_FLAG_AUC,
  type Finding,
  type LosoResult,
  type MetadataResult,
  type OcclusionResult,
  type PerSourceResult,
  type ProbeResult,
  type Verdict,
} from '../../recipe/shortcutAudit.js';
import type { ResultModel } from '../evaluate/evaluationRecord.js';
import type { AuditBar, SourceBar } from '../report/auditPlots.js';

export const AUDIT_DIR = 'audit';

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
  /** A lung segmenter instead of the one a lung-cropping model carries (rows without lung_mask). */
  lungs?: string;
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
