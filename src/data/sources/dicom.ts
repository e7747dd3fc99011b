// A folder of DICOM files. Label from a mapping CSV (columns `file,label` with the path
// relative to the folder or the bare file name, or `patient_id,label` keyed by the raw
// PatientID); patient id = hashed PatientID so manifests carry no identifiers.
import { type Dirent, readFileSync, readdirSync, realpathSync } from 'node:fs';
import { basename, join, relative, resolve, sep } from 'node:path';
import { parseCsv } from '../csv.js';
import { type DicomHeader, hashPatientId, looksLikeDicom, readDicomHeader } from '../dicom.js';
import { probePath, unreadableReason } from '../fileProbe.js';
import { requireDir, requireFile, viewMatches, type SourceResult, type SourceRow } from './source.js';
import { errorMessage } from '../../util/errorMessage.js';

interface DicomSourceOptions {
  name?: string;
  /** Mapping CSV (required unless `label` is given). */
  labels?: string;
  /** One label for every file (a folder per class). */
  label?: string;
  views?: string[];
}

/**
 * Regular files under `dir`, following symbolic links; a folder reached twice (a link to an
 * ancestor) is walked once, and broken links, link loops and unreadable folders become problems.
 */
function walk(dir: string, out: string[], problems: SourceResult['problems'], seen = new Set<string>()): string[] {
  let real: string;
  let entries: Dirent[];
  try {
    real = realpathSync(dir);
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    problems.push({ where: dir, message: unreadableReason(dir, err) });
    return out;
  }
  if (seen.has(real)) return out;
  seen.add(real);
  for (const d of entries) {
    if (d.name.startsWith('.')) continue;
    const p = join(dir, d.name);
    if (d.isDirectory()) walk(p, out, problems, seen);
    else if (d.isFile()) out.push(p);
    else if (d.isSymbolicLink()) {
      const t = probePath(p);
      if (!t.ok) problems.push({ where: p, message: t.reason });
      else if (t.kind === 'dir') walk(p, out, problems, seen);
      else if (t.kind === 'file') out.push(p);
    }
  }
  return out;
}

export function readDicomSource(dir: string, opts: DicomSourceOptions = {}): SourceResult {
  const root = resolve(dir);
  const name = opts.name ?? basename(root);
  requireDir(root, `source ${name}`);
  if (!opts.labels && !opts.label)
    throw new Error(`source ${name}: DICOM sources need labels=FILE (file,label or patient_id,label) or label=NAME`);
  const byFile = new Map<string, string>();
  const byPatient = new Map<string, string>();
  if (opts.labels) {
    const lf = resolve(opts.labels);
    requireFile(lf, `source ${name} labels`);
    const t = parseCsv(readFileSync(lf, 'utf8'), lf);
    if (!t.header.includes('label') || !(t.header.includes('file') || t.header.includes('patient_id'))) {
      throw new Error(
        `source ${name}: label file ${lf} needs columns 'label' and 'file' or 'patient_id' (has: ` +
          `${t.header.join(', ')})`,
      );
    }
    for (const { values: v } of t.records) {
      if (v.file) byFile.set(v.file.replace(/\\/g, '/'), v.label);
      if (v.patient_id) byPatient.set(v.patient_id.trim(), v.label);
    }
  }
  const rows: SourceRow[] = [];
  const problems: SourceResult['problems'] = [];
  const files = walk(root, [], problems).sort();
  for (const path of files) {
    let buf: Buffer;
    try {
      buf = readFileSync(path);
    } catch (err) {
      problems.push({ where: path, message: unreadableReason(path, err) });
      continue;
    }
    if (!looksLikeDicom(buf)) {
      if (/\.dcm$/i.test(path)) problems.push({ where: path, message: 'not a DICOM file (no DICM preamble)' });
      continue;
    }
    let h: DicomHeader;
    try {
      h = readDicomHeader(buf, path);
    } catch (err) {
      problems.push({ where: path, message: errorMessage(err).replace(`${path}: `, '') });
      continue;
    }
    if (!viewMatches(h.view, opts.views)) continue;
    const rel = relative(root, path).split(sep).join('/');
    const label = byFile.get(rel) ?? byFile.get(basename(path)) ?? byPatient.get(h.patientId) ?? opts.label;
    if (!label) {
      problems.push({ where: path, message: 'no label in the mapping file for this file or its PatientID' });
      continue;
    }
    if (!h.patientId) {
      problems.push({ where: path, message: 'DICOM without PatientID (0010,0020)' });
      continue;
    }
    rows.push({
      path,
      rawLabel: label,
      patientId: `${name}:${hashPatientId(h.patientId)}`,
      source: name,
      view: h.view,
      extra: { transfer_syntax: h.transferSyntax, photometric: h.photometric },
    });
  }
  if (files.length > 0 && rows.length === 0 && problems.length === 0) {
    throw new Error(`source ${name}: no DICOM files in ${root}`);
  }
  return { rows, problems };
}
