// Dataset summary: counts per label × source × split, patients per split, and patients
// shared between splits (must be zero) — written as summary.json and printed as a table.
import type { ManifestRow } from './manifest.js';
import { findPatientLeaks, type Leak } from './split.js';

export interface DatasetSummary {
  images: number;
  labels: Record<string, number>;
  /** counts[label][source][split] = images. */
  counts: Record<string, Record<string, Record<string, number>>>;
  patientsPerSplit: Record<string, number>;
  imagesPerSplit: Record<string, number>;
  /** Patients present in more than one split (checked; must be 0). */
  sharedPatients: number;
  leaks: Leak[];
  notes: string[];
}

export function summarise(rows: readonly ManifestRow[], notes: string[] = []): DatasetSummary {
  const counts: DatasetSummary['counts'] = {};
  const labels: Record<string, number> = {};
  const imagesPerSplit: Record<string, number> = {};
  const patients = new Map<string, Set<string>>();
  for (const r of rows) {
    const split = r.split || '(none)';
    labels[r.label] = (labels[r.label] ?? 0) + 1;
    imagesPerSplit[split] = (imagesPerSplit[split] ?? 0) + 1;
    counts[r.label] ??= {};
    const bySource = counts[r.label];
    const source = r.source || '(none)';
    bySource[source] ??= {};
    const bySplit = bySource[source];
    bySplit[split] = (bySplit[split] ?? 0) + 1;
    const p = patients.get(split) ?? new Set<string>();
    p.add(r.patientId);
    patients.set(split, p);
  }
  const leaks = findPatientLeaks(rows);
  return {
    images: rows.length,
    labels,
    counts,
    patientsPerSplit: Object.fromEntries([...patients].map(([s, p]) => [s, p.size])),
    imagesPerSplit,
    sharedPatients: leaks.length,
    leaks,
    notes,
  };
}

const SPLIT_ORDER = ['train', 'valid', 'test', '(none)'];

/** Fixed-width text table: one line per label × source, one column per split. */
export function formatSummaryTable(s: DatasetSummary): string {
  const splits = Object.keys(s.imagesPerSplit).sort(
    (a, b) => SPLIT_ORDER.indexOf(a) - SPLIT_ORDER.indexOf(b) || (a < b ? -1 : 1),
  );
  const header = ['label', 'source', ...splits, 'total'];
  const lines: string[][] = [header];
  for (const label of Object.keys(s.counts).sort()) {
    for (const source of Object.keys(s.counts[label]).sort()) {
      const c = s.counts[label][source];
      const vals = splits.map((sp) => c[sp] ?? 0);
      lines.push([label, source, ...vals.map(String), String(vals.reduce((a, b) => a + b, 0))]);
    }
  }
  lines.push(['all', '', ...splits.map((sp) => String(s.imagesPerSplit[sp] ?? 0)), String(s.images)]);
  lines.push(['patients', '', ...splits.map((sp) => String(s.patientsPerSplit[sp] ?? 0)), '']);
  const widths = header.map((_, j) => Math.max(...lines.map((l) => l[j].length)));
  const fmt = (l: string[]) => l.map((v, j) => (j < 2 ? v.padEnd(widths[j]) : v.padStart(widths[j]))).join('  ');
  const out = lines.map(fmt);
  out.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  out.push(`patients shared between splits: ${s.sharedPatients}`);
  for (const n of s.notes) out.push(`note: ${n}`);
  return out.join('\n');
}
