// A manifest (CSV) is the one description of a dataset that every later step reads:
// path,label,patient_id,source,view,split plus free columns. Paths are relative to the
// manifest's folder (portable) or absolute (data kept elsewhere, e.g. ../shared/data).
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { parseCsv, requireColumns, formatCsv } from './csv.js';
import { writeFileAtomic } from '../util/atomicWrite.js';
import { notAFile } from './fileProbe.js';

const MANIFEST_COLUMNS = ['path', 'label', 'patient_id', 'source', 'view', 'split'] as const;

export interface ManifestRow {
  /** As written in the manifest: relative to the manifest's folder, or absolute. */
  path: string;
  label: string;
  /** Namespaced by source (e.g. `kermany:person12`) so ids never collide across sources. */
  patientId: string;
  source: string;
  view: string;
  split: string;
  /** Free columns (finding, parent, transform parameters, mask paths, …). */
  extra: Record<string, string>;
}

export interface Manifest {
  /** Absolute path of the CSV (or of where it would be written). */
  file: string;
  /** Folder relative paths are resolved against. */
  dir: string;
  rows: ManifestRow[];
}

export function readManifest(file: string): Manifest {
  const abs = resolve(file);
  const why = notAFile(abs);
  if (why) throw new Error(why === 'not found' ? `manifest not found: ${file}` : `manifest ${file}: ${why}`);
  const table = parseCsv(readFileSync(abs, 'utf8'), abs);
  requireColumns(table, ['path', 'label'], `manifest ${file}`);
  const rows = table.records.map(({ line, values }) => {
    if (!values.path) throw new Error(`manifest ${file}, line ${line}: empty path`);
    if (!values.label) throw new Error(`manifest ${file}, line ${line}: empty label for ${values.path}`);
    const extra: Record<string, string> = {};
    for (const h of table.header) if (!(MANIFEST_COLUMNS as readonly string[]).includes(h)) extra[h] = values[h];
    return {
      path: values.path,
      label: values.label,
      // Without a patient id every image is its own patient (the only safe assumption).
      patientId: values.patient_id || `image:${values.path}`,
      source: values.source ?? '',
      view: values.view ?? '',
      split: values.split ?? '',
      extra,
    };
  });
  return { file: abs, dir: dirname(abs), rows };
}

/** Absolute path of a row's image. */
export function rowPath(manifest: Pick<Manifest, 'dir'>, row: Pick<ManifestRow, 'path'>): string {
  return isAbsolute(row.path) ? row.path : resolve(manifest.dir, row.path);
}

/** Path to store for `absPath` in a manifest living in `dir`: relative when inside dir, else absolute. */
export function manifestPathFor(dir: string, absPath: string): string {
  const rel = relative(dir, absPath);
  if (rel && !rel.startsWith('..') && !isAbsolute(rel)) return rel.split(sep).join('/');
  return absPath;
}

/** Serialise rows; free columns appear after the fixed ones in first-seen order. */
export function formatManifest(rows: ManifestRow[]): string {
  const extras: string[] = [];
  const seen = new Set<string>();
  for (const r of rows)
    for (const k of Object.keys(r.extra))
      if (!seen.has(k)) {
        seen.add(k);
        extras.push(k);
      }
  const header = [...MANIFEST_COLUMNS, ...extras];
  return formatCsv(
    header,
    rows.map((r) => ({
      ...r.extra,
      path: r.path,
      label: r.label,
      patient_id: r.patientId,
      source: r.source,
      view: r.view,
      split: r.split,
    })),
  );
}

/** Write atomically. Rows' paths must already be relative to dirname(file) or absolute. */
export async function writeManifest(file: string, rows: ManifestRow[]): Promise<void> {
  await writeFileAtomic(resolve(file), formatManifest(rows));
}

/** Known negative labels go first so class 0 = negative, class 1 = positive by default. */
const NEGATIVE_LABELS = ['normal', 'non-covid', 'negative', 'no finding', 'no_findings', 'healthy'];

/** Default class order: negatives first, then the rest sorted. Explicit `classes` overrides. */
export function defaultClasses(labels: Iterable<string>): string[] {
  const uniq = [...new Set(labels)].sort();
  const neg = uniq.filter((l) => NEGATIVE_LABELS.includes(l.toLowerCase()));
  return [...neg, ...uniq.filter((l) => !neg.includes(l))];
}
