// `cxrtune train`. Flags left out fall back to --config FILE, then to the --preset, then to the
// defaults (so commander gets no defaults of its own: "not given" must stay distinguishable).
import type { Command } from 'commander';
import { ARCHS } from '../engine/types.js';
import { CROP_MODES, EQUALIZE_MODES, FITS, STANDARDIZE_MODES } from '../engine/preprocessing.js';
import { SCHEDULE_KINDS } from '../recipe/schedules.js';
import { TRANSFER_MODES } from '../recipe/transfer.js';
import { MONITORS } from '../recipe/validationMetrics.js';
import { ProgressBar } from '../recipe/progressBar.js';
import { formatDuration } from '../util/progressLine.js';
import type { TrainerCallback } from '../recipe/callbacks.js';
import { PRESETS } from '../app/train/presets.js';
import { DEFAULTS, resolveTrainConfig, type TrainConfig } from '../app/train/trainConfig.js';
import { continueRun, startRun, type PreparedRun, type RunSummary } from '../app/train/experiment.js';
import { act } from './act.js';
import { launchOrJoin } from './distributedLaunch.js';
import { formatThresholdSummary } from '../app/train/trainThreshold.js';
import { thresholdOption } from './thresholdOption.js';
import { choice, classWeightsArg, flagsToConfig, groupsArg, int, num, readConfigFile } from './trainArgs.js';

