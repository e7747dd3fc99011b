// Patient-level, label-stratified, seeded splits: every image of a patient lands in one
// split (a follow-up on both sides inflates every metric), and each label keeps close to
// the requested fractions.
import { OptionError } from '../util/optionError.js';
import { Rng } from '../util/rng.js';

const SPLIT_NAMES_2 = ['train', 'valid'];
const SPLIT_NAMES_3 = ['train', 'valid', 'test'];

export interface SplitSpec {
  names: string[];
  fractions: number[];
}

/** "0.7,0.3" → train/valid; "0.7,0.15,0.15" → train/valid/test. Fractions are normalised. */
export function parseSplit(spec: string): SplitSpec {
  const parts = spec.split(',').map((s) => Number(s.trim()));
  if (parts.length < 1 || parts.length > 3 || parts.some((p) => !Number.isFinite(p) || p < 0)) {
    throw new OptionError(
      `invalid split '${spec}': expected 1–3 non-negative fractions like 0.7,0.3 or 0.7,0.15,0.15`,
      'split',
    );
  }
  const sum = parts.reduce((a, b) => a + b, 0);
  if (sum <= 0) throw new OptionError(`invalid split '${spec}': fractions sum to 0`, 'split');
  return {
    names: parts.length === 3 ? SPLIT_NAMES_3 : SPLIT_NAMES_2.slice(0, parts.length),
    fractions: parts.map((p) => p / sum),
  };
}

interface Splittable {
  label: string;
  patientId: string;
}

/**
 * Split names per row (same order as `rows`). Patients are the unit: a patient's stratum is
 * its most frequent label; within a stratum patients are shuffled by the seed, then placed
 * largest first into the split furthest below its target image count.
 */
export function assignSplits(rows: readonly Splittable[], spec: SplitSpec, seed: number): string[] {
  const byPatient = new Map<string, number[]>();
  rows.forEach((r, i) => {
    const list = byPatient.get(r.patientId);
    if (list) list.push(i);
    else byPatient.set(r.patientId, [i]);
  });
  const strata = new Map<string, { id: string; rows: number[] }[]>();
  for (const [id, idx] of byPatient) {
    const counts = new Map<string, number>();
    for (const i of idx) counts.set(rows[i].label, (counts.get(rows[i].label) ?? 0) + 1);
    const label = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0][0];
    const s = strata.get(label) ?? [];
    s.push({ id, rows: idx });
    strata.set(label, s);
  }
  const out = new Array<string>(rows.length);
  for (const label of [...strata.keys()].sort()) {
    const patients = strata.get(label)!.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    Rng.derive(seed, 'split', label).shuffle(patients);
    // Stable sort keeps the shuffled order among patients of equal size.
    patients.sort((a, b) => b.rows.length - a.rows.length);
    const total = patients.reduce((a, p) => a + p.rows.length, 0);
    const targets = spec.fractions.map((f) => f * total);
    const got = spec.fractions.map(() => 0);
    for (const p of patients) {
      let best = 0;
      let bestDeficit = -Infinity;
      for (let s = 0; s < targets.length; s++) {
        if (spec.fractions[s] === 0) continue;
        // Relative deficit, so small splits are not starved by big ones.
        const deficit = (targets[s] - got[s]) / targets[s];
        if (deficit > bestDeficit) {
          bestDeficit = deficit;
          best = s;
        }
      }
      got[best] += p.rows.length;
      for (const i of p.rows) out[i] = spec.names[best];
    }
  }
  return out;
}

export interface Leak {
  patientId: string;
  splits: string[];
}

/** Patients that appear in more than one split (must be empty). */
export function findPatientLeaks(rows: readonly { patientId: string; split: string }[]): Leak[] {
  const m = new Map<string, Set<string>>();
  for (const r of rows) {
    if (!r.split) continue;
    const s = m.get(r.patientId) ?? new Set<string>();
    s.add(r.split);
    m.set(r.patientId, s);
  }
  return [...m].filter(([, s]) => s.size > 1).map(([patientId, s]) => ({ patientId, splits: [...s].sort() }));
}

/**
 * Hold-out units for `--split-by source|location|KEY`: whole groups (a source, a hospital)
 * land on one side, so validation measures a provenance the model never trained on. A
 * patient whose images fall in two groups joins them into one unit (union-find), so the
 * patient-level guarantee still holds. Returns a unit id per row, to use as the patient id
 * of assignSplits.
 */
export function groupUnits(rows: readonly Splittable[], groupOf: (i: number) => string): string[] {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let r = x;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(x, r);
    return r;
  };
  const add = (x: string) => {
    if (!parent.has(x)) parent.set(x, x);
  };
  rows.forEach((r, i) => {
    const g = `g:${groupOf(i)}`;
    const p = `p:${r.patientId}`;
    add(g);
    add(p);
    const a = find(g);
    const b = find(p);
    if (a !== b) parent.set(b, a);
  });
  // Name each unit by its smallest group, so unit ids (and the seeded order) do not depend on row order.
  const name = new Map<string, string>();
  rows.forEach((_, i) => {
    const root = find(`g:${groupOf(i)}`);
    const g = groupOf(i);
    if (!name.has(root) || g < name.get(root)!) name.set(root, g);
  });
  return rows.map((_, i) => name.get(find(`g:${groupOf(i)}`))!);
}
