// Lung masks for any images: PNG (0/255) at the image's own size, cached under
// $CXRTUNE_CACHE/lung-masks/<weights hash>/ (beside cxrtune's other caches) keyed by the
// image's path, size and mtime, so a second run — or another command — reads them back.
// For a manifest, the `lung_mask` column (the phantoms' name for it) is filled.
import { cxrtuneCache } from '../../engine/weights/caches.js';
import { imageOptions } from '../../engine/preprocessing.js';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { decodeImage, encodePng } from '../../data/image.js';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import { readManifest, rowPath, writeManifest, manifestPathFor, type Manifest } from '../../data/manifest.js';
import type { Segmenter } from '../../engine/segmentation/segmenter.js';
import type { SegmenterMeta } from '../../engine/segmentation/segmenterCheckpoint.js';
import { maskAtSize, segmentProbs } from './segmentImages.js';
import type { Precision } from '../../engine/types.js';

const MASK_COLUMN = 'lung_mask';

/** One folder per weights (and per precision other than fp32: bf16 masks may differ by a pixel). */
export function lungMaskCacheDir(
  meta: Pick<SegmenterMeta, 'weightsSha256'>,
  precision: Precision = 'fp32',
  env: NodeJS.ProcessEnv = process.env,
): string {
  return join(
    cxrtuneCache(env),
    'lung-masks',
    (meta.weightsSha256 ?? 'unhashed').slice(0, 16) + (precision === 'fp32' ? '' : `-${precision}`),
  );
}

function cacheFile(dir: string, image: string): string {
  const st = statSync(image);
  const key = createHash('sha256')
    .update(`${resolve(image)}\u0000${st.size}\u0000${st.mtimeMs}`)
    .digest('hex')
    .slice(0, 32);
  return join(dir, `${key}.png`);
}

interface PredictMasksResult {
  image: string;
  mask: string;
  cached: boolean;
  lungFraction: number;
}

/** Masks for files; `cacheDir` defaults to lungMaskCacheDir(meta). */
export async function predictMasks(
  model: Segmenter,
  meta: SegmenterMeta,
  images: string[],
  opts: { cacheDir?: string; precision?: Precision; log?: (m: string) => void } = {},
): Promise<PredictMasksResult[]> {
  const dir = opts.cacheDir ?? lungMaskCacheDir(meta, opts.precision);
  const out: PredictMasksResult[] = [];
  const S = meta.preprocessing.size;
  for (const image of images) {
    if (!existsSync(image)) throw new Error(`image not found: ${image}`);
    const file = cacheFile(dir, image);
    if (existsSync(file)) {
      const m = await decodeImage(file);
      out.push({
        image,
        mask: file,
        cached: true,
        lungFraction: m.pixels.reduce((s, v) => s + (v >= 128 ? 1 : 0), 0) / m.pixels.length,
      });
      continue;
    }
    const native = await decodeImage(image);
    const input = await decodeImage(image, imageOptions(meta.preprocessing));
    const [prob] = await segmentProbs(model, meta, [input.pixels], opts.precision ? { precision: opts.precision } : {});
    const mask = await maskAtSize(prob!, S, native.width, native.height, meta.threshold);
    await writeFileAtomic(
      file,
      await encodePng({ pixels: mask.map((v) => v * 255), width: native.width, height: native.height }),
    );
    out.push({ image, mask: file, cached: false, lungFraction: mask.reduce((s, v) => s + v, 0) / mask.length });
    if (out.length % 50 === 0) opts.log?.(`masks: ${out.length}/${images.length}`);
  }
  return out;
}

/**
 * The manifest with a lung mask for each of `rowIdx` (default: every row) that has no lung_mask, from
 * this segmenter, in memory: what `lungs predict --manifest` writes, without the file. The masks
 * are the same cached PNGs, so a model reads the same lung boxes either way.
 */
export async function withLungMasks(
  model: Segmenter,
  meta: SegmenterMeta,
  manifest: Manifest,
  rowIdx?: readonly number[],
  opts: { log?: (m: string) => void } = {},
): Promise<Manifest> {
  // As `lungs predict`: a row without lung_mask gets the segmenter's even beside a hand-drawn
  // `masks` column, so every box of the set comes from one source (a mask's origin is no label cue).
  const idx = (rowIdx ?? manifest.rows.map((_, i) => i)).filter((i) => !manifest.rows[i]!.extra[MASK_COLUMN]);
  if (!idx.length) return manifest;
  const res = await predictMasks(
    model,
    meta,
    idx.map((i) => rowPath(manifest, manifest.rows[i]!)),
    opts,
  );
  const rows = manifest.rows.slice();
  idx.forEach((i, k) => {
    const r = rows[i]!;
    rows[i] = { ...r, extra: { ...r.extra, [MASK_COLUMN]: res[k]!.mask } };
  });
  return { ...manifest, rows };
}

/**
 * Fills `lung_mask` of every row (rows that have one keep it unless overwrite) and writes the manifest to `outFile`.
 */
export async function fillManifestMasks(
  model: Segmenter,
  meta: SegmenterMeta,
  manifestFile: string,
  outFile: string,
  opts: { overwrite?: boolean; cacheDir?: string; precision?: Precision; log?: (m: string) => void } = {},
): Promise<{ filled: number; kept: number; cached: number }> {
  const m = readManifest(manifestFile);
  const todo = m.rows.filter((r) => opts.overwrite || !r.extra[MASK_COLUMN]);
  const res = await predictMasks(
    model,
    meta,
    todo.map((r) => rowPath(m, r)),
    opts,
  );
  const outDir = resolve(outFile, '..');
  todo.forEach((r, i) => {
    r.extra[MASK_COLUMN] = manifestPathFor(outDir, res[i]!.mask);
  });
  // Rows kept as they were are re-based to the new manifest's folder.
  for (const r of m.rows) {
    if (!todo.includes(r) && r.extra[MASK_COLUMN])
      r.extra[MASK_COLUMN] = manifestPathFor(outDir, rowPath(m, { path: r.extra[MASK_COLUMN] }));
    r.path = manifestPathFor(outDir, rowPath(m, r));
  }
  await writeManifest(outFile, m.rows);
  // The build's summary (how it was split: --split-by) travels with the manifest, so the new one
  // is still known to be source-held-out (app/protocol.ts reads it beside the manifest).
  const summary = join(dirname(resolve(manifestFile)), 'summary.json');
  const summaryOut = join(outDir, 'summary.json');
  if (existsSync(summary) && !existsSync(summaryOut)) copyFileSync(summary, summaryOut);
  return { filled: todo.length, kept: m.rows.length - todo.length, cached: res.filter((r) => r.cached).length };
}
