// Which protocol produced a figure — the first thing a reader must know about it:
// - internal: held-out patients of the same sources (hospitals, scanners) the model trained on;
//   provenance shortcuts inflate it, so it is never the headline on real data;
// - source-held-out: validation groups (sources, hospitals: `data build --split-by`; whole
//   collections: `--split-by collection`) that never fed the training split — what model
//   selection and thresholds should use;
// - external: a set none of whose sources fed the training split (e.g. figure1).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ManifestRow } from '../../data/manifest.js';
import { recordedTrainConfig } from '../train/trainConfig.js';

const PROTOCOLS = ['source-held-out', 'external', 'internal'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export interface ProtocolInfo {
  protocol: Protocol;
  /** One line: why this protocol (what was held out, or why nothing was). */
  why: string;
}

/** INTERNAL / SOURCE-HELD-OUT / EXTERNAL, as printed beside every figure. */
export const protocolLabel = (p: Protocol): string => p.toUpperCase();

/** The `--split-by` a manifest was built with (summary.json beside it), or null. */
export function manifestSplitBy(manifestFile: string): string | null {
  const f = join(dirname(manifestFile), 'summary.json');
  if (!existsSync(f)) return null;
  try {
    const s = JSON.parse(readFileSync(f, 'utf8')) as { splitBy?: unknown };
    return typeof s.splitBy === 'string' ? s.splitBy : 'patient';
  } catch {
    return null;
  }
}

/** The value of the held-out key for a row (a column; `source` and rows without it fall back to the source). */
function groupKey(row: Pick<ManifestRow, 'source' | 'extra'>, key: string): string {
  if (key === 'source' || key === 'collection') return row.source;
  return row.extra[key]?.trim() || `${row.source} (no ${key})`;
}

/**
 * Decides the protocol of a set of evaluated rows against the model's training rows.
 * `splitBy`: how the evaluated manifest was split (null: unknown). Without the training rows
 * the answer falls back on `externalHint` (another manifest with no training source) and is
 * otherwise internal: a figure is never labelled more favourably than can be shown.
 */
export function decideProtocol(
  evalRows: readonly Pick<ManifestRow, 'source' | 'extra'>[],
  trainRows: readonly Pick<ManifestRow, 'source' | 'extra'>[] | null,
  splitBy: string | null,
  externalHint = false,
): ProtocolInfo {
  const evalSources = [...new Set(evalRows.map((r) => r.source))].sort();
  if (!trainRows) {
    return externalHint
      ? {
          protocol: 'external',
          why:
            `another manifest whose sources (${evalSources.join(', ')}) did not feed training (training ` +
            `manifest not on this machine)`,
        }
      : {
          protocol: 'internal',
          why: 'the training manifest is not on this machine: whether the sources were held out cannot be shown',
        };
  }
  const trainSources = new Set(trainRows.map((r) => r.source));
  const seen = evalSources.filter((s) => trainSources.has(s));
  // A leave-collection-out validation split: whole sources held out by design, for model choice
  // and thresholds, so SOURCE-HELD-OUT (not EXTERNAL: the set was chosen beside the training one).
  if (seen.length === 0 && splitBy === 'collection')
    return {
      protocol: 'source-held-out',
      why: `split by collection: its collections (${evalSources.join(', ')}) never fed the training split`,
    };
  if (seen.length === 0)
    return { protocol: 'external', why: `none of its sources (${evalSources.join(', ')}) fed the training split` };
  if (splitBy && splitBy !== 'patient') {
    const trainGroups = new Set(trainRows.map((r) => groupKey(r, splitBy)));
    const evalGroups = new Set(evalRows.map((r) => groupKey(r, splitBy)));
    const shared = [...evalGroups].filter((g) => trainGroups.has(g));
    if (shared.length === 0)
      return {
        protocol: 'source-held-out',
        why: `split by ${splitBy}: its ${evalGroups.size} ${splitBy} group(s) never fed the training split`,
      };
    return {
      protocol: 'internal',
      why:
        `split by ${splitBy}, but ${shared.length} of its ${evalGroups.size} ${splitBy} group(s) also fed the ` +
        `training split`,
    };
  }
  if (trainSources.size === 1 && evalSources.length === 1) {
    return {
      protocol: 'internal',
      why:
        `every image comes from one source (${evalSources[0]}): held-out patients of the training source; no ` +
        `source-held-out figure is possible on this data`,
    };
  }
  return { protocol: 'internal', why: `held-out patients of sources that also fed training (${seen.join(', ')})` };
}

/**
 * The protocol of each source of an evaluated set relative to training: a source that never
 * fed the training split is SOURCE-HELD-OUT (EXTERNAL when the whole set is), a seen one is
 * decided on its own rows (INTERNAL, or SOURCE-HELD-OUT when the manifest held its
 * --split-by groups out). Without the training rows every source takes the set's protocol.
 */
export function sourceProtocols(
  evalRows: readonly Pick<ManifestRow, 'source' | 'extra'>[],
  trainRows: readonly Pick<ManifestRow, 'source' | 'extra'>[] | null,
  splitBy: string | null,
  set: ProtocolInfo,
): Map<string, ProtocolInfo> {
  const bySource = new Map<string, Pick<ManifestRow, 'source' | 'extra'>[]>();
  for (const r of evalRows) {
    const rows = bySource.get(r.source);
    if (rows) rows.push(r);
    else bySource.set(r.source, [r]);
  }
  const trainSources = trainRows ? new Set(trainRows.map((r) => r.source)) : null;
  const out = new Map<string, ProtocolInfo>();
  for (const [source, rows] of bySource) {
    if (!trainRows || !trainSources || set.protocol === 'external') out.set(source, set);
    else if (!trainSources.has(source))
      out.set(source, { protocol: 'source-held-out', why: `${source} did not feed the training split` });
    else out.set(source, decideProtocol(rows, trainRows, splitBy));
  }
  return out;
}

/** The rows of the model's training split (null when its manifest is not on this machine). */
export function trainingRowsOf(
  meta: { training?: Record<string, unknown> },
  read: (file: string) => { rows: ManifestRow[] },
): ManifestRow[] | null {
  const cfg = recordedTrainConfig(meta);
  if (!cfg.manifest || !existsSync(cfg.manifest)) return null;
  const split = cfg.trainSplit ?? 'train';
  return read(cfg.manifest).rows.filter((r) => r.split === split);
}

/** A figure's protocol from an evaluation written before evaluate recorded one. */
export function protocolOf(e: { protocol?: ProtocolInfo; data: { external: boolean } }): ProtocolInfo {
  return (
    e.protocol ??
    (e.data.external
      ? { protocol: 'external', why: 'sources unseen in training' }
      : { protocol: 'internal', why: 'same sources as training' })
  );
}

/**
 * The protocol of a checkpoint's own validation figures (model.json `metrics`, from the
 * training run's validation split): decided from the training manifest when it is on this
 * machine, else INTERNAL (never more favourable than can be shown).
 */
export function validationProtocolOf(
  meta: { training?: Record<string, unknown> },
  read: (file: string) => { rows: ManifestRow[] },
): ProtocolInfo {
  // Recorded by training (model.json's training.validProtocol): true wherever the model travels.
  const recorded = (meta.training as { validProtocol?: ProtocolInfo } | undefined)?.validProtocol;
  if (recorded && (PROTOCOLS as readonly string[]).includes(recorded.protocol)) return recorded;
  const cfg = recordedTrainConfig(meta);
  if (!cfg.manifest || !existsSync(cfg.manifest))
    return {
      protocol: 'internal',
      why:
        "the training run's validation split; its manifest is not on this machine, so held-out sources cannot " +
        'be shown',
    };
  const rows = read(cfg.manifest).rows;
  const train = rows.filter((r) => r.split === (cfg.trainSplit ?? 'train'));
  const valid = rows.filter((r) => r.split === (cfg.validSplit ?? 'valid'));
  if (!valid.length)
    return { protocol: 'internal', why: "the training run's validation split (not found in its manifest)" };
  return decideProtocol(valid, train, manifestSplitBy(cfg.manifest));
}
