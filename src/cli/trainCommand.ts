// `cxrtune train`. Flags left out fall back to --config FILE, then to the --preset, then to the
// defaults (so commander gets no defaults of its own: "not given" must stay distinguishable).
import type { Command } from 'commander';
import { SCHEDULE_KINDS } from '../recipe/schedules.js';
import { MONITORS } from '../recipe/validationMetrics.js';
import { ProgressBar } from '../recipe/progressBar.js';
import { formatDuration } from '../util/progressLine.js';
import type { TrainerCallback } from '../recipe/callbacks.js';
import { PRESETS } from '../app/train/presets.js';
import { FLAT_DEFAULTS, resolveTrainConfig } from '../app/train/trainConfig.js';
import { continueRun, startRun, type PreparedRun, type RunSummary } from '../app/train/experiment.js';
import { act } from './act.js';
import { launchOrJoin } from './distributedLaunch.js';
import { formatThresholdSummary } from '../app/train/trainThreshold.js';
import { thresholdOption } from './thresholdOption.js';
import { classWeightsArg, flagsToConfig, groupsArg, readConfigFile, sharedTrainOptions } from './trainArgs.js';
import {
  backendOption,
  choiceOption,
  intOption,
  jsonOption,
  manifestOption,
  numOption,
  quietOption,
} from './options.js';

