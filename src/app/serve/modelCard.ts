// The model card the page and GET /api/v1/model show: what the model is, what it was
// trained and validated on (with intervals where known), and what it is for. Built from
// model.json (and, for the protocol of its validation figure, the training manifest when it
// is on this machine); fields a checkpoint lacks are reported as unknown, never invented.
// Every figure names its protocol (INTERNAL / SOURCE-HELD-OUT / EXTERNAL), the honest ones first.
import { basename } from 'node:path';
import { describePreprocessing } from '../../engine/preprocessing.js';
import type { CheckpointMeta } from '../../engine/checkpoint.js';
import { thresholdRecordOf } from '../../recipe/threshold.js';
import { wilson } from '../../recipe/wilson.js';
import type { ServedModel } from './servedModel.js';
import { readManifest } from '../../data/manifest.js';
import { taskOfModel, type TaskRecord } from '../../data/task.js';
import { protocolLabel, validationProtocolOf, type Protocol } from '../evaluate/protocol.js';
import { recordedTrainConfig } from '../train/trainConfig.js';

export const DISCLAIMER =
  'Decision support, not a diagnosis. A clinician must review every image; the result does not replace reading it.';

interface CardMetric {
  name: string;
  value: number;
  /** 95 % interval when the checkpoint carries one (or counts to compute a Wilson interval). */
  ci?: [number, number];
}

interface CardFigure {
  protocol: Protocol;
  /** INTERNAL | SOURCE-HELD-OUT | EXTERNAL. */
  label: string;
  why: string;
  name: string;
  n: number | null;
  metrics: CardMetric[];
  note?: string;
}

export interface ModelCard {
  arch: string;
  version: string;
  sha256: string;
  created: string;
  classes: string[];
  positiveClass: string;
  /** What the model screens for: the finding's name and code, each class's display name (data/task.ts). */
  task: Pick<TaskRecord, 'finding' | 'code' | 'classNames'>;
  threshold: number;
  inputSize: number;
  /** The preprocessing record in one line (fit, equalisation, normalisation). */
  preprocessing: string;
  channels: number;
  training: Record<string, unknown>;
  data: { manifestSha256: string | null; summary: unknown };
  /** The training run's validation figures, with their protocol. */
  validation: { n: number | null; metrics: CardMetric[]; protocol: Protocol; label: string; why: string };
  /** Every figure the checkpoint carries, source-held-out and external before internal. */
  figures: CardFigure[];
  /** How the threshold was chosen (train's rule or `cxrtune calibrate`), when recorded. */
  thresholdRule: string | null;
  /** Recalibration (`cxrtune calibrate`): method, parameters, sample size, ECE before/after. */
  calibration: {
    method: string;
    parameters: unknown;
    n: number | null;
    eceBefore: number | null;
    eceAfter: number | null;
  } | null;
  /** An ensemble (cxrtune ensemble): how its members' answers combine, and each member. */
  ensemble: {
    combine: string;
    members: { arch: string; created: string; sha256: string; seed: number | null; epoch: number | null }[];
  } | null;
  intendedUse: string;
  disclaimer: string;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Numbers, {value|estimate, lo, hi}, {value, ci: [lo, hi]} → CardMetric; anything else is skipped. */
function metricOf(name: string, v: unknown, n: number | undefined): CardMetric | null {
  const flat = num(v);
  if (flat !== undefined) {
    // Accuracy over n images: a Wilson interval follows from the count alone.
    if (name === 'accuracy' && n && flat >= 0 && flat <= 1) {
      const w = wilson(Math.round(flat * n), n);
      return { name, value: flat, ci: [w.lo, w.hi] };
    }
    return { name, value: flat };
  }
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const value = num(o.value) ?? num(o.estimate) ?? num(o.point);
    if (value === undefined) return null;
    const ci = Array.isArray(o.ci) ? o.ci : [o.lo, o.hi];
    const lo = num(ci[0]);
    const hi = num(ci[1]);
    return lo !== undefined && hi !== undefined ? { name, value, ci: [lo, hi] } : { name, value };
  }
  return null;
}

/** A checkpoint's version: model.json's extra.version, else its creation time. */
export function checkpointVersion(meta: CheckpointMeta): string {
  return typeof meta.extra?.version === 'string' ? meta.extra.version : meta.created;
}