function printSummary(s: RunSummary): void {
  const f = (x: number | undefined | null) =>
    x === undefined || x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(4);
  const v = s.lastValid;
  const lines = [
    `run: ${s.runDir} (${s.status}, ${s.epochsDone}/${s.epochs} epochs, ${formatDuration(s.seconds)})`,
    ...(v
      ? [
          `last epoch valid: loss ${f(v.loss)}  accuracy ${f(v.accuracy)}  sensitivity ${f(v.sensitivity)}  specificity ${f(v.specificity)}  AUC ${f(v.auc)}`,
        ]
      : []),
    `best ${s.monitor}: ${f(s.best.value)} at epoch ${s.best.epoch}${s.best.checkpoint ? ` → ${s.best.checkpoint}` : ''}`,
    `speed: ${Number.isFinite(s.imagesPerSecond) ? s.imagesPerSecond.toFixed(1) : 'n/a'} images/s, ${formatDuration(s.secondsPerEpoch)} per epoch, peak RSS ${s.peakRssMiB} MiB`,
    `schedule: ${s.schedule.kind} lr ${s.schedule.lrMin}..${s.schedule.lrMax}, momentum ${s.schedule.momMin}..${s.schedule.momMax}${s.schedule.pct !== undefined ? `, pct ${s.schedule.pct.toFixed(3)} (${s.schedule.pctSource})` : ''}, ${s.groups} group(s)`,
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
  const d = DEFAULTS;
  program
    .command('train')
    .description(
      "fine-tune a CNN: discriminative per-group LRs on a per-iteration cyclical LR/momentum schedule (the paper's method), or the traditional constant-LR baseline; validation metrics each epoch, best checkpoint, early stopping, resume",
    )
    .option('--manifest <csv>', 'dataset manifest (train and valid splits)')
    .addOption(choice('--arch <name>', 'architecture', ARCHS))
    .option(
      '--pretrained <file|dir|hub-id>',
      'pretrained weights (safetensors, a PyTorch .pth read safely, a folder, or a Hugging Face id in the local cache); default random init',
    )
    .option('--out <dir>', 'run folder (config.json, history, schedule trace, checkpoints)')
    .addOption(
      choice(
        '--preset <name>',
        'paper-resnet (α 1e-3..1e-1, m 0.8–0.99), paper-densenet (α 1e-4..1e-2, m 0.79–0.9): paperCycle, Adam(W), wd 0.01, 20 epochs; traditional: constant α/m (1e-3/0.99 ResNet, 1e-4/0.9 DenseNet)',
        PRESETS,
      ),
    )
    .option('--config <file>', "JSON config (e.g. a run's config.json) — flags override it, it overrides the preset")
    .option('--resume <run>', 'continue RUN from its last checkpoint (weights, optimizer, schedule position, RNG)')
    .addOption(
      choice('--schedule <kind>', `LR/momentum schedule per iteration (default ${d.schedule})`, SCHEDULE_KINDS),
    )
    .option('--lr-min <lr>', `α_min: cycle start and first group's LR (default ${d.lrMin})`, num)
    .option('--lr-max <lr>', `α_max: cycle peak, last group's LR (default ${d.lrMax})`, num)
    .option('--mom-min <m>', `momentum / Adam β1 low (default ${d.momMin})`, num)
    .option('--mom-max <m>', `momentum / Adam β1 high (default ${d.momMax})`, num)
    .addOption(
      choice('--momentum-mode <m>', 'inverse to the LR (Smith) or with it (Alg. 1 as printed) (default inverse)', [
        'inverse',
        'with',
      ]),
    )
    .option(
      '--pct <f>',
      'warm-up fraction of the run (default: oneCycle 0.25; paperCycle drawn from [0.5,1) by the seed)',
      num,
    )
    .option('--groups <g>', `discriminative groups: layer | stage | N (default ${d.groups})`, groupsArg)
    .addOption(choice('--spacing <s>', 'LR spacing between groups (default geometric)', ['geometric', 'linear']))
    .addOption(choice('--discriminative <on|off>', 'off: one LR for all groups (default on)', ['on', 'off']))
    .addOption(
      choice('--optimizer <kind>', `optimizer; momentum ↦ β1 for Adam (default ${d.optimizer})`, [
        'sgd',
        'adam',
        'adamw',
      ]),
    )
    .option('--wd <w>', `weight decay (default ${d.wd})`, num)
    .addOption(
      choice(
        '--mode <m>',
        'feature (frozen backbone) | gradual (unfreeze a stage per epoch) | finetune (default)',
        TRANSFER_MODES,
      ),
    )
    .addOption(
      choice('--bn <mode>', 'BatchNorm: train | eval | frozen statistics (default train)', ['train', 'eval', 'frozen']),
    )
    .addOption(
      choice(
        '--unfold-bn <when>',
        'unfold folded BatchNorm on training images first (default auto: when every BN is folded)',
        ['auto', 'on', 'off'],
      ),
    )
    .option('--epochs <n>', `epochs (default ${d.epochs})`, int)
    .option('--batch <n>', `batch size (default ${d.batch})`, int)
    .option('--size <px>', `image side (default ${d.size})`, int)
    .addOption(
      choice(
        '--fit <mode>',
        `how a non-square image becomes size×size: letterbox (pad) | crop (centre) | stretch (default ${d.fit}); recorded in model.json`,
        FITS,
      ),
    )
    .addOption(
      choice(
        '--equalize <mode>',
        `contrast after resizing: none | hist | clahe (default ${d.equalize}); recorded in model.json`,
        EQUALIZE_MODES,
      ),
    )
    .addOption(
      choice(
        '--crop <mode>',
        `none | lungs: cut each image to its lung field's box first; needs a lung_mask column (cxrtune lungs predict --manifest) (default ${d.crop}); recorded in model.json`,
        CROP_MODES,
      ),
    )
    .option(
      '--crop-margin <f>',
      `margin around the lung box, a fraction of its width/height (default ${d.cropMargin})`,
      num,
    )
    .addOption(
      choice(
        '--standardize <mode>',
        `none | image: each image to its own mean and std (removes a hospital's brightness/contrast signature) (default ${d.standardize}); recorded in model.json`,
        STANDARDIZE_MODES,
      ),
    )
    .addOption(
      choice('--precision <p>', 'fp32 | bf16 (CPU/CUDA autocast) | fp16 (CUDA, dynamic loss scaling) (default fp32)', [
        'fp32',
        'bf16',
        'fp16',
      ]),
    )
    .option(
      '--aug <what>',
      'none | online (Table 1 on the fly) | robust (provenance-blind: crop, blur, noise, gamma, contrast, JPEG) | online+robust | OFFLINE_MANIFEST (from cxrtune augment) (default none); recorded in model.json',
    )
    .option('--seed <n>', `seed for init, order, augmentation, dropout (default ${d.seed})`, int)
    .addOption(
      choice(
        '--monitor <metric>',
        `metric for the best checkpoint and early stopping (default ${d.monitor})`,
        MONITORS,
      ),
    )
    .option('--patience <n>', 'early stopping: epochs without improvement (default 0 = off)', int)
    .option('--class-weights <w>', 'none | auto (inverse frequency) | w0,w1,... (default none)', classWeightsArg)
    .option('--balanced', 'class-balanced sampler (with replacement) for the training set')
    .option('--classes <list>', 'class order, comma-separated (default: negatives first, then sorted)')
    .option('--positive <label>', 'positive class for sensitivity/specificity/AUC (default: class 1)')
    .addOption(
      thresholdOption('train', { where: "each kept checkpoint's validation predictions", byDefault: `${d.threshold}` }),
    )
    .option('--device <dev>', 'cpu or cuda:N (default cpu)')
    .option('--threads <n>', 'CPU threads (default: physical cores, split between local workers)', int)
    .option(
      '--nproc <n>',
      'data parallel: start N local worker processes (c10d, torchrun-style); --batch is per worker. Started by torchrun (WORLD_SIZE > 1 set), a worker joins that group instead',
      int,
    )
    .addOption(choice('--backend <b>', 'process-group backend (default gloo)', ['gloo', 'nccl']))
    .option(
      '--sync-bn',
      "data parallel: SyncBatchNorm — training BatchNorm normalises with the mean/variance of the global batch (all workers, as torch.nn.SyncBatchNorm) instead of each worker's --batch; two small all-reduces per BatchNorm per step. No effect (a note) with one process or --bn eval|frozen; recorded in config.json and model.json",
    )
    .option('--json', 'print the run summary as JSON on stdout')
    .option('--quiet', 'no progress on stderr')
    .addHelpText(
      'after',
      [
        '',
        "Precedence: flags > --config > --preset > defaults. The run folder's config.json reruns it: cxrtune train --config RUN/config.json --out RUN2",
        'Examples:',
        '  cxrtune train --manifest data/manifest.csv --arch resnet18 --size 128 --epochs 5 --lr-min 1e-4 --lr-max 1e-2 --out runs/r18',
        '  cxrtune train --preset paper-resnet --manifest M --arch resnet50 --pretrained resnet50.safetensors --precision bf16 --out runs/paper',
        '  cxrtune train --resume runs/paper',
        '  cxrtune train --config runs/paper/config.json --threshold youden --out runs/youden   (threshold chosen on the validation split:',
        '      build it with data build --split-by source so it is SOURCE-HELD-OUT; chosen on INTERNAL validation, the summary warns)',
        '  cxrtune train --nproc 2 --config runs/paper/config.json --out runs/ddp   (2 workers × --batch each)',
        '  cxrtune train --nproc 4 --sync-bn --batch 4 …   (BatchNorm statistics over all 16 images, not 4 per worker)',
        '  torchrun --no-python --nnodes 2 --nproc-per-node 1 … cxrtune train …  (workers read RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)',
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
      const cfg = resolveTrainConfig(file as Partial<TrainConfig>, flagsToConfig(o));
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