function printSummary(s: RunSummary): void {
  const f = (x: number | undefined | null) =>
    x === undefined || x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(4);
  const v = s.lastValid;
  const pct = s.schedule.pct !== undefined ? `, pct ${s.schedule.pct.toFixed(3)} (${s.schedule.pctSource})` : '';
  const lines = [
    `run: ${s.runDir} (${s.status}, ${s.epochsDone}/${s.epochs} epochs, ${formatDuration(s.seconds)})`,
    ...(v
      ? [
          `last epoch valid: loss ${f(v.loss)}  accuracy ${f(v.accuracy)}  sensitivity ` +
            `${f(v.sensitivity)}  specificity ${f(v.specificity)}  AUC ${f(v.auc)}`,
        ]
      : []),
    `best ${s.monitor}: ${f(s.best.value)} at epoch ` +
      `${s.best.epoch}${s.best.checkpoint ? ` → ${s.best.checkpoint}` : ''}`,
    `speed: ${Number.isFinite(s.imagesPerSecond) ? s.imagesPerSecond.toFixed(1) : 'n/a'} images/s, ` +
      `${formatDuration(s.secondsPerEpoch)} per epoch, peak RSS ${s.peakRssMiB} MiB`,
    `schedule: ${s.schedule.kind} lr ${s.schedule.lrMin}..${s.schedule.lrMax}, momentum ` +
      `${s.schedule.momMin}..${s.schedule.momMax}${pct}, ${s.groups} group(s)`,
    ...(s.threshold ? formatThresholdSummary(s.threshold) : []),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

function interruptible(): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  const onSig = () => {
    if (ac.signal.aborted) process.exit(130);
    process.stderr.write('\ninterrupt: stopping after this step (press Ctrl-C again to quit at once)\n');
    ac.abort();
  };
  process.on('SIGINT', onSig);
  return { signal: ac.signal, dispose: () => process.off('SIGINT', onSig) };
}

export interface TrainCommandOptions {
  /** Trainer callbacks of the program that embeds the command (after the progress bar), made per run. */
  callbacks?: () => TrainerCallback[];
}

export function registerTrainCommand(program: Command, opts: TrainCommandOptions = {}): void {
  const d = FLAT_DEFAULTS;
  const t = sharedTrainOptions(d);
  program
    .command('train')
    .description(
      'fine-tune a CNN: discriminative per-group LRs on a per-iteration cyclical LR/momentum ' +
        "schedule (the paper's method), or the traditional constant-LR baseline; validation metrics " +
        'each epoch, best checkpoint, early stopping, resume',
    )
    .addOption(manifestOption('dataset manifest (train and valid splits)'))
    .addOption(t.arch())
    .addOption(t.pretrained())
    .option('--out <dir>', 'run folder (config.json, history, schedule trace, checkpoints)')
    .addOption(
      choiceOption(
        '--preset <name>',
        'paper-resnet (α 1e-3..1e-1, m 0.8–0.99), paper-densenet (α 1e-4..1e-2, m 0.79–0.9): paperCycle, Adam(W), ' +
          'wd 0.01, 20 epochs; traditional: constant α/m (1e-3/0.99 ResNet, 1e-4/0.9 DenseNet)',
        PRESETS,
      ),
    )
    .option('--config <file>', "JSON config (e.g. a run's config.json) — flags override it, it overrides the preset")
    .option('--resume <run>', 'continue RUN from its last checkpoint (weights, optimizer, schedule position, RNG)')
    .addOption(
      choiceOption('--schedule <kind>', `LR/momentum schedule per iteration (default ${d.schedule})`, SCHEDULE_KINDS),
    )
    .addOption(numOption('--lr-min <lr>', `α_min: cycle start and first group's LR (default ${d.lrMin})`))
    .addOption(numOption('--lr-max <lr>', `α_max: cycle peak, last group's LR (default ${d.lrMax})`))
    .addOption(numOption('--mom-min <m>', `momentum / Adam β1 low (default ${d.momMin})`))
    .addOption(numOption('--mom-max <m>', `momentum / Adam β1 high (default ${d.momMax})`))
    .addOption(
      choiceOption(
        '--momentum-mode <m>',
        'inverse to the LR (Smith) or with it (Alg. 1 as printed) (default inverse)',
        ['inverse', 'with'],
      ),
    )
    .addOption(
      numOption(
        '--pct <f>',
        'warm-up fraction of the run (default: oneCycle 0.25; paperCycle drawn from [0.5,1) by the seed)',
      ),
    )
    .option('--groups <g>', `discriminative groups: layer | stage | N (default ${d.groups})`, groupsArg)
    .addOption(choiceOption('--spacing <s>', 'LR spacing between groups (default geometric)', ['geometric', 'linear']))
    .addOption(choiceOption('--discriminative <on|off>', 'off: one LR for all groups (default on)', ['on', 'off']))
    .addOption(t.optimizer())
    .addOption(t.wd())
    .addOption(t.mode())
    .addOption(t.bn())
    .addOption(t.unfoldBn())
    .addOption(intOption('--epochs <n>', `epochs (default ${d.epochs})`))
    .addOption(t.batch())
    .addOption(t.size())
    .addOption(t.fit())
    .addOption(t.equalize())
    .addOption(t.crop())
    .option(
      '--lungs <dir>',
      "the lung segmenter (cxrtune lungs train) that made the manifest's lung_mask column: copied into the run, " +
        'so the model crops new images itself and evaluate, explain, audit, serve and pacs follow need only --model',
    )
    .addOption(t.cropMargin())
    .addOption(t.standardize())
    .addOption(t.precision())
    .addOption(t.aug())
    .addOption(t.seed())
    .addOption(
      choiceOption(
        '--monitor <metric>',
        `metric for the best checkpoint and early stopping (default ${d.monitor})`,
        MONITORS,
      ),
    )
    .addOption(intOption('--patience <n>', 'early stopping: epochs without improvement (default 0 = off)'))
    .option('--class-weights <w>', 'none | auto (inverse frequency) | w0,w1,... (default none)', classWeightsArg)
    .addOption(t.balanced())
    .option('--classes <list>', 'class order, comma-separated (default: negatives first, then sorted)')
    .option('--positive <label>', 'positive class for sensitivity/specificity/AUC (default: class 1)')
    .addOption(
      thresholdOption('train', { where: "each kept checkpoint's validation predictions", byDefault: `${d.threshold}` }),
    )
    .addOption(t.device())
    .addOption(t.threads({ workers: true }))
    .addOption(
      intOption(
        '--nproc <n>',
        'data parallel: start N local worker processes (c10d, torchrun-style); --batch is per worker. ' +
          'Started by torchrun (WORLD_SIZE > 1 set), a worker joins that group instead',
      ),
    )
    .addOption(backendOption())
    .option(
      '--sync-bn',
      'data parallel: SyncBatchNorm — training BatchNorm normalises with the mean/variance of the global batch ' +
        "(all workers, as torch.nn.SyncBatchNorm) instead of each worker's --batch; two small all-reduces per " +
        'BatchNorm per step. No effect (a note) with one process or --bn eval|frozen; recorded in config.json and ' +
        'model.json',
    )
    .addOption(jsonOption('print the run summary as JSON on stdout'))
    .addOption(quietOption())
    .addHelpText(
      'after',
      [
        '',
        "Precedence: flags > --config > --preset > defaults. The run folder's config.json reruns it: " +
          'cxrtune train --config RUN/config.json --out RUN2',
        'Examples:',
        '  cxrtune train --manifest data/manifest.csv --arch resnet18 --size 128 --epochs 5 --lr-min ' +
          '1e-4 --lr-max 1e-2 --out runs/r18',
        '  cxrtune train --preset paper-resnet --manifest M --arch resnet50 --pretrained ' +
          'resnet50.safetensors --precision bf16 --out runs/paper',
        '  cxrtune train --resume runs/paper',
        '  cxrtune train --config runs/paper/config.json --threshold youden --out runs/youden   ' +
          '(threshold chosen on the validation split:',
        '      build it with data build --split-by source so it is SOURCE-HELD-OUT; chosen on ' +
          'INTERNAL validation, the summary warns)',
        '  cxrtune train --nproc 2 --config runs/paper/config.json --out runs/ddp   (2 workers × --batch each)',
        '  cxrtune train --nproc 4 --sync-bn --batch 4 …   (BatchNorm statistics over all 16 images, not 4 per worker)',
        '  torchrun --no-python --nnodes 2 --nproc-per-node 1 … cxrtune train …  (workers read RANK, ' +
          'WORLD_SIZE, MASTER_ADDR, MASTER_PORT)',
      ].join('\n'),
    )
    .action(act((o: Record<string, unknown>) => runTrain(o, opts)));
}

/** The action: launch or join a process group, train or resume, then print the summary and set the exit code. */
async function runTrain(o: Record<string, unknown>, opts: TrainCommandOptions): Promise<void> {
  const lj = await launchOrJoin({ nproc: o.nproc as number | undefined, backend: o.backend as string | undefined });
  if (lj.launched) {
    process.exitCode = lj.exitCode;
    return;
  }
  const group = lj.group;
  if (group && !group.isMain) o.quiet = true; // one progress bar and one summary: rank 0's
  const quiet = Boolean(o.quiet);
  const tty = Boolean(process.stderr.isTTY);
  const log = (m: string) => {
    if (!quiet) process.stderr.write(`${m}\n`);
  };
  const callbacks: TrainerCallback[] = quiet ? [] : [new ProgressBar({ write: (s) => process.stderr.write(s), tty })];
  callbacks.push(...(opts.callbacks?.() ?? []));
  const intr = interruptible();
  let summary: RunSummary;
  const ro = { log, callbacks, signal: intr.signal, ...(group ? { group } : {}) };
  try {
    let run: PreparedRun;
    if (o.resume) {
      const extra = Object.keys(o).filter(
        (k) => o[k] !== undefined && !['resume', 'json', 'quiet', 'nproc', 'backend'].includes(k),
      );
      const flags = extra.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
      if (extra.length) throw new Error(`--resume continues a run with its own config.json; drop ${flags.join(', ')}`);
      run = await continueRun(String(o.resume), ro);
    } else {
      const file = o.config ? readConfigFile(String(o.config)) : {};
      const cfg = resolveTrainConfig(file, flagsToConfig(o));
      run = await startRun(cfg, ro);
    }
    summary = await run.learner.fit(run.cfg, { ...ro, ...run.fit });
  } finally {
    intr.dispose();
  }
  if (group && !group.isMain) return; // rank 0 reports
  if (o.json)
    process.stdout.write(
      `${JSON.stringify(summary, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v))}\n`,
    );
  else printSummary(summary);
  if (summary.status === 'diverged' || summary.status === 'interrupted') {
    const hint =
      summary.status === 'interrupted'
        ? ` — continue with: cxrtune train --resume ${summary.runDir}`
        : ' (the peak LR is --lr-max; cxrtune lr-find proposes one)';
    process.stderr.write(`${summary.status === 'diverged' ? 'error' : 'stopped'}: ${summary.message}${hint}\n`);
    process.exitCode = summary.status === 'diverged' ? 1 : 130;
  } else if (summary.status === 'early-stopped') {
    log(summary.message);
  }
}
