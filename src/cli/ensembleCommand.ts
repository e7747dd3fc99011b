// `cxrtune ensemble RUN… --out DIR`: trained models as one model folder (app/ensemble/ensemble.ts)
// that every consumer takes as it takes a single model.
import type { Command } from 'commander';
import { ensemble } from '../app/ensemble/ensemble.js';
import { act } from './act.js';
import { jsonOut as json } from './jsonOut.js';
import {
  batchOption,
  jsonOption,
  lungsOption,
  manifestOption,
  precisionOption,
  quietOption,
  splitOption,
  threadsOption,
} from './options.js';
import { countProgress } from './progress.js';
import { thresholdOption } from './thresholdOption.js';

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

export function registerEnsembleCommand(program: Command): void {
  program
    .command('ensemble')
    .description(
      'several trained models (seeds, snapshots) as one model folder: members pinned by path and weights ' +
        'SHA-256, the mean of their probabilities, its own threshold chosen on the averaged validation ' +
        'predictions; evaluate, explain, audit, calibrate, serve and pacs follow take it like one model',
    )
    .argument('<runs...>', 'run folders (best, else last checkpoint) or checkpoint folders, at least two')
    .requiredOption('--out <dir>', 'the ensemble folder to write (new or empty)')
    .addOption(
      thresholdOption('ensemble', {
        where: 'the validation predictions of the averaged model',
        byDefault: 'the rule the members were trained with',
      }),
    )
    .addOption(manifestOption("where the threshold is chosen (default: the members' training manifest)"))
    .addOption(splitOption("its split (default: the members' validation split; with --manifest: valid)"))
    .addOption(lungsOption('lung boxes of rows without lung_mask, when the members carry no segmenter'))
    .addOption(precisionOption('inference precision (default fp32)'))
    .addOption(batchOption('batch size (default 16)'))
    .addOption(threadsOption())
    .addOption(jsonOption('print the result as JSON'))
    .addOption(quietOption())
    .addHelpText(
      'after',
      '\nExample:\n  cxrtune ensemble runs/seed0 runs/seed1 runs/seed2 --out runs/ensemble3\n' +
        '  cxrtune evaluate --model runs/ensemble3 --manifest external/manifest.csv --split all --out ' +
        'runs/ensemble3/eval-external',
    )
    .action(
      act(async (runs: string[], o: EnsembleFlags) => {
        const quiet = Boolean(o.quiet || o.json) || !process.stderr.isTTY;
        const r = await ensemble({
          runs,
          out: o.out,
          ...(o.threshold !== undefined ? { threshold: o.threshold } : {}),
          ...(o.manifest ? { manifest: o.manifest } : {}),
          ...(o.split !== undefined ? { split: o.split } : {}),
          ...(o.lungs ? { lungs: o.lungs } : {}),
          ...(o.precision ? { precision: o.precision } : {}),
          ...(o.batch ? { batch: o.batch } : {}),
          threads: o.threads ?? null,
          ...(quiet ? {} : { onProgress: countProgress('ensemble') }),
        });
        if (o.json) process.stdout.write(json(r));
        else
          process.stdout.write(
            `${r.dir}: ensemble of ${r.members.length} (${r.members.map((m) => m.arch).join(', ')}), ` +
              `sha256 ${r.weightsSha256.slice(0, 12)}\n` +
              `threshold ${Number(r.threshold.toFixed(4))} (${r.thresholdRule}) on ${r.chosenOn.manifest} ` +
              `[${r.chosenOn.split}], ${r.chosenOn.n} images, ${r.validation.protocol.toUpperCase()}: AUC ` +
              `${r.validation.auc.toFixed(3)}, sensitivity ${pct(r.validation.sensitivity)}, specificity ` +
              `${pct(r.validation.specificity)}\n`,
          );
      }),
    );
}

interface EnsembleFlags {
  out: string;
  threshold?: number | string;
  manifest?: string;
  split?: string;
  lungs?: string;
  precision?: 'fp32' | 'bf16' | 'fp16';
  batch?: number;
  threads?: number | null;
  json?: boolean;
  quiet?: boolean;
}
