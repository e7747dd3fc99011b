// The report's data summary: images per label, source and split of the training manifest,
// patients per split, and whether any patient is shared between splits.
import type { DatasetSummary } from '../../data/summary.js';
import { escapeHtml, table, type Cell } from './html.js';

export function dataTable(s: DatasetSummary): string {
  const order = ['train', 'valid', 'test', '(none)'];
  const splits = Object.keys(s.imagesPerSplit).sort(
    (a, b) => ((order.indexOf(a) + 10) % 14) - ((order.indexOf(b) + 10) % 14) || (a < b ? -1 : 1),
  );
  const rows: Cell[][] = [];
  for (const label of Object.keys(s.counts).sort()) {
    for (const source of Object.keys(s.counts[label]!).sort()) {
      const c = s.counts[label]![source]!;
      const vals = splits.map((sp) => c[sp] ?? 0);
      rows.push([label, source, ...vals, vals.reduce((a, b) => a + b, 0)]);
    }
  }
  rows.push([{ html: '<b>all images</b>' }, '', ...splits.map((sp) => s.imagesPerSplit[sp] ?? 0), s.images]);
  rows.push([{ html: '<b>patients</b>' }, '', ...splits.map((sp) => s.patientsPerSplit[sp] ?? 0), '']);
  return (
    table(['label', 'source', ...splits, 'total'], rows) +
    `<p>Patients shared between splits: <b>${s.sharedPatients}</b>` +
    `${s.sharedPatients ? ' — <span class="bad">leak</span>' : ' (patient-level split)'}.</p>` +
    (s.notes.length ? `<ul>${s.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>` : '')
  );
}
