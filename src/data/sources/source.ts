// What every source reader returns: rows with absolute paths and the source's raw label
// (mapped to a dataset label later), plus the problems found (missing file, bad row, …),
// which the builder turns into an error or a skip list (--on-error).
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseCsv, requireColumns, type CsvTable } from '../csv.js';
import { notAFile, probePath } from '../fileProbe.js';

export interface SourceRow {
  /** Absolute image path. */
  path: string;
  /** The source's own label (finding, folder name, …) before the label map. */
  rawLabel: string;
  /** Namespaced `source:id`. */
  patientId: string;
  source: string;
  view: string;
  extra: Record<string, string>;
}

export interface SourceProblem {
  /** The file or CSV row at fault. */
  where: string;
  message: string;
}

export interface SourceResult {
  rows: SourceRow[];
  problems: SourceProblem[];
}

/** A collection folder's metadata.csv, checked to hold `columns`: its resolved root, the file and its table. */
export function readMetadataCsv(
  dir: string,
  name: string,
  columns: string[],
  encoding: BufferEncoding = 'utf8',
): { root: string; metaFile: string; table: CsvTable } {
  const root = resolve(dir);
  requireDir(root, `source ${name}`);
  const metaFile = join(root, 'metadata.csv');
  requireFile(metaFile, `source ${name}`);
  const table = parseCsv(readFileSync(metaFile, encoding), metaFile);
  requireColumns(table, columns, metaFile);
  return { root, metaFile, table };
}

/** A row whose age is recorded and below `minAge` (unknown ages stay in). */
export function belowAge(age: string | undefined, minAge: number | undefined): boolean {
  const a = (age ?? '').trim();
  return minAge !== undefined && a !== '' && Number(a) < minAge;
}

/** The problem with an image a metadata.csv lists at `line`, or null when it is a readable file. */
export function listedImageProblem(path: string, line: number): SourceProblem | null {
  const why = notAFile(path);
  if (!why) return null;
  return {
    where: path,
    message:
      why === 'not found'
        ? `image listed in metadata.csv line ${line} is missing`
        : `image listed in metadata.csv line ${line}: ${why}`,
  };
}

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.dcm', '.dicom'];

export function requireDir(dir: string, what: string): void {
  const p = probePath(dir);
  if (!p.ok)
    throw new Error(p.reason === 'not found' ? `${what}: folder not found: ${dir}` : `${what}: ${p.reason}: ${dir}`);
  if (p.kind !== 'dir') throw new Error(`${what}: not a folder: ${dir}`);
}

export function requireFile(file: string, what: string): void {
  const p = probePath(file);
  if (!p.ok)
    throw new Error(p.reason === 'not found' ? `${what}: file not found: ${file}` : `${what}: ${p.reason}: ${file}`);
  if (p.kind !== 'file') throw new Error(`${what}: not a file: ${file}`);
}

/** View names as written by sources ('AP Supine', 'AP erect') match a filter entry by
 * their first word; 'frontal' = PA + AP (any). Empty filter keeps all. */
export function viewMatches(view: string, filter: string[] | undefined): boolean {
  if (!filter || filter.length === 0) return true;
  const v = view.trim().toUpperCase();
  const first = v.split(/\s+/)[0];
  return filter.some((f) => {
    const u = f.trim().toUpperCase();
    if (u === 'FRONTAL') return first === 'PA' || first === 'AP';
    return v === u || first === u;
  });
}
