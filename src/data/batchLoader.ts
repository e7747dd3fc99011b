// BatchLoader: manifest rows → uint8 NHWC batches + int32 labels, decoded and resized with
// sharp off the main thread and prefetched a few batches ahead, so the engine never waits on
// decoding. Epoch order is a pure function of the seed (reproducible runs); the balanced
// sampler draws classes uniformly (with replacement) for imbalanced training sets.
import pLimit, { type LimitFunction } from 'p-limit';
import type { Batch } from '../engine/types.js';
import { defaultClasses, readManifest, rowPath, type Manifest, type ManifestRow } from './manifest.js';
import { ImageCache } from './imageCache.js';
import { applyAugment, sampleAugment, type AugmentConfig } from './augment.js';
import { applyRobust, sampleRobust, type RobustConfig } from './robustAugment.js';
import { decodeImage, type Equalize, type Fit, type GrayImage, type ImageOptions } from './image.js';
import { rowRegion } from './inputImage.js';
import { Rng } from '../util/rng.js';
import { checkShard, shardLength, shardOrder, type Shard } from './distributedSampler.js';

export interface LoaderBatch extends Batch {
  labels: Int32Array;
  /** Index of each image's row in the manifest (manifest.rows). */
  rows: number[];
}

interface BatchLoaderOptions {
  /** Output side S (images are S×S). */
  size: number;
  batch: number;
  /** Shuffle each epoch (default true). */
  shuffle?: boolean;
  /** Base seed; epoch e uses seed + e unless epoch(seed) is given one. */
  seed?: number;
  /** Class-balanced sampling with replacement (epoch length unchanged). */
  balanced?: boolean;
  /** Online augmentation: true = Table 1 defaults. */
  augment?: boolean | AugmentConfig;
  /** Provenance-blind online augmentation (robustAugment.ts), after Table 1: true = defaults. */
  robust?: boolean | RobustConfig;
  /** Class order: index = position. Default: negatives first, then sorted (defaultClasses). */
  classes?: string[];
  fit?: Fit;
  equalize?: Equalize;
  /** Per-image standardisation (engine/preprocessing.ts). */
  standardize?: 'image';
  /** Cut each image to its lung mask's box (lung_mask/masks column) grown by this margin. */
  lungCrop?: { margin: number };
  /** 1 (grayscale, default) or 3 (replicated). */
  channels?: 1 | 3;
  /** Batches decoded ahead of the consumer (default 3). */
  prefetch?: number;
  /** Images decoding at once (default 8). */
  concurrency?: number;
  /** Shared cache; default a private in-memory cache. `false` disables caching. */
  cache?: ImageCache | false;
  /** Drop a final partial batch (default false). */
  dropLast?: boolean;
  /** Data parallel: serve only this rank's part of every epoch (padded by wrapping when pad). */
  shard?: Shard & { pad: boolean };
}

export class BatchLoader {
  readonly manifest: Manifest;
  readonly classes: string[];
  /** Indices into manifest.rows of the rows this loader serves. */
  readonly indices: number[];
  private readonly labelIndex: Int32Array;
  private readonly cache: ImageCache | null;
  private readonly limit: LimitFunction;
  private readonly opts: Required<
    Pick<BatchLoaderOptions, 'size' | 'batch' | 'shuffle' | 'seed' | 'balanced' | 'channels' | 'prefetch' | 'dropLast'>
  > &
    BatchLoaderOptions;
  private epochCount = 0;

  constructor(manifest: Manifest | string, split: string | string[] | undefined, options: BatchLoaderOptions) {
    this.manifest = typeof manifest === 'string' ? readManifest(manifest) : manifest;
    const o = {
      shuffle: true,
      seed: 0,
      balanced: false,
      channels: 1 as const,
      prefetch: 3,
      dropLast: false,
      ...options,
    };
    if (!Number.isInteger(o.size) || o.size < 8) throw new Error(`BatchLoader: invalid size ${o.size}`);
    if (!Number.isInteger(o.batch) || o.batch < 1) throw new Error(`BatchLoader: invalid batch ${o.batch}`);
    this.opts = o;
    if (o.shard) checkShard(o.shard);
    const want = split === undefined ? null : Array.isArray(split) ? split : [split];
    this.indices = [];
    this.manifest.rows.forEach((r, i) => {
      if (!want || want.includes(r.split)) this.indices.push(i);
    });
    if (this.indices.length === 0)
      throw new Error(`BatchLoader: no rows in split ${want?.join(', ') ?? '(any)'} of ${this.manifest.file}`);
    this.classes = o.classes ?? defaultClasses(this.indices.map((i) => this.manifest.rows[i].label));
    this.labelIndex = new Int32Array(this.indices.length);
    this.indices.forEach((ri, k) => {
      const row = this.manifest.rows[ri];
      const c = this.classes.indexOf(row.label);
      if (c < 0)
        throw new Error(
          `BatchLoader: ${this.manifest.file} row ${ri + 2} (${row.path}): unknown label '${row.label}' ` +
            `(classes: ${this.classes.join(', ')})`,
        );
      this.labelIndex[k] = c;
    });
    this.cache = o.cache === false ? null : (o.cache ?? new ImageCache());
    this.limit = pLimit(o.concurrency ?? 8);
  }

