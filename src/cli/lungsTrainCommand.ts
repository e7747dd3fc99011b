// `cxrtune lungs train`.
import type { Command } from 'commander';
import { act } from './act.js';
import { batchOption, intOption, numOption, precisionOption, sizeOption } from './options.js';
import { LIGHT_DECODER, SEGMENTER_ARCHS, type SegmenterArch } from '../engine/segmentation/segmenter.js';
import { trainLungs } from '../app/lungs/trainLungs.js';
import { DEFAULT_PRETRAINED, threads, printSummary, commonLungOptions } from './lungsArgs.js';

export function registerLungsTrain(lungs: Command): void {
  commonLungOptions(
    lungs
      .command('train')
      .description('train a segmenter on the train patients of every source, then evaluate on the held-out ones'),
  )
    .requiredOption(
      '--out <dir>',
      'checkpoint folder (model.json with task "segmentation", model.safetensors, eval.json)',
    )
    .option('--arch <name>', `segmenter (${SEGMENTER_ARCHS.join(', ')})`, 'unet_mobilenet_v2')
    .addOption(sizeOption('input side (multiple of 32)', 256))
    .addOption(intOption('--epochs <n>', 'epochs', { def: 10 }))
    .addOption(batchOption('batch size', 8))
    .addOption(numOption('--lr <x>', 'peak learning rate of the decoder (encoder: 0.3×)', { def: 1e-3 }))
    .addOption(precisionOption('fp32 or bf16 (fp16 on CUDA)', 'fp32'))
    .option(
      '--pretrained <file>',
      'torchvision ImageNet weights of the encoder ("none" for random; default: ../shared/pretrained ' +
        'MobileNetV2 for unet_mobilenet_v2)',
    )
    .option('--decoder <list>', 'decoder channels, 5 comma-separated, deepest first', LIGHT_DECODER.join(','))
    .option('--no-augment', 'no online augmentation')
    .option('--no-evaluate', 'skip the held-out evaluation')
    .option(
      '--resume',
      "continue the stopped run in --out from its last epoch (the same settings; the encoder's weights " +
        'come from the checkpoint)',
    )
    .action(
      act(async (o) => {
        const dec = String(o.decoder).split(',').map(Number);
        if (!SEGMENTER_ARCHS.includes(o.arch))
          throw new Error(`unknown segmenter architecture '${o.arch}' (known: ${SEGMENTER_ARCHS.join(', ')})`);
        const pretrained =
          o.pretrained === 'none' || o.resume
            ? undefined
            : (o.pretrained ?? (o.arch === 'unet_mobilenet_v2' ? DEFAULT_PRETRAINED() : undefined));
        const r = await trainLungs({
          data: o.data,
          out: o.out,
          size: o.size,
          epochs: o.epochs,
          batch: o.batch,
          lr: o.lr,
          precision: o.precision,
          arch: o.arch as SegmenterArch,
          decoder: dec,
          augment: o.augment,
          seed: o.seed,
          testFraction: o.testFraction,
          ...(o.covidImages ? { covidImages: o.covidImages } : {}),
          ...(o.sources ? { sources: o.sources } : {}),
          ...(o.limit ? { limit: o.limit } : {}),
          ...(pretrained ? { pretrained } : {}),
          evaluate: o.evaluate,
          ...(o.resume ? { resume: true } : {}),
          threads: threads(o.threads),
        });
        if (r.heldOut) printSummary(r.heldOut);
      }),
    );
}
