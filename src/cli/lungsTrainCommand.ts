// `cxrtune lungs train`.
import { Command } from 'commander';
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { intArg, floatArg } from './args.js';
import { LIGHT_DECODER, SEGMENTER_ARCHS, type SegmenterArch } from '../engine/segmentation/segmenter.js';
import { loadSamples } from '../app/lungs/lungData.js';
import { trainSegmenter } from '../app/lungs/trainSegmenter.js';
import { evaluateSegmenter } from '../app/lungs/evaluateSegmenter.js';
import { writeFileAtomic } from '../util/atomicWrite.js';
import { DEFAULT_PRETRAINED, precisionArg, threads, readData, limitPerSource, printSummary, commonLungOptions } from './lungsArgs.js';

export function registerLungsTrain(lungs: Command): void {
  commonLungOptions(lungs.command('train').description('train a segmenter on the train patients of every source, then evaluate on the held-out ones'))
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
}
