// `cxrtune lr-find`: the LR range test (the paper's Fig. 7) on the model `train` would build.
// Flags left out fall back to --config FILE, then to train's defaults (app/trainConfig.ts).
import type { Command } from 'commander';
import { ARCHS } from '../engine/types.js';
import { formatDuration } from '../util/progressLine.js';
import { FLAT_DEFAULTS, mergeTrainConfig } from '../app/train/trainConfig.js';
import { runLrFind, type LrSweepOptions } from '../app/train/lrFind.js';
import { act } from './act.js';
import { flagsToConfig, readConfigFile, sharedTrainOptions } from './trainArgs.js';
import { choiceOption, intOption, jsonOption, manifestOption, numOption, quietOption } from './options.js';
import { overwrite } from '../util/progressLine.js';

const SWEEP_KEYS = ['start', 'end', 'iterations', 'suggestion', 'momentum'];

export function registerLrFindCommand(program: Command): void {
  const d = FLAT_DEFAULTS;
  const t = sharedTrainOptions(d);
  program
    .command('lr-find')
    .description(
      "LR range test (the paper's Fig. 7): sweep the LR exponentially, record the smoothed loss, " +
        "suggest (α_min, α_max); writes lr_find.json and lr_find.svg. The model's weights are restored " +
        'afterwards.',
    )
    .addOption(manifestOption('dataset manifest (trains on its train split)'))
    .addOption(t.arch())
    .addOption(t.pretrained())
    .option('--out <dir>', 'output folder for lr_find.json and lr_find.svg')
    .option('--config <file>', 'JSON file with any of these options (camelCase keys); flags override it')
    .addOption(t.size())
    .addOption(t.fit())
    .addOption(t.equalize())
    .addOption(t.crop())
    .addOption(t.cropMargin())
    .addOption(t.standardize())
    .addOption(t.batch())
    .addOption(numOption('--start <lr>', 'first LR (default 1e-7)'))
    .addOption(numOption('--end <lr>', 'last LR (default 10)'))
    .addOption(intOption('--iterations <n>', 'sweep length (default 100)'))
    .addOption(
      choiceOption('--suggestion <kind>', 'which suggestion becomes α_max (default steepest)', [
        'steepest',
        'valley',
        'minimumDiv10',
      ]),
    )
    .addOption(t.optimizer())
    .addOption(
      numOption(
        '--momentum <m>',
        `momentum / Adam β1 during the sweep (default ${d.momMax}: train's --mom-max, where its cycle starts)`,
      ),
    )
    .addOption(t.wd())
    .addOption(t.precision())
    .addOption(t.mode())
    .addOption(t.bn())
    .addOption(t.unfoldBn())
    .addOption(t.aug())
    .addOption(t.balanced())
    .addOption(t.seed())
    .addOption(t.device())
    .addOption(t.threads())
    .addOption(jsonOption('print the result as JSON on stdout'))
    .addOption(quietOption())
    .addHelpText(
      'after',
      '\nExample:\n  cxrtune lr-find --manifest data/manifest.csv --arch resnet18 --size 128 --out runs/lr',
    )
    .action(
      act(async (o: Record<string, unknown>) => {
        const file = o.config ? readConfigFile(String(o.config)) : {};
        // The sweep's own keys (from the file, then the flags), and the TrainConfig settings train
        // reads (--bn → batchNorm …; the file in either form).
        const part = (src: Record<string, unknown>, sweep: boolean) =>
          Object.fromEntries(
            Object.entries(src).filter(([k, v]) => v !== undefined && SWEEP_KEYS.includes(k) === sweep),
          );
        const sweep = { ...part(file, true), ...part(o, true) } as LrSweepOptions;
        const settings = mergeTrainConfig(part(file, false), flagsToConfig(o));
        const { manifest, arch, out } = settings;
        if (!manifest) throw new Error('--manifest is required');
        if (!arch) throw new Error(`--arch is required (${ARCHS.join(', ')})`);
        if (!out) throw new Error('--out is required');
        if (settings.compute?.precision === 'fp16' && !String(settings.compute.device ?? 'cpu').startsWith('cuda'))
          throw new Error('--precision fp16 needs a CUDA device (--device cuda:0); on CPU use bf16 or fp32');
        const tty = Boolean(process.stderr.isTTY);
        const quiet = Boolean(o.quiet);
        const r = await runLrFind({
          ...settings,
          ...sweep,
          manifest,
          arch,
          out,
          log: (m) => {
            if (!quiet) process.stderr.write(`${m}\n`);
          },
          onStep:
            quiet || !tty
              ? undefined
              : ({ i, lr, smoothed }) =>
                  process.stderr.write(
                    overwrite(
                      `lr-find ${i + 1}/${sweep.iterations ?? 100} lr ${lr.toExponential(2)} ` +
                        `loss ${smoothed.toFixed(4)}`,
                    ),
                  ),
        });
        if (tty && !quiet) process.stderr.write(overwrite(''));
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
              `suggestions: steepest ${res.suggestions.steepest.toExponential(2)}  valley ` +
                `${res.suggestions.valley.toExponential(2)}  minimum/10 ` +
                `${res.suggestions.minimumDiv10.toExponential(2)}`,
              `proposed: --lr-min ${res.proposed.lrMin.toExponential(1)} --lr-max ` +
                `${res.proposed.lrMax.toExponential(1)}  (${res.proposed.by})`,
              `wrote ${r.files.json} and ${r.files.svg}`,
            ].join('\n')}\n`,
          );
        }
      }),
    );
}
