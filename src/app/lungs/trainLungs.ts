// `cxrtune lungs train` as one call, shared by the command and the real-data demo: read the
// lung data (../shared/data/lungs or a manifest with a lung_mask column), split patients per
// source, train the U-Net on the training patients and evaluate Dice/IoU/HD95 on the held-out
// ones, writing model.json (with the held-out summary), model.safetensors and eval.json.
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readSegmentationData, type LungPair } from '../../data/sources/lungs.js';
import { LIGHT_DECODER, type SegmenterArch } from '../../engine/segmentation/segmenter.js';
import type { SegmenterMeta } from '../../engine/segmentation/segmenterCheckpoint.js';
import type { Precision } from '../../engine/types.js';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import { Rng } from '../../util/rng.js';
import { evaluateSegmenter, type SegSourceSummary } from './evaluateSegmenter.js';
import { loadSamples } from './lungData.js';
import { trainSegmenter } from './trainSegmenter.js';

export interface LungDataOptions {
  testFraction: number;
  seed: number;
  covidImages?: string;
  /** Only these sources, comma-separated. */
  sources?: string;
}

/** Image/mask pairs with their patient-level split per source. */
export function readLungData(path: string, o: LungDataOptions): LungPair[] {
  if (!existsSync(path))
    throw new Error(
      `lung data not found: ${path} (a folder like ../shared/data/lungs, or a manifest with a lung_mask column)`,
    );
  const pairs = readSegmentationData(resolve(path), {
    testFraction: o.testFraction,
    seed: o.seed,
    ...(o.covidImages ? { covidImages: o.covidImages } : {}),
  });
  if (!o.sources) return pairs;
  const known = [...new Set(pairs.map((p) => p.source))];
  const want = String(o.sources)
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  for (const w of want)
    if (!known.includes(w)) throw new Error(`unknown source '${w}' (in ${path}: ${known.join(', ')})`);
  return pairs.filter((p) => want.includes(p.source));
}

/** At most n pairs per source, drawn with the seed (quick runs). */
export function limitPerSource(pairs: LungPair[], n: number | undefined, seed: number): LungPair[] {
  if (!n) return pairs;
  const out: LungPair[] = [];
  for (const s of new Set(pairs.map((p) => p.source)))
    out.push(
      ...Rng.derive(seed, 'limit', s)
        .shuffle(pairs.filter((p) => p.source === s))
        .slice(0, n),
    );
  return out;
}

interface TrainLungsOptions extends LungDataOptions {
  data: string;
  out: string;
  size: number;
  epochs: number;
  batch: number;
  lr: number;
  precision: Precision;
  arch?: SegmenterArch;
  decoder?: number[];
  pretrained?: string;
  augment?: boolean;
  limit?: number;
  evaluate?: boolean;
  /** Continue the stopped run in `out` (trainSegmenter's resume). */
  resume?: boolean;
  threads: number;
  log?: (line: string) => void;
}

export interface TrainLungsResult {
  meta: SegmenterMeta;
  train: number;
  test: number;
  seconds: number;
  imagesPerSecond: number;
  heldOut: SegSourceSummary[] | null;
}

export async function trainLungs(o: TrainLungsOptions): Promise<TrainLungsResult> {
  const log = o.log ?? ((m: string) => console.error(m));
  const pairs = limitPerSource(readLungData(o.data, o), o.limit, o.seed);
  const train = pairs.filter((p) => p.split === 'train');
  const test = pairs.filter((p) => p.split === 'test');
  if (o.pretrained && !existsSync(o.pretrained))
    throw new Error(`pretrained weights not found: ${o.pretrained} (or --pretrained none)`);
  log(`lungs train: ${train.length} train / ${test.length} held-out images, ${o.size}px, ${o.threads} threads`);
  const t0 = performance.now();
  const samples = await loadSamples(train, o.size, (n) => log(`decoded ${n}/${train.length}`));
  log(`decoded ${train.length} images in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  const bySource = Object.fromEntries(
    [...new Set(pairs.map((p) => p.source))].map((s) => [
      s,
      { train: train.filter((p) => p.source === s).length, test: test.filter((p) => p.source === s).length },
    ]),
  );
  const r = await trainSegmenter({
    samples,
    size: o.size,
    out: o.out,
    arch: o.arch ?? 'unet_mobilenet_v2',
    decoderChannels: o.decoder ?? LIGHT_DECODER,
    epochs: o.epochs,
    batchSize: o.batch,
    lr: o.lr,
    precision: o.precision,
    augment: o.augment ?? true,
    seed: o.seed,
    ...(o.pretrained ? { pretrained: o.pretrained } : {}),
    ...(o.resume ? { resume: true } : {}),
    log,
    // ../shared/data/lungs/README: a model trained with the Shenzhen masks inherits their licence.
    ...(bySource.shenzhen?.train
      ? { licence: 'non-commercial: trained with the Shenzhen masks (CC BY-NC-SA 4.0)' }
      : {}),
    record: {
      data: resolve(o.data),
      split: { testFraction: o.testFraction, seed: o.seed, unit: 'patient, per source', bySource },
      threads: o.threads,
    },
  });
  log(
    `trained in ${r.seconds.toFixed(0)} s: ${r.imagesPerSecond.toFixed(2)} images/s (${samples.length} ` +
      `images × ${o.epochs} epochs)`,
  );
  let heldOut: SegSourceSummary[] | null = null;
  let meta = r.meta;
  if (o.evaluate !== false && test.length) {
    const ev = await evaluateSegmenter(r.model, r.meta, test, { log });
    writeFileSync(join(o.out, 'eval.json'), JSON.stringify({ sources: ev.sources, rows: ev.rows }, null, 1));
    // The held-out summary goes into model.json too (the weights, and their hash, are unchanged).
    meta = { ...r.meta, metrics: { heldOut: ev.sources } };
    await writeFileAtomic(join(o.out, 'model.json'), `${JSON.stringify(meta, null, 2)}\n`);
    heldOut = ev.sources;
  }
  return {
    meta,
    train: train.length,
    test: test.length,
    seconds: r.seconds,
    imagesPerSecond: r.imagesPerSecond,
    heldOut,
  };
}
