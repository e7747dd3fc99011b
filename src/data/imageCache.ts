// Decoded-image cache: an LRU in memory and, optionally, raw files on disk keyed by the
// file's path, size, mtime and the preprocessing parameters, so epochs after the first (and
// later runs) skip JPEG decoding and resizing.
import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { decodeImage, type GrayImage, type ImageOptions } from './image.js';
import { writeFileAtomic } from '../util/atomicWrite.js';

interface ImageCacheOptions {
  /** Memory budget in bytes (default 512 MiB); 0 disables the memory cache. */
  memoryBytes?: number;
  /** Folder for the disk cache; omit to disable it. */
  dir?: string;
}

interface CacheStats {
  memoryHits: number;
  diskHits: number;
  misses: number;
  bytes: number;
  entries: number;
}

const HEADER = 8; // uint32 width, uint32 height

export class ImageCache {
  private readonly mem = new Map<string, GrayImage>();
  private readonly inflight = new Map<string, Promise<GrayImage>>();
  private bytes = 0;
  private readonly memoryBytes: number;
  private readonly dir?: string;
  readonly stats: CacheStats = { memoryHits: 0, diskHits: 0, misses: 0, bytes: 0, entries: 0 };

  constructor(opts: ImageCacheOptions = {}) {
    this.memoryBytes = opts.memoryBytes ?? 512 * 1024 * 1024;
    this.dir = opts.dir ? resolve(opts.dir) : undefined;
  }

  /** Decoded, preprocessed image; identical to decodeImage(path, opts). Do not mutate it. */
  async get(path: string, opts: ImageOptions = {}): Promise<GrayImage> {
    const abs = resolve(path);
    const memKey = `${abs}\u0000${JSON.stringify(opts)}`;
    const hit = this.mem.get(memKey);
    if (hit) {
      // Refresh recency: Map keeps insertion order, so re-insert.
      this.mem.delete(memKey);
      this.mem.set(memKey, hit);
      this.stats.memoryHits++;
      return hit;
    }
    const pending = this.inflight.get(memKey);
    if (pending) return pending;
    const p = this.load(abs, opts).finally(() => this.inflight.delete(memKey));
    this.inflight.set(memKey, p);
    const img = await p;
    this.remember(memKey, img);
    return img;
  }

  private async load(abs: string, opts: ImageOptions): Promise<GrayImage> {
    if (!this.dir) {
      this.stats.misses++;
      return decodeImage(abs, opts);
    }
    let st: Stats;
    try {
      st = await stat(abs);
    } catch {
      return decodeImage(abs, opts); // let the decoder produce the clear "not found" error
    }
    const key = createHash('sha1')
      .update(JSON.stringify({ abs, size: st.size, mtime: st.mtimeMs, opts }))
      .digest('hex');
    const file = join(this.dir, key.slice(0, 2), `${key}.gray`);
    try {
      const buf = await readFile(file);
      const width = buf.readUInt32LE(0);
      const height = buf.readUInt32LE(4);
      if (buf.length === HEADER + width * height) {
        this.stats.diskHits++;
        return { width, height, pixels: new Uint8Array(buf.buffer, buf.byteOffset + HEADER, width * height) };
      }
    } catch {
      // not cached yet
    }
    this.stats.misses++;
    const img = await decodeImage(abs, opts);
    const out = Buffer.allocUnsafe(HEADER + img.pixels.length);
    out.writeUInt32LE(img.width, 0);
    out.writeUInt32LE(img.height, 4);
    out.set(img.pixels, HEADER);
    await writeFileAtomic(file, out);
    return img;
  }

  private remember(key: string, img: GrayImage): void {
    if (this.memoryBytes <= 0 || img.pixels.length > this.memoryBytes) return;
    this.mem.set(key, img);
    this.bytes += img.pixels.length;
    while (this.bytes > this.memoryBytes) {
      const [oldest, v] = this.mem.entries().next().value as [string, GrayImage];
      this.mem.delete(oldest);
      this.bytes -= v.pixels.length;
    }
    this.stats.bytes = this.bytes;
    this.stats.entries = this.mem.size;
  }

  clearMemory(): void {
    this.mem.clear();
    this.bytes = 0;
    this.stats.bytes = 0;
    this.stats.entries = 0;
  }
}
