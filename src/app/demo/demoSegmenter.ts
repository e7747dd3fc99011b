// The lung segmenter the real-data demo needs before it can crop: the one given (--lungs DIR),
// else the one an earlier demo trained on the same lung data with the same settings (cached
// under $CXRTUNE_CACHE/segmenters/), else a new one trained now and cached. A demo should not
// spend its budget re-learning lung fields it learnt yesterday.
//
// Choices (measured on this project's 2-core machine; docs/lungs.md has the full-size model):
// - 128 px, 4 epochs, bf16 where the CPU has it: a few minutes, and a box, not an outline, is
//   what the crop needs; the held-out Dice it reaches is printed and recorded beside it.
import { createHash } from 'node:crypto';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cxrtuneCache } from '../../engine/weights/caches.js';
import type { Precision } from '../../engine/types.js';
import { trainLungs, type TrainLungsResult } from '../lungs/trainLungs.js';

export const DEMO_SEGMENTER = { size: 128, epochs: 4, batch: 8, lr: 1e-3, testFraction: 0.2, seed: 0 };

interface DemoSegmenter {
  dir: string;
  from: 'given' | 'cache' | 'trained';
  trained: TrainLungsResult | null;
}

/** The cache folder of a segmenter trained on `lungData` with these settings. */
export function demoSegmenterDir(
  lungData: string,
  pretrained: string | undefined,
  precision: Precision,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        data: resolve(lungData),
        pretrained: pretrained ? resolve(pretrained) : null,
        precision,
        ...DEMO_SEGMENTER,
      }),
    )
    .digest('hex')
    .slice(0, 16);
  return join(cxrtuneCache(env), 'segmenters', `demo-${key}`);
}

export async function demoSegmenter(o: {
  given?: string;
  lungData: string;
  pretrained?: string;
  precision: Precision;
  threads: number;
  log: (line: string) => void;
}): Promise<DemoSegmenter> {
  if (o.given) {
    if (!existsSync(join(o.given, 'model.json')))
      throw new Error(`lung segmenter not found: ${o.given} (no model.json; train one with cxrtune lungs train)`);
    return { dir: resolve(o.given), from: 'given', trained: null };
  }
  const dir = demoSegmenterDir(o.lungData, o.pretrained, o.precision);
  if (existsSync(join(dir, 'model.json')) && existsSync(join(dir, 'model.safetensors')))
    return { dir, from: 'cache', trained: null };
  // Built aside and renamed into place: an interrupted training never leaves a half cache entry.
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const trained = await trainLungs({
    data: o.lungData,
    out: tmp,
    ...DEMO_SEGMENTER,
    precision: o.precision,
    threads: o.threads,
    evaluate: true,
    ...(o.pretrained ? { pretrained: o.pretrained } : {}),
    log: o.log,
  });
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return { dir, from: 'trained', trained };
}
