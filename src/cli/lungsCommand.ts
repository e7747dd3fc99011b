// `cxrtune lungs train|evaluate|predict|bench|sheet`: the lung-field segmenter (issue 11).
import { imageOptions } from '../engine/preprocessing.js';
import { Command } from 'commander';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { intArg, floatArg } from './args.js';
import { loadNative, projectRoot } from '../engine/native.js';
import { physicalCores } from '../engine/runtime.js';
import { Segmenter, LIGHT_DECODER, SEGMENTER_ARCHS, type SegmenterArch } from '../engine/segmentation/segmenter.js';
import { loadSegmenter } from '../engine/segmentation/segmenterCheckpoint.js';
import { readSegmentationData, type LungPair } from '../data/sources/lungs.js';
import { loadSamples } from '../app/lungs/lungData.js';
import { trainSegmenter } from '../app/lungs/trainSegmenter.js';
import { evaluateSegmenter, type SegEvalRow, type SegSourceSummary } from '../app/lungs/evaluateSegmenter.js';
import { fillManifestMasks, lungMaskCacheDir, predictMasks } from '../app/lungs/predictMasks.js';
import { benchSegmenter } from '../app/lungs/benchSegmenter.js';
import { lungContactSheet, type SheetCell } from '../app/lungs/lungContactSheet.js';
import { maskAtSize, segmentProbs } from '../app/lungs/segmentImages.js';
import { decodeImage } from '../data/image.js';
import { writeFileAtomic } from '../util/atomicWrite.js';
import { dice } from '../recipe/segmentationMetrics.js';
import { Rng } from '../util/rng.js';
import type { Precision } from '../engine/types.js';

const DEFAULT_DATA = () => join(projectRoot(), '..', 'shared', 'data', 'lungs');
const DEFAULT_PRETRAINED = () => join(projectRoot(), '..', 'shared', 'pretrained', 'mobilenet_v2-imagenet-ptq.safetensors');

function precisionArg(v: string): Precision {
  if (v !== 'fp32' && v !== 'bf16' && v !== 'fp16') throw new Error(`unknown precision '${v}' (fp32, bf16, fp16)`);
  return v;
}
function threads(n?: number): number {
  const t = n ?? physicalCores();
  loadNative().setThreads(t);
  return t;
}
function requireModel(dir: string): string {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`segmenter not found: ${dir} (train one with \`cxrtune lungs train\`)`);
  return dir;
}
function readData(path: string, o: { testFraction: number; seed: number; covidImages?: string; sources?: string }): LungPair[] {
  if (!existsSync(path)) throw new Error(`lung data not found: ${path} (a folder like ../shared/data/lungs, or a manifest with a lung_mask column)`);
  const pairs = readSegmentationData(resolve(path), { testFraction: o.testFraction, seed: o.seed, ...(o.covidImages ? { covidImages: o.covidImages } : {}) });
  if (!o.sources) return pairs;
  const known = [...new Set(pairs.map((p) => p.source))];
  const want = String(o.sources).split(',').map((x) => x.trim()).filter(Boolean);
  for (const w of want) if (!known.includes(w)) throw new Error(`unknown source '${w}' (in ${path}: ${known.join(', ')})`);
  return pairs.filter((p) => want.includes(p.source));
}
function limitPerSource(pairs: LungPair[], n: number | undefined, seed: number): LungPair[] {
  if (!n) return pairs;
  const out: LungPair[] = [];
  for (const s of new Set(pairs.map((p) => p.source))) out.push(...Rng.derive(seed, 'limit', s).shuffle(pairs.filter((p) => p.source === s)).slice(0, n));
  return out;
}

export function printSummary(sources: SegSourceSummary[]): void {
  const f = (m: { mean: number; lo: number; hi: number }, d: number) => `${m.mean.toFixed(d)} [${m.lo.toFixed(d)}, ${m.hi.toFixed(d)}]`;
  console.log('source           images patients  Dice [95% CI]           IoU [95% CI]            HD95 px [95% CI]');
  for (const s of sources) console.log(`${s.source.padEnd(16)} ${String(s.images).padStart(6)} ${String(s.patients).padStart(8)}  ${f(s.dice, 4).padEnd(24)} ${f(s.iou, 4).padEnd(24)} ${f(s.hd95, 1)}`);
  console.log('(95% intervals: percentile bootstrap over patients, 2000 resamples; HD95 in pixels at each mask\'s own size)');
}

