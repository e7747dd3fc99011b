// `cxrtune lr-find`: the LR range test (the paper's Fig. 7) on the model `train` would build.
// Flags left out fall back to --config FILE, then to train's defaults (app/trainConfig.ts).
import type { Command } from 'commander';
import { ARCHS } from '../engine/types.js';
import { CROP_MODES, EQUALIZE_MODES, FITS, STANDARDIZE_MODES } from '../engine/preprocessing.js';
import { TRANSFER_MODES } from '../recipe/transfer.js';
import { formatDuration } from '../util/progressLine.js';
import { DEFAULTS } from '../app/train/trainConfig.js';
import { runLrFind, type LrFindRunOptions } from '../app/train/lrFind.js';
import { act } from './act.js';
import { choice, flagsToConfig, int, num, readConfigFile } from './trainArgs.js';

export function registerLrFindCommand(program: Command): void {
  const d = DEFAULTS;
  program
    .command('lr-find')
    .description(
      "LR range test (the paper's Fig. 7): sweep the LR exponentially, record the smoothed loss, suggest (α_min, α_max); writes lr_find.json and lr_find.svg. The model's weights are restored afterwards.",
    )
    .option('--manifest <csv>', 'dataset manifest (trains on its train split)')
    .addOption(choice('--arch <name>', 'architecture', ARCHS))
    .option(
      '--pretrained <file|dir|hub-id>',
      'pretrained weights: safetensors, a PyTorch .pth (read safely, never unpickled into code), a folder holding one, or a Hugging Face id in the local cache (e.g. timm/resnet50.tv_in1k; see cxrtune weights)',
    )
    .option('--out <dir>', 'output folder for lr_find.json and lr_find.svg')
    .option('--config <file>', 'JSON file with any of these options (camelCase keys); flags override it')
    .option('--size <px>', `image side (default ${d.size})`, int)
    .addOption(choice('--fit <mode>', `letterbox | crop | stretch, as train (default ${d.fit})`, FITS))
    .addOption(choice('--equalize <mode>', `none | hist | clahe, as train (default ${d.equalize})`, EQUALIZE_MODES))
    .addOption(choice('--crop <mode>', `none | lungs, as train (default ${d.crop})`, CROP_MODES))
    .option('--crop-margin <f>', `margin around the lung box, as train (default ${d.cropMargin})`, num)
    .addOption(choice('--standardize <mode>', `none | image, as train (default ${d.standardize})`, STANDARDIZE_MODES))
    .option('--batch <n>', `batch size (default ${d.batch})`, int)
    .option('--start <lr>', 'first LR (default 1e-7)', num)
    .option('--end <lr>', 'last LR (default 10)', num)
    .option('--iterations <n>', 'sweep length (default 100)', int)
    .addOption(
      choice('--suggestion <kind>', 'which suggestion becomes α_max (default steepest)', [
        'steepest',
        'valley',
        'minimumDiv10',
      ]),
    )
    .addOption(choice('--optimizer <kind>', `optimizer (default ${d.optimizer})`, ['sgd', 'adam', 'adamw']))
    .option(
      '--momentum <m>',
      `momentum / Adam β1 during the sweep (default ${d.momMax}: train's --mom-max, where its cycle starts)`,
      num,
    )
    .option('--wd <w>', `weight decay (default ${d.wd})`, num)
    .addOption(choice('--precision <p>', 'fp32 | bf16 | fp16 (CUDA) (default fp32)', ['fp32', 'bf16', 'fp16']))
    .addOption(choice('--mode <m>', 'transfer mode whose trainable set is swept (default finetune)', TRANSFER_MODES))
    .addOption(choice('--bn <mode>', 'BatchNorm mode (default train)', ['train', 'eval', 'frozen']))
    .addOption(choice('--unfold-bn <when>', 'unfold folded BatchNorm first (default auto)', ['auto', 'on', 'off']))
    .option('--aug <what>', 'none | online | robust | online+robust | OFFLINE_MANIFEST, as train (default none)')
    .option('--balanced', 'class-balanced sampler')
    .option('--seed <n>', 'seed (default 0)', int)
    .option('--device <dev>', 'cpu or cuda:N (default cpu)')
    .option('--threads <n>', 'CPU threads (default: physical cores)', int)
    .option('--json', 'print the result as JSON on stdout')
    .option('--quiet', 'no progress on stderr')
    .addHelpText(
      'after',
      '\nExample:\n  cxrtune lr-find --manifest data/manifest.csv --arch resnet18 --size 128 --out runs/lr',
    )
    .action(
      act(async (o: Record<string, unknown>) => {
        const file = o.config ? readConfigFile(String(o.config)) : {};
        // The sweep's own keys, then the TrainConfig keys train reads (--bn → batchNorm …).
        const sweep = Object.fromEntries(
          ['start', 'end', 'iterations', 'suggestion', 'momentum'].flatMap((k) =>
            o[k] !== undefined ? [[k, o[k]]] : [],
          ),
        );
        const opts = { ...file, ...flagsToConfig(o), ...sweep } as Record<string, unknown>;
        if (!opts.manifest) throw new Error('--manifest is required');
        if (!opts.arch) throw new Error(`--arch is required (${ARCHS.join(', ')})`);
        if (!opts.out) throw new Error('--out is required');
        if (opts.precision === 'fp16' && !String(opts.device ?? 'cpu').startsWith('cuda'))
          throw new Error('--precision fp16 needs a CUDA device (--device cuda:0); on CPU use bf16 or fp32');
        const tty = Boolean(process.stderr.isTTY);
        const quiet = Boolean(o.quiet);
        const r = await runLrFind({
          ...(opts as unknown as LrFindRunOptions),
          log: (m) => {
            if (!quiet) process.stderr.write(`${m}\n`);
          },
          onStep:
            quiet || !tty
              ? undefined
              : ({ i, lr, smoothed }) =>
                  process.stderr.write(
                    `\r\x1b[Klr-find ${i + 1}/${(opts.iterations as number) ?? 100} lr ${lr.toExponential(2)} loss ${smoothed.toFixed(4)}`,
                  ),
        });
        if (tty && !quiet) process.stderr.write('\r\x1b[K');
        const res = r.result;
        if (o.json) {
          process.stdout.write(
            `${JSON.stringify({ ...res, files: r.files, seconds: r.seconds }, (_k, v) =>
              typeof v === 'number' && !Number.isFinite(v) ? null : v,
            )}\n`,
          );
        } else {
          process.stdout.write(
            `${[
              `lr-find: ${res.lrs.length} iterations (${res.stopped}), ${formatDuration(r.seconds)}`,
              `suggestions: steepest ${res.suggestions.steepest.toExponential(2)}  valley ${res.suggestions.valley.toExponential(2)}  minimum/10 ${res.suggestions.minimumDiv10.toExponential(2)}`,
              `proposed: --lr-min ${res.proposed.lrMin.toExponential(1)} --lr-max ${res.proposed.lrMax.toExponential(1)}  (${res.proposed.by})`,
              `wrote ${r.files.json} and ${r.files.svg}`,
            ].join('\n')}\n`,
          );
        }
      }),
    );
}
