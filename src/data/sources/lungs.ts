// The lung-field set (../shared/data/lungs, see its README): Montgomery and Shenzhen
// (one image per patient, NLM masks) and V7's masks for covid-chestxray images (patients
// from covid-chestxray's metadata.csv). Masks: 0 background, 255 lung.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { parseCsv, requireColumns } from '../csv.js';
import { assignSplits } from '../split.js';
import { readManifest, rowPath } from '../manifest.js';

export interface LungPair {
  image: string;
  mask: string;
  /** montgomery, shenzhen or v7-covid, or a manifest's source column. */
  source: string;
  /** Namespaced by source, e.g. montgomery:MCUCXR_0001. */
  patientId: string;
  /** TB label (NLM sets: normal / tb) or covid-chestxray finding; stratifies the split. */
  label: string;
  view: string;
  split: 'train' | 'test';
}

/** Reads the three sources; `covidImages` defaults to ../covid-chestxray/images beside `dir`. */
export function readLungs(
  dir: string,
  opts: { covidImages?: string; testFraction?: number; seed?: number } = {},
): LungPair[] {
  const root = resolve(dir);
  if (!existsSync(root))
    throw new Error(`lung data not found: ${root} (expected montgomery/, shenzhen/, covid-chestxray-masks/)`);
  const pairs: Omit<LungPair, 'split'>[] = [];
  for (const src of ['montgomery', 'shenzhen'] as const) {
    const imgDir = join(root, src, 'images');
    if (!existsSync(imgDir)) throw new Error(`lung data: ${imgDir} is missing`);
    for (const f of readdirSync(imgDir)
      .filter((f) => /\.(jpe?g|png)$/i.test(f))
      .sort()) {
      const stem = basename(f, extname(f));
      const mask = join(root, src, 'masks', `${stem}.png`);
      if (!existsSync(mask)) throw new Error(`lung data: no mask for ${join(imgDir, f)} (expected ${mask})`);
      // NLM sets: one image per patient; the last digit of the name is the TB label.
      pairs.push({
        image: join(imgDir, f),
        mask,
        source: src,
        patientId: `${src}:${stem.replace(/_[01]$/, '')}`,
        label: stem.endsWith('_1') ? 'tb' : 'normal',
        view: 'PA',
      });
    }
  }
  const csv = join(root, 'covid-chestxray-masks.csv');
  if (!existsSync(csv)) throw new Error(`lung data: ${csv} is missing`);
  const covidImages = resolve(opts.covidImages ?? join(dirname(root), 'covid-chestxray', 'images'));
  const meta = join(dirname(covidImages), 'metadata.csv');
  const patientOf = new Map<string, { patient: string; finding: string }>();
  if (existsSync(meta)) {
    const t = parseCsv(readFileSync(meta, 'utf8'), meta);
    requireColumns(t, ['patientid', 'filename'], meta);
    for (const { values: v } of t.records)
      patientOf.set(v.filename, { patient: v.patientid, finding: v.finding ?? '' });
  }
  const table = parseCsv(readFileSync(csv, 'utf8'), csv);
  requireColumns(table, ['image', 'mask'], csv);
  for (const { values: v } of table.records) {
    const image = join(covidImages, v.image);
    if (!existsSync(image)) throw new Error(`lung data: ${image} (listed in ${csv}) is missing`);
    const p = patientOf.get(v.image);
    pairs.push({
      image,
      mask: join(root, 'covid-chestxray-masks', v.mask),
      source: 'v7-covid',
      // Without metadata each image is its own patient (the only safe assumption).
      patientId: `covid-chestxray:${p?.patient ?? `image:${v.image}`}`,
      label: p?.finding || 'unknown',
      view: v.view ?? '',
    });
  }
  // Held-out patients per source: every source is split on its own, stratified by label.
  return splitPerSource(pairs, opts.testFraction ?? 0.2, opts.seed ?? 0);
}

/** Rows of a manifest with a `lung_mask` column (phantoms have one; `lungs predict` fills one). */
export function readMaskManifest(file: string, opts: { testFraction?: number; seed?: number } = {}): LungPair[] {
  const m = readManifest(file);
  const rows = m.rows.filter((r) => r.extra.lung_mask);
  if (!rows.length)
    throw new Error(`manifest ${file} has no lung_mask column (or it is empty): nothing to train or evaluate on`);
  const pairs = rows.map((r) => ({
    image: rowPath(m, r),
    mask: rowPath(m, { path: r.extra.lung_mask! }),
    source: r.source || 'manifest',
    patientId: r.patientId,
    label: r.label,
    view: r.view,
  }));
  return splitPerSource(pairs, opts.testFraction ?? 0.2, opts.seed ?? 0);
}

/** Held-out patients per source: each source is split on its own, stratified by label. */
function splitPerSource(pairs: Omit<LungPair, 'split'>[], frac: number, seed: number): LungPair[] {
  if (!(frac > 0 && frac < 1)) throw new Error(`test fraction must be in (0, 1) (got ${frac})`);
  const out: LungPair[] = [];
  for (const src of [...new Set(pairs.map((p) => p.source))]) {
    const rows = pairs.filter((p) => p.source === src);
    const splits = assignSplits(rows, { names: ['train', 'test'], fractions: [1 - frac, frac] }, seed);
    rows.forEach((r, i) => {
      out.push({ ...r, split: splits[i] as 'train' | 'test' });
    });
  }
  return out;
}

/** The lung-field folder, or a manifest CSV with a lung_mask column. */
export function readSegmentationData(
  path: string,
  opts: { testFraction?: number; seed?: number; covidImages?: string } = {},
): LungPair[] {
  return /\.csv$/i.test(path) ? readMaskManifest(path, opts) : readLungs(path, opts);
}