export function registerLungsCommand(program: Command): void {
  const lungs = program.command('lungs').description('lung-field segmenter: U-Net on an ImageNet MobileNetV2 (train, evaluate Dice/IoU/HD95 per source, predict masks, bench, contact sheet)');
  const common = (c: Command) => c
    .option('--data <dir|manifest>', 'lung data: ../shared/data/lungs (montgomery, shenzhen, V7 covid masks) or a manifest with a lung_mask column', DEFAULT_DATA())
    .option('--covid-images <dir>', 'images of the V7 masks (default: ../covid-chestxray/images beside --data)')
    .option('--test-fraction <f>', 'held-out patients per source', floatArg, 0.2)
    .option('--seed <n>', 'seed of the split, shuffling and augmentation', intArg, 0)
    .option('--sources <list>', 'only these sources, comma-separated (e.g. montgomery,v7-covid: no non-commercial Shenzhen masks)')
    .option('--limit <n>', 'at most n images per source (quick runs)', intArg)
    .option('--threads <n>', 'intra-op threads (default: physical cores)', intArg);

  common(lungs.command('train').description('train a segmenter on the train patients of every source, then evaluate on the held-out ones'))
    .requiredOption('--out <dir>', 'checkpoint folder (model.json with task "segmentation", model.safetensors, eval.json)')
    .option('--arch <name>', `segmenter (${SEGMENTER_ARCHS.join(', ')})`, 'unet_mobilenet_v2')
    .option('--size <px>', 'input side (multiple of 32)', intArg, 256)
    .option('--epochs <n>', 'epochs', intArg, 10)
    .option('--batch <n>', 'batch size', intArg, 8)
    .option('--lr <x>', 'peak learning rate of the decoder (encoder: 0.3×)', floatArg, 1e-3)
    .option('--precision <p>', 'fp32 or bf16 (fp16 on CUDA)', precisionArg, 'fp32')
    .option('--pretrained <file>', 'torchvision ImageNet weights of the encoder ("none" for random; default: ../shared/pretrained MobileNetV2 for unet_mobilenet_v2)')
    .option('--decoder <list>', 'decoder channels, 5 comma-separated, deepest first', LIGHT_DECODER.join(','))
    .option('--no-augment', 'no online augmentation')
    .option('--no-evaluate', 'skip the held-out evaluation')
    .action(async (o) => {
      const t = threads(o.threads);
      const pairs = limitPerSource(readData(o.data, o), o.limit, o.seed);
      const train = pairs.filter((p) => p.split === 'train');
      const test = pairs.filter((p) => p.split === 'test');
      const dec = String(o.decoder).split(',').map(Number);
      if (!SEGMENTER_ARCHS.includes(o.arch)) throw new Error(`unknown segmenter architecture '${o.arch}' (known: ${SEGMENTER_ARCHS.join(', ')})`);
      const pretrained = o.pretrained === 'none' ? undefined : o.pretrained ?? (o.arch === 'unet_mobilenet_v2' ? DEFAULT_PRETRAINED() : undefined);
      if (pretrained && !existsSync(pretrained)) throw new Error(`pretrained weights not found: ${pretrained} (or --pretrained none)`);
      console.error(`lungs train: ${train.length} train / ${test.length} held-out images, ${o.size}px, ${t} threads`);
      const t0 = performance.now();
      const samples = await loadSamples(train, o.size, (n) => console.error(`decoded ${n}/${train.length}`));
      console.error(`decoded ${train.length} images in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      const bySource = Object.fromEntries([...new Set(pairs.map((p) => p.source))].map((s) => [s, { train: train.filter((p) => p.source === s).length, test: test.filter((p) => p.source === s).length }]));
      const r = await trainSegmenter({
        samples, size: o.size, out: o.out, arch: o.arch as SegmenterArch, decoderChannels: dec, epochs: o.epochs, batchSize: o.batch, lr: o.lr, precision: o.precision,
        augment: o.augment, seed: o.seed, ...(pretrained ? { pretrained } : {}),
        // ../shared/data/lungs/README: a model trained with the Shenzhen masks inherits their licence.
        ...(bySource.shenzhen?.train ? { licence: 'non-commercial: trained with the Shenzhen masks (CC BY-NC-SA 4.0)' } : {}),
        record: { data: resolve(o.data), split: { testFraction: o.testFraction, seed: o.seed, unit: 'patient, per source', bySource }, threads: t },
      });
      console.error(`trained in ${r.seconds.toFixed(0)} s: ${r.imagesPerSecond.toFixed(2)} images/s (${samples.length} images × ${o.epochs} epochs)`);
      if (o.evaluate && test.length) {
        const ev = await evaluateSegmenter(r.model, r.meta, test, { log: (m) => console.error(m) });
        writeFileSync(join(o.out, 'eval.json'), JSON.stringify({ sources: ev.sources, rows: ev.rows }, null, 1));
        // The held-out summary goes into model.json too (the weights, and their hash, are unchanged).
        await writeFileAtomic(join(o.out, 'model.json'), JSON.stringify({ ...r.meta, metrics: { heldOut: ev.sources } }, null, 2) + '\n');
        printSummary(ev.sources);
      }
    });

  common(lungs.command('evaluate').description('Dice, IoU and HD95 per source on the held-out patients (or every image), with 95% bootstrap intervals'))
    .requiredOption('--model <dir>', 'segmenter checkpoint')
    .option('--split <name>', 'test (held-out patients), train or all', 'test')
    .option('--precision <p>', 'fp32 or bf16', precisionArg, 'fp32')
    .option('--out <file>', 'write per-image rows and the summary as JSON')
    .option('--json', 'print the summary as JSON')
    .action(async (o) => {
      threads(o.threads);
      const { model, meta } = await loadSegmenter(requireModel(o.model));
      if (!['test', 'train', 'all'].includes(o.split)) throw new Error(`--split must be test, train or all (got '${o.split}')`);
      const pairs = limitPerSource(readData(o.data, o), o.limit, o.seed).filter((p) => o.split === 'all' || p.split === o.split);
      const ev = await evaluateSegmenter(model, meta, pairs, { precision: o.precision, log: (m) => console.error(m) });
      if (o.out) {
        mkdirSync(dirname(resolve(o.out)), { recursive: true });
        writeFileSync(o.out, JSON.stringify({ model: resolve(o.model), split: o.split, sources: ev.sources, rows: ev.rows }, null, 1));
      }
      if (o.json) console.log(JSON.stringify(ev.sources));
      else printSummary(ev.sources);
    });

  lungs.command('predict').description('lung masks (PNG 0/255 at each image\'s own size) for files or a manifest, cached under $CXRTUNE_CACHE/lung-masks')
    .requiredOption('--model <dir>', 'segmenter checkpoint')
    .argument('[images...]', 'image files')
    .option('--manifest <csv>', 'fill the lung_mask column of this manifest')
    .option('--out <path>', 'with --manifest: the manifest to write (default: beside it, *.lungs.csv); with files: a folder to copy the masks into')
    .option('--overwrite', 'with --manifest: replace lung_mask values already there')
    .option('--cache-dir <dir>', 'mask cache (default: $CXRTUNE_CACHE/lung-masks/<weights hash>[-bf16])')
    .option('--precision <p>', 'fp32 or bf16 (bf16: about half the time on CPUs with fast bf16; same Dice on the held-out set)', precisionArg, 'fp32')
    .option('--threads <n>', 'intra-op threads', intArg)
    .action(async (images: string[], o) => {
      threads(o.threads);
      if (!o.manifest && !images.length) throw new Error('give image files or --manifest <csv>');
      const { model, meta } = await loadSegmenter(requireModel(o.model));
      const cacheDir = o.cacheDir ?? lungMaskCacheDir(meta, o.precision);
      if (o.manifest) {
        const out = o.out ?? o.manifest.replace(/\.csv$/i, '') + '.lungs.csv';
        const r = await fillManifestMasks(model, meta, o.manifest, out, { overwrite: !!o.overwrite, cacheDir, precision: o.precision, log: (m) => console.error(m) });
        console.log(`${out}: lung_mask filled for ${r.filled} rows (${r.cached} from the cache), ${r.kept} kept; masks in ${cacheDir}`);
        return;
      }
      const res = await predictMasks(model, meta, images.map((f) => resolve(f)), { cacheDir, precision: o.precision });
      for (const r of res) {
        let dest = r.mask;
        if (o.out) {
          mkdirSync(o.out, { recursive: true });
          dest = join(o.out, r.image.replace(/^.*\//, '').replace(/\.[^.]+$/, '') + '_lung.png');
          writeFileSync(dest, readFileSync(r.mask));
        }
        console.log(`${r.image}\t${dest}\tlung ${(100 * r.lungFraction).toFixed(1)}%${r.cached ? '\t(cached)' : ''}`);
      }
    });

  lungs.command('bench').description('segmenter inference ms per image (batch 1), median and spread of --runs calls')
    .option('--model <dir>', 'segmenter checkpoint (default: an untrained --arch with the light decoder)')
    .option('--arch <name>', `without --model (${SEGMENTER_ARCHS.join(', ')})`, 'unet_mobilenet_v2')
    .option('--size <px>', 'input side', intArg, 256)
    .option('--runs <n>', 'timed calls', intArg, 50)
    .option('--precision <p>', 'fp32 or bf16', precisionArg, 'fp32')
    .option('--threads <n>', 'intra-op threads', intArg)
    .option('--channels-last', 'channels_last memory format')
    .option('--json', 'print JSON')
    .action(async (o) => {
      const t = threads(o.threads);
      const cl = o.channelsLast ? { channelsLast: true } : {};
      const model = o.model ? (await loadSegmenter(requireModel(o.model), cl)).model : Segmenter.create({ arch: o.arch as SegmenterArch, ...cl });
      const r = await benchSegmenter(model, { size: o.size, runs: o.runs, precision: o.precision, threads: t });
      if (o.json) console.log(JSON.stringify(r));
      else console.log(`${model.spec.arch} [${model.spec.decoderChannels}] ${r.size}px ${r.precision}${o.channelsLast ? ' channels_last' : ''} ${t} threads: median ${r.medianMs.toFixed(1)} ms/image (p10 ${r.p10Ms.toFixed(1)}, p90 ${r.p90Ms.toFixed(1)}, min ${r.minMs.toFixed(1)}, max ${r.maxMs.toFixed(1)}; ${r.runs} runs)`);
    });

  common(lungs.command('sheet').description('contact sheet of predicted (red) and reference (green) lung outlines: images from every source and the worst by Dice'))
    .requiredOption('--model <dir>', 'segmenter checkpoint')
    .requiredOption('--out <png>', 'output PNG')
    .option('--eval <json>', 'per-image rows from `lungs evaluate --out` (default: evaluate the held-out images now)')
    .option('--per-source <n>', 'random held-out images per source', intArg, 4)
    .option('--worst <n>', 'worst images by Dice', intArg, 5)
    .action(async (o) => {
      threads(o.threads);
      const { model, meta } = await loadSegmenter(requireModel(o.model));
      let rows: SegEvalRow[];
      if (o.eval) rows = (JSON.parse(readFileSync(o.eval, 'utf8')) as { rows: SegEvalRow[] }).rows;
      else rows = (await evaluateSegmenter(model, meta, limitPerSource(readData(o.data, o), o.limit, o.seed).filter((p) => p.split === 'test'))).rows;
      const worst = [...rows].sort((a, b) => a.dice - b.dice).slice(0, o.worst);
      const picked: { row: SegEvalRow; tag: string }[] = [];
      for (const s of [...new Set(rows.map((r) => r.source))]) {
        for (const row of Rng.derive(o.seed, 'sheet', s).shuffle(rows.filter((r) => r.source === s && !worst.includes(r))).slice(0, o.perSource)) picked.push({ row, tag: '' });
      }
      for (const row of worst) picked.push({ row, tag: 'WORST ' });
      // One row per source, then the worst: blank cells pad each group to the row's end.
      const cols = Math.max(o.perSource, o.worst);
      const cells: (SheetCell | null)[] = [];
      let group = '';
      for (const { row, tag } of picked) {
        const g = tag ? 'worst' : row.source;
        if (group && g !== group) while (cells.length % cols) cells.push(null);
        group = g;
        const input = await decodeImage(row.image, imageOptions(meta.preprocessing));
        const [prob] = await segmentProbs(model, meta, [input.pixels]);
        const truthImg = await decodeImage(row.mask);
        const truth = truthImg.pixels.map((v) => (v >= 128 ? 1 : 0));
        const pred = await maskAtSize(prob!, meta.preprocessing.size, truthImg.width, truthImg.height, meta.threshold);
        cells.push({ image: row.image, predicted: pred, truth, width: truthImg.width, height: truthImg.height, caption: `${tag}${row.source} Dice ${dice(pred, truth).toFixed(3)}` });
      }
      mkdirSync(dirname(resolve(o.out)), { recursive: true });
      writeFileSync(o.out, await lungContactSheet(cells, { columns: cols, cell: 200, title: 'Lung outlines: red = predicted, green = reference mask; last row: the worst by Dice' }));
      console.log(`${o.out}: ${cells.filter(Boolean).length} images`);
    });
}
