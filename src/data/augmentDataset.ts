// Offline augmentation (`cxrtune augment`): K augmented copies per image, written as PNG with
// an augmented manifest (parent + every parameter) and contact sheets to inspect. Parameters
// are derived from (seed, parent path, k), so re-running with an --exclude list reproduces
// every other file byte for byte. The test split is never augmented.
import { OptionError } from '../util/optionError.js';
import { readFileSync, existsSync, rmSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { readManifest, rowPath, manifestPathFor, writeManifest, type Manifest, type ManifestRow } from './manifest.js';
import { decodeImage, encodePng, type GrayImage, type Fit } from './image.js';
import { applyAugment, augmentColumns, sampleAugment, type AugmentConfig } from './augment.js';
import { Rng } from '../util/rng.js';
import { writeFileAtomic } from '../util/atomicWrite.js';
import { contactSheet, thumbnail } from './contactSheet.js';
import { formatCsv } from './csv.js';
import { errorMessage } from '../util/errorMessage.js';

interface AugmentDatasetOptions {
  manifest: string;
  out: string;
  perImage: number;
  seed?: number;
  /** Splits to augment (default ['train']); 'test' is refused. */
  splits?: string[];
  config?: AugmentConfig;
  /** File listing outputs to drop (one path per line, or a CSV with a `path` column). */
  exclude?: string;
  /** Resize to S×S first (default: keep the native size). */
  size?: number;
  fit?: Fit;
  /** Also list the parent images in the output manifest (default false). */
  withOriginals?: boolean;
  /** Images per contact sheet (default 64; 0 = none). */
  sheetSize?: number;
  concurrency?: number;
  onError?: 'skip' | 'fail';
  onProgress?: (done: number, total: number) => void;
}

interface AugmentDatasetResult {
  manifestFile: string;
  inputs: number;
  outputs: number;
  excluded: number;
  sheets: string[];
  skipped: { where: string; message: string }[];
}

/** Read an exclude list: lines (paths or bare file names) or a CSV with a `path` column. */
function readExcludeList(file: string): Set<string> {
  if (!existsSync(file)) throw new Error(`exclude list not found: ${file}`);
  const lines = readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const header = lines[0]?.split(',');
  const col = header?.indexOf('path') ?? -1;
  const items = col >= 0 ? lines.slice(1).map((l) => l.split(',')[col]) : lines;
  return new Set(items.flatMap((p) => [p, basename(p)]));
}

interface Job {
  row: ManifestRow;
  k: number;
  rel: string;
  parent: string;
}

export async function augmentDataset(opts: AugmentDatasetOptions): Promise<AugmentDatasetResult> {
  const K = opts.perImage;
  if (!Number.isInteger(K) || K < 1)
    throw new OptionError(`perImage must be a positive integer (got ${K})`, 'perImage');
  const splits = opts.splits ?? ['train'];
  if (splits.includes('test')) throw new Error('refusing to augment the test split: a test set must stay untouched');
  const m = readManifest(opts.manifest);
  const inputs = m.rows.filter((r) => splits.includes(r.split));
  if (inputs.length === 0) throw new Error(`manifest ${opts.manifest}: no rows in split ${splits.join(', ')}`);
  const out = resolve(opts.out);
  const exclude = opts.exclude ? readExcludeList(opts.exclude) : new Set<string>();

  const jobs = planJobs(m, inputs, K);
  const kept = jobs.filter((j) => !exclude.has(j.rel) && !exclude.has(basename(j.rel)));
  // Excluded files from an earlier run are removed so the folder matches the manifest.
  const keptSet = new Set(kept);
  for (const j of jobs) if (!keptSet.has(j) && existsSync(join(out, j.rel))) rmSync(join(out, j.rel));

  const sheetSize = opts.sheetSize ?? 64;
  const { results, thumbs, skipped } = await runJobs(opts, kept, out, sheetSize);
  const rows = results.filter((r): r is ManifestRow => r !== null);
  const originals = opts.withOriginals
    ? inputs.map((r) => ({
        ...r,
        path: manifestPathFor(out, rowPath(m, r)),
        extra: { ...r.extra, parent: '', aug_index: '0' },
      }))
    : [];
  const manifestFile = join(out, 'manifest.csv');
  await writeManifest(manifestFile, [...originals, ...rows]);
  const sheets = sheetSize > 0 ? await writeSheets(out, kept, thumbs, sheetSize) : [];
  if (skipped.length > 0)
    await writeFileAtomic(
      join(out, 'skipped.csv'),
      formatCsv(['where', 'message'], skipped as unknown as Record<string, unknown>[]),
    );
  return {
    manifestFile,
    inputs: inputs.length,
    outputs: rows.length,
    excluded: jobs.length - kept.length,
    sheets,
    skipped,
  };
}

/** K jobs per input, named images/LABEL/STEM_augK.png (a repeated stem gets the row's index). */
function planJobs(m: Manifest, inputs: ManifestRow[], K: number): Job[] {
  const jobs: Job[] = [];
  const used = new Set<string>();
  inputs.forEach((row, i) => {
    const parent = rowPath(m, row);
    let stem = basename(parent, extname(parent)).replace(/[^A-Za-z0-9._-]/g, '_');
    if (used.has(stem)) stem = `${stem}_${i}`;
    used.add(stem);
    for (let k = 1; k <= K; k++) jobs.push({ row, k, parent, rel: `images/${row.label}/${stem}_aug${k}.png` });
  });
  return jobs;
}

/** Runs the jobs on `concurrency` workers, each parent decoded once; results and thumbnails stay in job order. */
async function runJobs(opts: AugmentDatasetOptions, kept: Job[], out: string, sheetSize: number) {
  const K = opts.perImage;
  const seed = opts.seed ?? 0;
  const skipped: AugmentDatasetResult['skipped'] = [];
  const decoded = new Map<string, Promise<GrayImage>>();
  const results: (ManifestRow | null)[] = new Array(kept.length).fill(null);
  const thumbs: (GrayImage | null)[] = new Array(kept.length).fill(null);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < kept.length) {
      const idx = next++;
      const j = kept[idx];
      let img: GrayImage;
      try {
        let p = decoded.get(j.parent);
        if (!p) {
          p = decodeImage(j.parent, { size: opts.size, fit: opts.fit });
          decoded.set(j.parent, p);
        }
        img = await p;
      } catch (err) {
        if ((opts.onError ?? 'fail') === 'fail') throw err;
        if (j.k === 1) skipped.push({ where: j.parent, message: errorMessage(err) });
        continue;
      }
      if (j.k === K) decoded.delete(j.parent);
      const params = sampleAugment(Rng.derive(seed, 'augment', j.row.path, j.k), opts.config);
      const aug = applyAugment(img, params);
      await writeFileAtomic(join(out, j.rel), await encodePng(aug));
      if (sheetSize > 0) thumbs[idx] = thumbnail(aug, 128);
      results[idx] = {
        ...j.row,
        path: j.rel,
        extra: {
          ...j.row.extra,
          parent: manifestPathFor(out, j.parent),
          aug_index: String(j.k),
          aug_seed: String(seed),
          ...augmentColumns(params),
        },
      };
      opts.onProgress?.(++done, kept.length);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 4 }, worker));
  return { results, thumbs, skipped };
}

/** Contact sheets of `sheetSize` thumbnails, each with a CSV naming the file in every cell. */
async function writeSheets(
  out: string,
  kept: Job[],
  thumbs: (GrayImage | null)[],
  sheetSize: number,
): Promise<string[]> {
  const sheets: string[] = [];
  const cells = kept.map((j, i) => ({ j, t: thumbs[i] })).filter((c) => c.t !== null);
  for (let s = 0; s * sheetSize < cells.length; s++) {
    const part = cells.slice(s * sheetSize, (s + 1) * sheetSize);
    const name = `sheets/sheet_${String(s + 1).padStart(3, '0')}`;
    await writeFileAtomic(
      join(out, `${name}.png`),
      await contactSheet(
        part.map((c) => c.t!),
        { cols: 8 },
      ),
    );
    await writeFileAtomic(
      join(out, `${name}.csv`),
      formatCsv(
        ['cell', 'path'],
        part.map((c, i) => ({ cell: i, path: c.j.rel })),
      ),
    );
    sheets.push(join(out, `${name}.png`));
  }
  return sheets;
}
