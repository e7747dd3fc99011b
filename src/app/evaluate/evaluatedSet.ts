// The set evaluate (and calibrate, and the audit) scores: the default split, its rows, and
// whether its patients or sources also fed the model's training split.
import { existsSync } from 'node:fs';
import { readManifest, type Manifest, type ManifestRow } from '../../data/manifest.js';
import { trainingSet, type ModelRef } from '../train/modelRef.js';
import { recordedTrainConfig } from '../train/trainConfig.js';

export interface OverlapCheck {
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

/** Sources of the model's training split (null when its manifest is not here). */
export function trainingSources(meta: ModelRef['meta']): Set<string> | null {
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
