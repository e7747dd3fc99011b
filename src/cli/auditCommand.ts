// `cxrtune audit`: the shortcut audit (app/audit.ts). Prints one verdict line per test;
// --json prints audit.json. Exit code 0 whatever the verdict (a flag is a finding, not an error).
import type { Command } from 'commander';
import { formatDuration } from '../util/progressLine.js';
import { audit } from '../app/interpret/audit.js';
import { act } from './act.js';
import { jsonOut as json } from './jsonOut.js';
import {
  batchOption,
  intOption,
  jsonOption,
  manifestOption,
  modelOption,
  quietOption,
  seedOption,
  splitOption,
  threadsOption,
  lungsOption,
} from './options.js';
import { BOOTSTRAP_RESAMPLES } from '../recipe/bootstrap.js';
import { countProgress } from './progress.js';

export function registerAuditCommand(program: Command): void {
  program
    .command('audit')
    .description(
      "shortcut audit: does the model read the lungs or the image's provenance? frame-only and " +
        'lungs-out AUC, a source probe on its features, a metadata-only baseline, per-source and ' +
        'leave-one-source-out metrics, each with a 95 % interval and a verdict → audit.json, SVGs, a ' +
        'report section',
    )
    .addOption(modelOption('run folder (uses checkpoints/best) or checkpoint folder', { required: true }))
    .addOption(
      manifestOption(
        'manifest to audit (lung masks are used from a lung_mask or masks column, else a fixed central box)',
        { required: true },
      ),
    )
    .addOption(splitOption("split to audit, or 'all' (default: test if present, else valid, else every row)"))
    .option('--out <dir>', 'output folder (default RUN/audit, which cxrtune report picks up)')
    .addOption(
      intOption('--bootstrap <n>', `bootstrap resamples for the AUC intervals (default ${BOOTSTRAP_RESAMPLES})`),
    )
    .addOption(
      intOption(
        '--folds <k>',
        'cross-validation folds of the source probe and metadata baseline (default 5, grouped by patient)',
      ),
    )
    .option(
      '--layer <name>',
      "block whose pooled activations the source probe reads (default: the network's last block)",
    )
    .addOption(seedOption('seed for folds and bootstrap (default 0)'))
    .addOption(batchOption('batch size (default 16)'))
    .addOption(threadsOption())
    .addOption(lungsOption('a lung-cropping model finds the lung box of each row without a lung mask'))
    .addOption(jsonOption('print audit.json on stdout'))
    .addOption(quietOption())
    .addHelpText(
      'after',
      '\nExamples:\n  cxrtune audit --model runs/r18 --manifest data/manifest.csv --split valid\n  ' +
        'cxrtune audit --model runs/r18 --manifest external/manifest.csv --split all --out ' +
        'runs/r18/audit-external\n\nVerdicts: FLAG = evidence of a shortcut; WARN = inconclusive or ' +
        'partial; PASS. Thresholds: src/recipe/shortcutAudit.ts.',
    )
    .action(
      act(async (o: AuditFlags) => {
        const quiet = Boolean(o.quiet || o.json) || !process.stderr.isTTY;
        const r = await audit({
          model: o.model,
          manifest: o.manifest,
          split: o.split,
          out: o.out,
          bootstrap: o.bootstrap,
          folds: o.folds,
          layer: o.layer,
          seed: o.seed,
          batch: o.batch,
          threads: o.threads,
          ...(o.lungs ? { lungs: o.lungs } : {}),
          ...(quiet ? {} : { onProgress: countProgress('audit') }),
        });
        if (o.json) process.stdout.write(json(r));
        else
          process.stdout.write(
            `${r.lines.join('\n')}\nwrote ${r.files.json} and plots (${formatDuration(r.seconds)})\n`,
          );
      }),
    );
}

type AuditFlags = Omit<Parameters<typeof audit>[0], 'onProgress'> & { json?: boolean; quiet?: boolean };
