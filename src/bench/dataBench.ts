// Data throughput figures for `cxrtune bench --data` / `cxrtune data bench`: decoded-and-
// resized images/s through the BatchLoader, cold (decode) and cached (memory).
import { BatchLoader } from '../data/batchLoader.js';
import { ImageCache } from '../data/imageCache.js';
import { readManifest, type Manifest } from '../data/manifest.js';
import { readFolderSource } from '../data/sources/folder.js';

interface DataBenchResult {
  images: number;
  size: number;
  batch: number;
  coldImagesPerSec: number;
  cachedImagesPerSec: number;
  augmentedCachedImagesPerSec: number;
}

/** A manifest over up to `limit` images of a folder-per-class tree (e.g. ../shared/data/nih). */
export function folderManifest(dir: string, limit = 512): Manifest {
  const res = readFolderSource(dir, { rule: 'stem' });
  const step = Math.max(1, Math.floor(res.rows.length / limit));
  const rows = res.rows.filter((_, i) => i % step === 0).slice(0, limit);
  return {
    file: dir,
    dir,
    rows: rows.map((r) => ({
      path: r.path,
      label: r.rawLabel,
      patientId: r.patientId,
      source: r.source,
      view: '',
      split: 'train',
      extra: {},
    })),
  };
}

export async function benchData(
  manifest: Manifest | string,
  opts: { size?: number; batch?: number; split?: string } = {},
): Promise<DataBenchResult> {
  const m = typeof manifest === 'string' ? readManifest(manifest) : manifest;
  const size = opts.size ?? 224;
  const batch = opts.batch ?? 16;
  const cache = new ImageCache({ memoryBytes: 2 * 1024 * 1024 * 1024 });
  const loader = new BatchLoader(m, opts.split, { size, batch, cache, seed: 1 });
  const time = async (l: BatchLoader) => {
    const t = process.hrtime.bigint();
    let n = 0;
    for await (const b of l.epoch(1)) n += b.shape[0];
    return n / (Number(process.hrtime.bigint() - t) / 1e9);
  };
  const cold = await time(loader);
  const cached = await time(loader);
  const aug = await time(new BatchLoader(m, opts.split, { size, batch, cache, seed: 1, augment: true }));
  const r1 = (x: number) => Math.round(x * 10) / 10;
  return {
    images: loader.length,
    size,
    batch,
    coldImagesPerSec: r1(cold),
    cachedImagesPerSec: r1(cached),
    augmentedCachedImagesPerSec: r1(aug),
  };
}
