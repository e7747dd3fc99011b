// COVID-CXNet image repository (Haghanifar et al. 2020): metadata.csv (filename, patientid,
// patient_id_known, finding, no_visible_abnormality, pediatric, view, sex, age, pcr_test,
// location, url) beside images/. Its images come from publications, teaching sites and social
// media, many with drawn boxes, arrows and captions. Patient ids are known for some images
// only (`patient_id_known` = yes); every other image is its own patient, so two films of one
// patient may fall on both sides of a split. `site` is the host of `url` (the page the image
// came from), `location` the country: the groups for `data build --split-by site|location`.
import { join } from 'node:path';
import {
  belowAge,
  listedImageProblem,
  readMetadataCsv,
  viewMatches,
  type SourceResult,
  type SourceRow,
} from './source.js';

interface CxnetOptions {
  /** Source name (patient id namespace). Default 'cxnet'. */
  name?: string;
  /** Keep only these views; rows whose view is not recorded are kept (most of the collection). */
  views?: string[];
  /** Leave out rows marked `pediatric` = yes (adult sets). */
  adults?: boolean;
  /** Leave out rows whose age is known and below this (with `adults`: 18); unknown ages stay. */
  minAge?: number;
}

const yes = (v: string | undefined) => (v ?? '').trim().toLowerCase() === 'yes';

/** The host a URL points at, without `www.` (and `dx.doi.org` → `doi.org`); '' when there is no URL. */
export function cxnetSite(url: string | undefined): string {
  const u = (url ?? '').trim();
  if (!u) return '';
  let host: string;
  try {
    host = new URL(u).hostname.toLowerCase();
  } catch {
    return '';
  }
  return host.replace(/^www\./, '').replace(/^dx\.doi\.org$/, 'doi.org');
}

export function readCxnet(dir: string, opts: CxnetOptions = {}): SourceResult {
  const name = opts.name ?? 'cxnet';
  const { root, metaFile, table } = readMetadataCsv(dir, name, [
    'filename',
    'patientid',
    'patient_id_known',
    'finding',
  ]);
  const rows: SourceRow[] = [];
  const problems: SourceResult['problems'] = [];
  const seen = new Set<string>();
  for (const { line, values: v } of table.records) {
    const where = `${metaFile}:${line}`;
    const file = (v.filename ?? '').trim();
    const finding = (v.finding ?? '').trim();
    const view = (v.view ?? '').trim();
    // Frontal only where the metadata says the view; an unrecorded view is kept.
    if (view && !viewMatches(view, opts.views)) continue;
    if (opts.adults && yes(v.pediatric)) continue;
    if (belowAge(v.age, opts.minAge)) continue;
    if (!file) {
      problems.push({ where, message: 'empty filename' });
      continue;
    }
    if (!finding) {
      problems.push({ where, message: `no finding for ${file}` });
      continue;
    }
    const known = yes(v.patient_id_known) && (v.patientid ?? '').trim() !== '';
    const path = join(root, 'images', file);
    if (seen.has(path)) continue;
    seen.add(path);
    const problem = listedImageProblem(path, line);
    if (problem) {
      problems.push(problem);
      continue;
    }
    const site = cxnetSite(v.url);
    const location = (v.location ?? '').trim();
    rows.push({
      path,
      rawLabel: finding,
      patientId: `${name}:${known ? v.patientid!.trim() : `image:${file}`}`,
      source: name,
      view,
      extra: {
        finding,
        patient_id_known: known ? 'yes' : 'no',
        no_visible_abnormality: yes(v.no_visible_abnormality) ? 'yes' : 'no',
        pediatric: yes(v.pediatric) ? 'yes' : 'no',
        ...(v.sex ? { sex: v.sex.trim() } : {}),
        ...(v.age?.trim() ? { age: v.age.trim() } : {}),
        ...(v.pcr_test ? { pcr_test: v.pcr_test.trim() } : {}),
        ...(site ? { site } : {}),
        ...(location ? { location } : {}),
        license: 'CC BY 4.0',
      },
    });
  }
  return { rows, problems };
}
