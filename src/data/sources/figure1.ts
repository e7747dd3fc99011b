// Figure 1 COVID-19 chest X-ray dataset (agchung / COVID-Net contributors): metadata.csv
// (patientid, finding, view, …) beside images/<patientid>.jpg|png. A "patientid" there names
// an image: COVID-00003a and COVID-00003b are two images of patient COVID-00003, so the
// trailing letter is dropped for the patient id. Rows without a finding are not labelled
// and are left out (counted in the notes, not as problems). Never seen in training, it is an
// external set: sources and hospitals none of the training sources come from.
import { join } from 'node:path';
import { notAFile } from '../fileProbe.js';
import { readMetadataCsv, viewMatches, type SourceResult, type SourceRow } from './source.js';

interface Figure1Options {
  /** Source name (patient id namespace). Default 'figure1'. */
  name?: string;
  views?: string[];
}

const EXTENSIONS = ['.jpg', '.jpeg', '.png'];

/** COVID-00003a → COVID-00003 (the letter numbers a patient's images). */
export function figure1Patient(imageId: string): string {
  return imageId.replace(/(\d)[a-z]$/i, '$1');
}

export function readFigure1(dir: string, opts: Figure1Options = {}): SourceResult {
  const name = opts.name ?? 'figure1';
  // The published file is Latin-1 (degree signs in the notes), not UTF-8.
  const { root, metaFile, table } = readMetadataCsv(dir, name, ['patientid', 'finding', 'view'], 'latin1');
  const rows: SourceRow[] = [];
  const problems: SourceResult['problems'] = [];
  for (const { line, values: v } of table.records) {
    const id = (v.patientid ?? '').trim();
    const finding = (v.finding ?? '').trim();
    if (!id || !finding) continue; // unlabelled
    if (!viewMatches(v.view ?? '', opts.views)) continue;
    const path = EXTENSIONS.map((e) => join(root, 'images', id + e)).find((p) => notAFile(p) === null);
    if (!path) {
      problems.push({ where: `${metaFile}:${line}`, message: `no image images/${id}.jpg|png for this row` });
      continue;
    }
    rows.push({
      path,
      rawLabel: finding,
      patientId: `${name}:${figure1Patient(id)}`,
      source: name,
      view: (v.view ?? '').trim(),
      extra: { finding, ...(v.sex ? { sex: v.sex } : {}), ...(v.age ? { age: v.age } : {}) },
    });
  }
  return { rows, problems };
}
