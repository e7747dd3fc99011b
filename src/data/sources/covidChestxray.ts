// ieee8023 covid-chestxray-dataset: metadata.csv (patientid, finding, view, modality,
// folder, filename). One row per image; the same file may be listed twice (kept once).
import { join } from 'node:path';
import {
  belowAge,
  listedImageProblem,
  readMetadataCsv,
  viewMatches,
  type SourceResult,
  type SourceRow,
} from './source.js';

interface CovidChestxrayOptions {
  /** Source name (patient id namespace). Default 'covid-chestxray'. */
  name?: string;
  /** Keep only these views ('PA', 'AP', 'AP Supine', 'frontal', …). */
  views?: string[];
  /** Keep only this modality (default 'X-ray'; '' keeps all). */
  modality?: string;
  /** Keep only findings matching one of these globs (before the label map). */
  findings?: string[];
  /** Leave out rows whose age is known and below this (adults only: 18); unknown ages stay. */
  minAge?: number;
}

export function readCovidChestxray(dir: string, opts: CovidChestxrayOptions = {}): SourceResult {
  const name = opts.name ?? 'covid-chestxray';
  const { root, metaFile, table } = readMetadataCsv(dir, name, ['patientid', 'finding', 'view', 'filename']);
  const modality = opts.modality ?? 'X-ray';
  const findingRes = opts.findings?.map(
    (g) => new RegExp(`^${g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i'),
  );
  const rows: SourceRow[] = [];
  const problems: SourceResult['problems'] = [];
  const seen = new Set<string>();
  for (const { line, values: v } of table.records) {
    if (modality && v.modality !== undefined && v.modality !== modality) continue;
    if (!viewMatches(v.view, opts.views)) continue;
    if (findingRes && !findingRes.some((re) => re.test(v.finding))) continue;
    if (belowAge(v.age, opts.minAge)) continue;
    const where = `${metaFile}:${line}`;
    if (!v.filename) {
      problems.push({ where, message: 'empty filename' });
      continue;
    }
    if (!v.patientid) {
      problems.push({ where, message: `no patientid for ${v.filename}` });
      continue;
    }
    const path = join(root, v.folder || 'images', v.filename);
    if (seen.has(path)) continue;
    seen.add(path);
    const problem = listedImageProblem(path, line);
    if (problem) {
      problems.push(problem);
      continue;
    }
    rows.push({
      path,
      rawLabel: v.finding,
      patientId: `${name}:${v.patientid}`,
      source: name,
      view: v.view,
      extra: {
        finding: v.finding,
        ...(v.sex !== undefined ? { sex: v.sex } : {}),
        ...(v.age !== undefined ? { age: v.age } : {}),
        ...(v.license !== undefined ? { license: v.license } : {}),
        // The hospital / city / country: what `data build --split-by location` holds out.
        ...(v.location ? { location: v.location.trim() } : {}),
      },
    });
  }
  return { rows, problems };
}