  /** Images per epoch (this rank's share when sharded). */
  get length(): number {
    const s = this.opts.shard;
    return s ? shardLength(this.indices.length, s, s.pad) : this.indices.length;
  }

  get batchesPerEpoch(): number {
    return this.opts.dropLast ? Math.floor(this.length / this.opts.batch) : Math.ceil(this.length / this.opts.batch);
  }

  /** Row of a served position. */
  row(manifestIndex: number): ManifestRow {
    return this.manifest.rows[manifestIndex];
  }

  /** Per-class image counts in this loader's rows (class order). */
  classCounts(): number[] {
    const c = new Array(this.classes.length).fill(0);
    for (const l of this.labelIndex) c[l]++;
    return c;
  }

  /** Positions (into `indices`) served in the epoch with this seed. */
  order(seed: number): number[] {
    const full = this.fullOrder(seed);
    return this.opts.shard ? shardOrder(full, this.opts.shard, this.opts.shard.pad) : full;
  }

  private fullOrder(seed: number): number[] {
    const n = this.indices.length;
    const rng = Rng.derive(seed, 'epoch');
    if (this.opts.balanced) {
      const byClass: number[][] = this.classes.map(() => []);
      this.labelIndex.forEach((c, k) => {
        byClass[c].push(k);
      });
      const present = byClass.filter((b) => b.length > 0);
      return Array.from({ length: n }, () => {
        const b = present[rng.int(present.length)];
        return b[rng.int(b.length)];
      });
    }
    const idx = Array.from({ length: n }, (_, k) => k);
    return this.opts.shuffle ? rng.shuffle(idx) : idx;
  }

  private async image(pos: number, epochSeed: number, slot: number): Promise<GrayImage> {
    const row = this.manifest.rows[this.indices[pos]];
    const path = rowPath(this.manifest, row);
    const region = await rowRegion(this.manifest, row, this.opts.lungCrop);
    const io: ImageOptions = {
      size: this.opts.size,
      fit: this.opts.fit,
      equalize: this.opts.equalize,
      ...(this.opts.standardize ? { standardize: this.opts.standardize } : {}),
      ...(region ? { region } : {}),
    };
    const img = await this.limit(() => (this.cache ? this.cache.get(path, io) : decodeImage(path, io)));
    const cfg = this.opts.augment === true ? {} : this.opts.augment;
    const out = cfg ? applyAugment(img, sampleAugment(Rng.derive(epochSeed, 'online', slot), cfg)) : img;
    if (!this.opts.robust) return out;
    // Its own stream: adding robust leaves the Table 1 draws of 'online' unchanged.
    const rc = this.opts.robust === true ? {} : this.opts.robust;
    return this.limit(() =>
      applyRobust(out, sampleRobust(Rng.derive(epochSeed, 'robust', slot), out.width, out.height, rc)),
    );
  }

  private async makeBatch(positions: number[], epochSeed: number, first: number): Promise<LoaderBatch> {
    const S = this.opts.size;
    const C = this.opts.channels;
    const n = positions.length;
    const pixels = new Uint8Array(n * S * S * C);
    const labels = new Int32Array(n);
    const rows: number[] = [];
    await Promise.all(
      positions.map(async (pos, i) => {
        // Augmentation is drawn per place in the whole epoch's order, so a rank's shard gets
        // the draws a single process would give the same images.
        const sh = this.opts.shard;
        const img = await this.image(pos, epochSeed, sh ? sh.rank + (first + i) * sh.world : first + i);
        if (img.width !== S || img.height !== S)
          throw new Error(`BatchLoader: ${img.width}×${img.height} image, expected ${S}×${S}`);
        if (C === 1) pixels.set(img.pixels, i * S * S);
        else {
          const base = i * S * S * 3;
          for (let p = 0; p < S * S; p++)
            pixels[base + 3 * p] = pixels[base + 3 * p + 1] = pixels[base + 3 * p + 2] = img.pixels[p];
        }
      }),
    );
    positions.forEach((pos, i) => {
      labels[i] = this.labelIndex[pos];
      rows.push(this.indices[pos]);
    });
    return { pixels, shape: [n, S, S, C], labels, rows };
  }

  /**
   * One epoch of batches. Batches are decoded `prefetch` ahead in the background; the same
   * seed gives the same order, labels and (with augment) the same augmented pixels.
   */
  async *epoch(seed?: number): AsyncGenerator<LoaderBatch> {
    const epochSeed = seed ?? this.opts.seed + this.epochCount;
    this.epochCount++;
    const order = this.order(epochSeed);
    const B = this.opts.batch;
    const nb = this.batchesPerEpoch;
    const pending: Promise<LoaderBatch>[] = [];
    const start = (b: number) => {
      const p = this.makeBatch(order.slice(b * B, Math.min(order.length, (b + 1) * B)), epochSeed, b * B);
      p.catch(() => undefined); // surfaced when consumed; avoids unhandled-rejection noise
      pending[b] = p;
    };
    for (let b = 0; b < Math.min(nb, this.opts.prefetch + 1); b++) start(b);
    for (let b = 0; b < nb; b++) {
      const ahead = b + this.opts.prefetch + 1;
      if (ahead < nb && !pending[ahead]) start(ahead);
      const batch = await pending[b];
      delete pending[b];
      yield batch;
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<LoaderBatch> {
    return this.epoch();
  }
}
