// `cxrtune lungs bench`.
import type { Command } from 'commander';
import { act } from './act.js';
import { intOption, jsonOption, modelOption, precisionOption, sizeOption, threadsOption } from './options.js';
import { Model } from '../engine/model.js';
import { SEGMENTER_ARCHS, type SegmenterArch } from '../engine/segmentation/segmenter.js';
import { loadSegmenter } from '../engine/segmentation/segmenterCheckpoint.js';
import { benchSegmenter } from '../bench/segmenterBench.js';
import { threads, requireModel } from './lungsArgs.js';

export function registerLungsBench(lungs: Command): void {
  lungs
    .command('bench')
    .description('segmenter inference ms per image (batch 1), median and spread of --runs calls')
    .addOption(
      modelOption('segmenter checkpoint (default: an untrained --arch with the light decoder)', { arg: 'dir' }),
    )
    .option('--arch <name>', `without --model (${SEGMENTER_ARCHS.join(', ')})`, 'unet_mobilenet_v2')
    .addOption(sizeOption('input side', 256))
    .addOption(intOption('--runs <n>', 'timed calls', { min: 1, def: 50 }))
    .addOption(precisionOption('fp32 or bf16', 'fp32'))
    .addOption(threadsOption())
    .option('--channels-last', 'channels_last memory format')
    .addOption(jsonOption())
    .action(
      act(async (o) => {
        const t = threads(o.threads);
        const cl = o.channelsLast ? { channelsLast: true } : {};
        const model = o.model
          ? (await loadSegmenter(requireModel(o.model), cl)).model
          : await Model.create({ task: 'segment', arch: o.arch as SegmenterArch, ...cl });
        const r = await benchSegmenter(model, { size: o.size, runs: o.runs, precision: o.precision, threads: t });
        if (o.json) console.log(JSON.stringify(r));
        else
          console.log(
            `${model.spec.arch} [${model.spec.decoderChannels}] ${r.size}px ` +
              `${r.precision}${o.channelsLast ? ' channels_last' : ''} ${t} threads: median ` +
              `${r.medianMs.toFixed(1)} ms/image (p10 ${r.p10Ms.toFixed(1)}, p90 ` +
              `${r.p90Ms.toFixed(1)}, min ${r.minMs.toFixed(1)}, max ${r.maxMs.toFixed(1)}; ${r.runs} ` +
              `runs)`,
          );
      }),
    );
}
