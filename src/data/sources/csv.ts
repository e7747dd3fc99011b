// Any CSV with a column mapping (path, label, optional patient/view/source columns).
// Image paths are relative to the CSV's folder unless absolute.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseCsv, requireColumns } from '../csv.js';
import { patientIdRule } from '../patientId.js';
import { requireFile, viewMatches, type SourceResult, type SourceRow } from './source.js';

interface CsvSourceOptions {
  /** Source name. Default 'csv'. */
  name?: string;
  /** Column names (defaults: path, label, patient_id, view). */
  pathColumn?: string;
  labelColumn?: string;
  patientColumn?: string;
  viewColumn?: string;
  /** Patient id from the file name when there is no patient column (default: stem). */
  rule?: string;
  views?: string[];
  /** Columns copied to the manifest as free columns. */
  keep?: string[];
}

export function readCsvSource(file: string, opts: CsvSourceOptions = {}): SourceResult {
  const abs = resolve(file);
  const name = opts.name ?? 'csv';
  requireFile(abs, `source ${name}`);
  const table = parseCsv(readFileSync(abs, 'utf8'), abs);
  const pc = opts.pathColumn ?? 'path';
  const lc = opts.labelColumn ?? 'label';
  const needed = [
    pc,
    lc,
    ...(opts.patientColumn ? [opts.patientColumn] : []),
    ...(opts.viewColumn ? [opts.viewColumn] : []),
  ];
  requireColumns(table, needed, `source ${name} (${abs})`);
  const patientCol = opts.patientColumn ?? (table.header.includes('patient_id') ? 'patient_id' : undefined);
  const viewCol = opts.viewColumn ?? (table.header.includes('view') ? 'view' : undefined);
  const rule = patientIdRule(opts.rule ?? 'stem');
  const rows: SourceRow[] = [];
  const problems: SourceResult['problems'] = [];
  for (const { line, values: v } of table.records) {
    const where = `${abs}:${line}`;
    const p = v[pc]?.trim();
    const label = v[lc]?.trim();
    if (!p) {
      problems.push({ where, message: `empty '${pc}'` });
      continue;
    }
    if (!label) {
      problems.push({ where, message: `empty '${lc}' for ${p}` });
      continue;
    }
    const view = viewCol ? v[viewCol] : '';
    if (!viewMatches(view, opts.views)) continue;
    const path = isAbsolute(p) ? p : resolve(dirname(abs), p);
    const pid = patientCol ? v[patientCol]?.trim() : rule(p);
    if (!pid) {
      problems.push({ where, message: `no patient id for ${p}` });
      continue;
    }
    const extra: Record<string, string> = {};
    for (const k of opts.keep ?? []) extra[k] = v[k] ?? '';
    rows.push({ path, rawLabel: label, patientId: `${name}:${pid}`, source: name, view, extra });
  }
  return { rows, problems };
}