/** The card of a checkpoint: its model.json, the SHA-256 of its weights and its version (a served model, an export). */
export function modelCard(s: Pick<ServedModel, 'meta' | 'sha256' | 'version'>): ModelCard {
  const m: CheckpointMeta = s.meta;
  const metrics = (m.metrics ?? {}) as Record<string, unknown>;
  const n = num(metrics.n);
  const cfg: Record<string, unknown> = recordedTrainConfig(m);
  const pick = (k: string) => (cfg[k] === undefined ? undefined : cfg[k]);
  const training: Record<string, unknown> = {};
  for (const k of [
    'preset',
    'schedule',
    'optimizer',
    'mode',
    'epochs',
    'batch',
    'size',
    'precision',
    'aug',
    'seed',
    'discriminative',
    'groups',
  ]) {
    if (pick(k) !== undefined) training[k] = pick(k);
  }
  // Paths can name hospitals or people; keep only file names.
  if (typeof cfg.pretrained === 'string') training.pretrained = basename(cfg.pretrained);
  if (typeof cfg.manifest === 'string') training.manifest = basename(cfg.manifest);
  // What online augmentation the weights saw (model.json training.augment), offline manifest by name only.
  const aug = m.training?.augment as Record<string, unknown> | undefined;
  if (aug) training.augment = typeof aug.manifest === 'string' ? { ...aug, manifest: basename(aug.manifest) } : aug;
  if (typeof cfg.aug === 'string' && aug?.mode === 'offline') training.aug = basename(cfg.aug);
  if (m.training?.epoch !== undefined) training.epochsRun = m.training.epoch;
  // An ensemble's seeds and epochs are its members' (below), not the first member's.
  const members = m.ensemble?.members ?? null;
  const of = (m.training?.ensembleOf ?? []) as { seed?: number | null; epoch?: number | null }[];
  if (members) delete training.seed;
  const extra = (m.extra ?? {}) as Record<string, unknown>;
  const vp = validationProtocolOf(m, readManifest);
  const validation = {
    n: n ?? null,
    metrics: Object.entries(metrics)
      .filter(([k]) => k !== 'n')
      .map(([k, v]) => metricOf(k, v, n))
      .filter((x): x is CardMetric => x !== null),
    protocol: vp.protocol,
    label: protocolLabel(vp.protocol),
    why: vp.why,
  };
  const figures: CardFigure[] = [
    {
      protocol: vp.protocol,
      label: protocolLabel(vp.protocol),
      why: vp.why,
      name: "training run's validation split",
      n: validation.n,
      metrics: validation.metrics,
    },
  ];
  // The sample the threshold was chosen on (train's validation split, or a site's sample for `cxrtune calibrate`).
  const tc = thresholdRecordOf(m).choice;
  const ev = tc?.evaluation;
  const evProtocol = ev?.protocol as Protocol | undefined;
  if (ev && (evProtocol === 'internal' || evProtocol === 'source-held-out' || evProtocol === 'external')) {
    // An interval without a proportion's counts (the card shows value and interval).
    const interval = (p: { value: number; lo: number; hi: number } | undefined) =>
      p && typeof p === 'object' ? { value: p.value, lo: p.lo, hi: p.hi } : p;
    const fig = (['auc', 'sensitivity', 'specificity'] as const)
      .map((k) => metricOf(k, interval(ev[k]), undefined))
      .filter((x): x is CardMetric => x !== null);
    figures.push({
      protocol: evProtocol,
      label: protocolLabel(evProtocol),
      why: String(ev.why ?? ''),
      n: num(ev.n) ?? null,
      metrics: fig,
      name:
        'threshold sample ' +
        (tc?.chosenOn?.manifest ? basename(tc.chosenOn.manifest) : '') +
        (tc?.chosenOn?.split ? ` [${tc.chosenOn.split}]` : '') +
        ` at threshold ${m.threshold.toFixed(3)} (rule ${tc?.rule ?? '?'})`,
      ...(typeof ev.note === 'string' ? { note: ev.note } : {}),
    });
  }
  const rank: Record<Protocol, number> = { 'source-held-out': 0, external: 1, internal: 2 };
  figures.sort((a, b) => rank[a.protocol] - rank[b.protocol]);
  const task = taskOfModel(m);
  const cal = m.calibration as
    | { method?: string; parameters?: unknown; fittedOn?: { n?: number }; eceBefore?: number; eceAfter?: number }
    | undefined;
  return {
    arch: m.arch,
    version: s.version,
    sha256: s.sha256,
    created: m.created,
    classes: m.classes,
    positiveClass: m.classes[m.positiveClass]!,
    task: { finding: task.finding, code: task.code, classNames: task.classNames },
    threshold: m.threshold,
    inputSize: m.preprocessing.size,
    channels: m.preprocessing.channels,
    preprocessing: describePreprocessing(m.preprocessing),
    training,
    data: { manifestSha256: m.manifestSha256 ?? null, summary: extra.data ?? extra.dataSummary ?? null },
    validation,
    figures,
    thresholdRule: tc?.rule ?? null,
    calibration:
      cal && typeof cal.method === 'string'
        ? {
            method: cal.method,
            parameters: cal.parameters ?? null,
            n: num(cal.fittedOn?.n) ?? null,
            eceBefore: num(cal.eceBefore) ?? null,
            eceAfter: num(cal.eceAfter) ?? null,
          }
        : null,
    ensemble: members
      ? {
          combine: m.ensemble!.combine,
          members: members.map((x, i) => ({
            arch: x.arch,
            created: x.created,
            sha256: x.weightsSha256,
            seed: of[i]?.seed ?? null,
            epoch: of[i]?.epoch ?? null,
          })),
        }
      : null,
    intendedUse: typeof extra.intendedUse === 'string' ? extra.intendedUse : task.intendedUse,
    disclaimer: DISCLAIMER,
  };
}
