// `cxrtune evaluate`: metrics with 95 % intervals on any manifest. User mistakes end in one
// line on stderr and exit code 1 (main.ts prints it); --json prints the result on stdout.
import type { Command } from 'commander';
import { formatDuration } from '../util/progressLine.js';
import { evaluate } from '../app/evaluate/evaluate.js';
import { formatEvaluation } from '../app/evaluate/formatEvaluation.js';
import { BOOTSTRAP_RESAMPLES } from '../recipe/bootstrap.js';
import { act } from './act.js';
import {
  backendOption,
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
import { launchOrJoin } from './distributedLaunch.js';
import { targetSensitivityRefusal, thresholdOption } from './thresholdOption.js';
import { countProgress } from './progress.js';

const progress = (what: string, quiet: boolean) => (quiet ? undefined : countProgress(what, true));

export function registerEvaluateCommand(program: Command): void {
  program
    .command('evaluate')
    .description(
      'score a model on a manifest (validation, test or external set): metrics with 95 % intervals → ' +
        'metrics.json, predictions.csv, confusion/ROC/PR/reliability SVGs',
    )
    .addOption(modelOption('run folder (uses checkpoints/best) or checkpoint folder', { required: true }))
    .addOption(manifestOption('manifest to evaluate (any: the training one, or an external set)', { required: true }))
    .addOption(splitOption("split to evaluate, or 'all' (default: test if present, else valid, else every row)"))
    .requiredOption('--out <dir>', 'output folder')
    .addOption(
      thresholdOption('evaluate', {
        where: 'this set (its figures are then optimistic)',
        byDefault: "keep, the checkpoint's",
      }),
    )
    .addOption(targetSensitivityRefusal())
    .addOption(
      intOption(
        '--bootstrap <n>',
        `bootstrap resamples for the AUC interval (default ${BOOTSTRAP_RESAMPLES}; 0 = none)`,
      ),
    )
    .addOption(intOption('--bins <n>', 'reliability bins (default 10)'))
    .addOption(seedOption('bootstrap seed (default 0)'))
    .option(
      '--allow-train-overlap',
      'evaluate even if the set shares patients with the training split (the result says so)',
    )
    .addOption(precisionOption('inference precision (default fp32)'))
    .addOption(batchOption('batch size (default 16)'))
    .addOption(threadsOption({ workers: true }))
    .addOption(lungsOption('a lung-cropping model finds the lung box of each row without a lung mask'))
    .addOption(
      intOption(
        '--nproc <n>',
        'data parallel: N local worker processes each predict a share of the rows (c10d, torchrun-compatible)',
      ),
    )
    .addOption(backendOption())
    .option('--name <text>', 'name of this set in plots and the report')
    .addOption(jsonOption('print metrics.json on stdout'))
    .addOption(quietOption())
    .addHelpText(
      'after',
      '\nExamples:\n  cxrtune evaluate --model runs/r18 --manifest data/manifest.csv --split valid ' +
        '--out runs/r18/eval-valid\n  cxrtune evaluate --model runs/r18 --manifest ' +
        'external/manifest.csv --split all --out runs/r18/eval-external --name "hospital B"',
    )
    .action(
      act(async (o: EvaluateFlags) => {
        const lj = await launchOrJoin({ nproc: o.nproc, backend: o.backend });
        if (lj.launched) {
          process.exitCode = lj.exitCode;
          return;
        }
        const group = lj.group;
        if (group && !group.isMain) o.quiet = true;
        const e = await evaluate({
          model: o.model,
          manifest: o.manifest,
          split: o.split,
          out: o.out,
          threshold: o.threshold,
          bootstrap: o.bootstrap,
          bins: o.bins,
          seed: o.seed,
          allowTrainOverlap: Boolean(o.allowTrainOverlap),
          precision: o.precision,
          batch: o.batch,
          threads: o.threads,
          ...(o.lungs ? { lungs: o.lungs } : {}),
          name: o.name,
          onProgress: progress('evaluate', Boolean(o.quiet || o.json)),
          ...(group ? { group } : {}),
        });
        if (group && !group.isMain) return; // rank 0 reports
        if (o.json) process.stdout.write(json(e));
        else
          process.stdout.write(
            `${formatEvaluation(e)}\nwrote ${e.files.metrics}, ${e.files.predictions} and plots ` +
              `(${formatDuration(e.seconds)})\n`,
          );
        if (e.overlap.sharedPatients > 0) process.stderr.write(`warning: ${e.overlap.note}\n`);
      }),
    );
}

type EvaluateFlags = Omit<Parameters<typeof evaluate>[0], 'onProgress' | 'group' | 'allowTrainOverlap'> & {
  allowTrainOverlap?: boolean;
  nproc?: number;
  backend?: string;
  json?: boolean;
  quiet?: boolean;
};
