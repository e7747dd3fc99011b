// `cxrtune lungs bench`.
import type { Command } from 'commander';
import { intArg } from './args.js';
import { Model } from '../engine/model.js';
import { SEGMENTER_ARCHS, type SegmenterArch } from '../engine/segmentation/segmenter.js';
import { loadSegmenter } from '../engine/segmentation/segmenterCheckpoint.js';
import { benchSegmenter } from '../bench/segmenterBench.js';
import { precisionArg, threads, requireModel } from './lungsArgs.js';

export function registerLungsBench(lungs: Command): void {
  lungs
    .command('bench')
    .description('segmenter inference ms per image (batch 1), median and spread of --runs calls')
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
      const model = o.model
        ? (await loadSegmenter(requireModel(o.model), cl)).model
        : await Model.create({ task: 'segment', arch: o.arch as SegmenterArch, ...cl });
      const r = await benchSegmenter(model, { size: o.size, runs: o.runs, precision: o.precision, threads: t });
      if (o.json) console.log(JSON.stringify(r));
      else
        console.log(
          `${model.spec.arch} [${model.spec.decoderChannels}] ${r.size}px ${r.precision}` +
            `${o.channelsLast ? ' channels_last' : ''} ${t} threads: median ${r.medianMs.toFixed(1)} ms/image ` +
            `(p10 ${r.p10Ms.toFixed(1)}, p90 ${r.p90Ms.toFixed(1)}, min ${r.minMs.toFixed(1)}, ` +
            `max ${r.maxMs.toFixed(1)}; ${r.runs} runs)`,
        );
    });
}
