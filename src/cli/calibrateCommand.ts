// `cxrtune calibrate`: temperature or Platt scaling on a site's labelled sample → a new
// checkpoint (app/calibrate.ts); --method none only chooses the threshold (on a
// source-held-out validation split). User mistakes end in one line (main.ts prints it).
import { type Command, Option } from 'commander';
import { calibrate } from '../app/evaluate/calibrate.js';
import { CALIBRATE_METHODS } from '../app/evaluate/calibrateRecord.js';
import { formatCalibration } from '../app/evaluate/formatCalibration.js';
import { act } from './act.js';
import {
  batchOption,
  intOption,
  jsonOption,
  manifestOption,
  modelOption,
  precisionOption,
  quietOption,
  seedOption,
  splitOption,
  threadsOption,
  lungsOption,
} from './options.js';
import { jsonOut as json } from './jsonOut.js';
import { thresholdOption } from './thresholdOption.js';
import { countProgress } from './progress.js';

export function registerCalibrateCommand(program: Command): void {
  program
    .command('calibrate')
    .description(
      "recalibrate a model on a site's own small labelled sample (temperature or Platt scaling) and " +
        'choose its decision threshold by an explicit rule → a new checkpoint folder (same weights, ' +
        'model.json records the calibration), sensitivity/specificity per source before and after',
    )
    .addOption(modelOption('run folder (uses checkpoints/best) or checkpoint folder', { required: true }))
    .addOption(
      manifestOption("the site's labelled sample (both classes), or a source-held-out validation manifest", {
        required: true,
      }),
    )
    .addOption(splitOption("split to fit on, or 'all' (default: test if present, else valid, else every row)"))
    .addOption(
      new Option(
        '--method <m>',
        'temperature (one scale, keeps the ranking), platt (scale + shift of the log-odds), or none (threshold only)',
      )
        .choices([...CALIBRATE_METHODS])
        .makeOptionMandatory(),
    )
    .addOption(
      thresholdOption('calibrate', {
        where: 'the sample, after calibration (keep reads the old value as a risk level on the new scale)',
        byDefault: 'keep; youden with --method none',
      }),
    )
    .option('--no-smooth', "Platt: fit the 0/1 labels instead of Platt's smoothed targets")
    .addOption(
      intOption(
        '--fit-sample <n>',
        'fit on a seeded draw of about N images of the split (by patient, stratified by label) and hold the ' +
          'rest apart: calibration.json reports them before and after (heldApart) and held-apart.csv lists them ' +
          'for evaluate',
        { min: 2 },
      ),
    )
    .addOption(seedOption('seed of the --fit-sample draw (default 0)'))
    .option('--by <column>', 'report sensitivity/specificity for each value of this manifest column (default source)')
    .requiredOption('--out <dir>', 'new checkpoint folder (must not exist or be empty)')
    .addOption(precisionOption('inference precision (default fp32)'))
    .addOption(batchOption('batch size (default 16)'))
    .addOption(threadsOption())
    .addOption(lungsOption('a lung-cropping model finds the lung box of each row without a lung mask'))
    .addOption(jsonOption('print calibration.json on stdout'))
    .addOption(quietOption())
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  cxrtune calibrate --model runs/m --manifest data/by-site/manifest.csv --split valid --method none ' +
          '--threshold youden --out runs/m/held-out-threshold',
        '  cxrtune calibrate --model runs/m/held-out-threshold --manifest site-b/manifest.csv --split all ' +
          '--method platt --out runs/m/site-b',
        '  cxrtune calibrate --model runs/tb --manifest montgomery/manifest.csv --method platt ' +
          '--threshold sensitivity:0.9 --fit-sample 30 --out runs/tb/montgomery   # the rest held apart',
        '',
        "Every consumer (evaluate, explain, audit, serve, pacs) applies model.json's calibration to the probabilities.",
      ].join('\n'),
    )
    .action(
      act(async (o: CalibrateFlags) => {
        const quiet = Boolean(o.quiet || o.json) || !process.stderr.isTTY;
        const r = await calibrate({
          model: o.model,
          manifest: o.manifest,
          split: o.split,
          method: o.method,
          threshold: o.threshold,
          smooth: o.smooth !== false,
          by: o.by,
          ...(o.fitSample !== undefined ? { fitSample: o.fitSample, seed: o.seed ?? 0 } : {}),
          out: o.out,
          precision: o.precision,
          batch: o.batch,
          threads: o.threads,
          ...(o.lungs ? { lungs: o.lungs } : {}),
          ...(quiet ? {} : { onProgress: countProgress('calibrate') }),
        });
        process.stdout.write(o.json ? json(r) : `${formatCalibration(r)}\n`);
      }),
    );
}

type CalibrateFlags = Omit<Parameters<typeof calibrate>[0], 'onProgress' | 'smooth'> & {
  smooth?: boolean;
  json?: boolean;
  quiet?: boolean;
};
