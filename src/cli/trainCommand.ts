// `cxrtune lr-find` and `cxrtune train`. Flags left out fall back to --config FILE, then to
// the --preset, then to the defaults (so commander gets no defaults of its own: "not given"
// must stay distinguishable). User mistakes end in one line on stderr and exit code 1.
import { existsSync, readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ARCHS } from '../engine/types.js';
import { SCHEDULE_KINDS } from '../recipe/schedules.js';
import { TRANSFER_MODES } from '../recipe/transfer.js';
import { MONITORS } from '../recipe/validationMetrics.js';
import { ProgressBar, formatDuration } from '../recipe/progressBar.js';
import { PRESETS } from '../app/presets.js';
import { DEFAULTS, resolveTrainConfig, type TrainConfig } from '../app/trainConfig.js';
import { resumeRun, trainRun, type RunSummary } from '../app/experiment.js';
import { runLrFind, type LrFindRunOptions } from '../app/lrFind.js';
import { errorMessage } from '../util/errorMessage.js';
import { launchOrJoin } from './distributedLaunch.js';

const num = (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`'${v}' is not a number`);
  return n;
};
const int = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`'${v}' is not a non-negative integer`);
  return n;
};
const groupsArg = (v: string): 'layer' | 'stage' | number => {
  if (v === 'layer' || v === 'stage') return v;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`'${v}' is not layer, stage or a positive integer`);
  return n;
};
const classWeightsArg = (v: string): 'none' | 'auto' | number[] => {
  if (v === 'none' || v === 'auto') return v;
  const ws = v.split(',').map(Number);
  if (!ws.length || !ws.every((w) => Number.isFinite(w) && w > 0)) throw new InvalidArgumentError(`'${v}' is not none, auto or comma-separated positive weights`);
  return ws;
};
const choice = (flags: string, desc: string, xs: readonly string[]) => new Option(flags, desc).choices(xs as string[]);

/** Runs an action; a user error ends in one line on stderr and exit code 1, never a stack. */
function act<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      if (process.env.CXRTUNE_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
      process.stderr.write(`error: ${errorMessage(err)}\n`);
      process.exitCode = 1;
    }
  };
}

function readConfigFile(file: string): Record<string, unknown> {
  if (!existsSync(file)) throw new Error(`config file not found: ${file}`);
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`config file ${file} is not valid JSON (${(e as Error).message})`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`config file ${file} must hold a JSON object`);
  const { manifestSha256: _ignored, ...rest } = v as Record<string, unknown>;
  return rest;
}

/** Commander's option names → TrainConfig keys (only those given). */
function flagsToConfig(o: Record<string, unknown>): Partial<TrainConfig> {
  const map: Record<string, keyof TrainConfig> = {
    manifest: 'manifest', arch: 'arch', pretrained: 'pretrained', preset: 'preset', schedule: 'schedule',
    lrMin: 'lrMin', lrMax: 'lrMax', momMin: 'momMin', momMax: 'momMax', momentumMode: 'momentumMode', pct: 'pct',
    groups: 'groups', spacing: 'spacing', discriminative: 'discriminative', optimizer: 'optimizer', wd: 'wd', mode: 'mode',
    bn: 'batchNorm', unfoldBn: 'unfoldBn', epochs: 'epochs', batch: 'batch', size: 'size', precision: 'precision', aug: 'aug',
    seed: 'seed', monitor: 'monitor', patience: 'patience', classWeights: 'classWeights', balanced: 'balanced',
    classes: 'classes', positive: 'positive', threshold: 'threshold', trainSplit: 'trainSplit', validSplit: 'validSplit',
    device: 'device', threads: 'threads', out: 'out',
  };
  const c: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined && map[k]) c[map[k]!] = v;
  if (typeof c.discriminative === 'string') c.discriminative = c.discriminative === 'on';
  if (typeof c.classes === 'string') c.classes = (c.classes as string).split(',').map((s) => s.trim()).filter(Boolean);
  return c as Partial<TrainConfig>;
}

function printSummary(s: RunSummary): void {
  const f = (x: number | undefined | null) => (x === undefined || x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(4));
  const v = s.lastValid;
  const lines = [
    `run: ${s.runDir} (${s.status}, ${s.epochsDone}/${s.epochs} epochs, ${formatDuration(s.seconds)})`,
    ...(v ? [`last epoch valid: loss ${f(v.loss)}  accuracy ${f(v.accuracy)}  sensitivity ${f(v.sensitivity)}  specificity ${f(v.specificity)}  AUC ${f(v.auc)}`] : []),
    `best ${s.monitor}: ${f(s.best.value)} at epoch ${s.best.epoch}${s.best.checkpoint ? ` → ${s.best.checkpoint}` : ''}`,
    `speed: ${Number.isFinite(s.imagesPerSecond) ? s.imagesPerSecond.toFixed(1) : 'n/a'} images/s, ${formatDuration(s.secondsPerEpoch)} per epoch, peak RSS ${s.peakRssMiB} MiB`,
    `schedule: ${s.schedule.kind} lr ${s.schedule.lrMin}..${s.schedule.lrMax}, momentum ${s.schedule.momMin}..${s.schedule.momMax}${s.schedule.pct !== undefined ? `, pct ${s.schedule.pct.toFixed(3)} (${s.schedule.pctSource})` : ''}, ${s.groups} group(s)`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
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

export function registerTrainCommands(program: Command): void {
  const d = DEFAULTS;
  program
    .command('lr-find')
    .description('LR range test (the paper\'s Fig. 7): sweep the LR exponentially, record the smoothed loss, suggest (α_min, α_max); writes lr_find.json and lr_find.svg. The model\'s weights are restored afterwards.')
    .option('--manifest <csv>', 'dataset manifest (trains on its train split)')
    .addOption(choice('--arch <name>', 'architecture', ARCHS))
    .option('--pretrained <file|dir|hub-id>', 'pretrained weights: safetensors, a PyTorch .pth (read safely, never unpickled into code), a folder holding one, or a Hugging Face id in the local cache (e.g. timm/resnet50.tv_in1k; see cxrtune weights)')
    .option('--out <dir>', 'output folder for lr_find.json and lr_find.svg')
    .option('--config <file>', 'JSON file with any of these options (camelCase keys); flags override it')
    .option('--size <px>', 'image side (default 224)', int)
    .option('--batch <n>', 'batch size (default 16)', int)
    .option('--start <lr>', 'first LR (default 1e-7)', num)
    .option('--end <lr>', 'last LR (default 10)', num)
    .option('--iterations <n>', 'sweep length (default 100)', int)
    .addOption(choice('--suggestion <kind>', 'which suggestion becomes α_max (default steepest)', ['steepest', 'valley', 'minimumDiv10']))
    .addOption(choice('--optimizer <kind>', 'optimizer (default adamw)', ['sgd', 'adam', 'adamw']))
    .option('--momentum <m>', 'momentum / Adam β1 during the sweep (default 0.9)', num)
    .option('--wd <w>', 'weight decay (default 0.01)', num)
    .addOption(choice('--precision <p>', 'fp32 | bf16 | fp16 (CUDA) (default fp32)', ['fp32', 'bf16', 'fp16']))
    .addOption(choice('--mode <m>', 'transfer mode whose trainable set is swept (default finetune)', TRANSFER_MODES))
    .addOption(choice('--bn <mode>', 'BatchNorm mode (default train)', ['train', 'eval', 'frozen']))
    .addOption(choice('--unfold-bn <when>', 'unfold folded BatchNorm first (default auto)', ['auto', 'on', 'off']))
    .option('--aug <what>', 'none | online | OFFLINE_MANIFEST (default none)')
    .option('--balanced', 'class-balanced sampler')
    .option('--seed <n>', 'seed (default 0)', int)
    .option('--device <dev>', 'cpu or cuda:N (default cpu)')
    .option('--threads <n>', 'CPU threads (default: physical cores)', int)
    .option('--json', 'print the result as JSON on stdout')
    .option('--quiet', 'no progress on stderr')
    .addHelpText('after', '\nExample:\n  cxrtune lr-find --manifest data/manifest.csv --arch resnet18 --size 128 --out runs/lr')
    .action(act(async (o: Record<string, unknown>) => {
      const file = o.config ? readConfigFile(String(o.config)) : {};
      const given = Object.fromEntries(Object.entries(o).filter(([k, v]) => v !== undefined && !['config', 'json', 'quiet'].includes(k)));
      const opts = { ...file, ...given } as Record<string, unknown>;
      if (!opts.manifest) throw new Error('--manifest is required');
      if (!opts.arch) throw new Error(`--arch is required (${ARCHS.join(', ')})`);
      if (!opts.out) throw new Error('--out is required');
      if (opts.precision === 'fp16' && !String(opts.device ?? 'cpu').startsWith('cuda')) throw new Error('--precision fp16 needs a CUDA device (--device cuda:0); on CPU use bf16 or fp32');
      const tty = Boolean(process.stderr.isTTY);
      const quiet = Boolean(o.quiet);
      const r = await runLrFind({
        ...(opts as unknown as LrFindRunOptions),
        log: (m) => { if (!quiet) process.stderr.write(`${m}\n`); },
        onStep: quiet || !tty ? undefined : ({ i, lr, smoothed }) => process.stderr.write(`\r\x1b[Klr-find ${i + 1}/${(opts.iterations as number) ?? 100} lr ${lr.toExponential(2)} loss ${smoothed.toFixed(4)}`),
      });
      if (tty && !quiet) process.stderr.write('\r\x1b[K');
      const res = r.result;
      if (o.json) {
        process.stdout.write(JSON.stringify({ ...res, files: r.files, seconds: r.seconds }, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)) + '\n');
      } else {
        process.stdout.write([
          `lr-find: ${res.lrs.length} iterations (${res.stopped}), ${formatDuration(r.seconds)}`,
          `suggestions: steepest ${res.suggestions.steepest.toExponential(2)}  valley ${res.suggestions.valley.toExponential(2)}  minimum/10 ${res.suggestions.minimumDiv10.toExponential(2)}`,
          `proposed: --lr-min ${res.proposed.lrMin.toExponential(1)} --lr-max ${res.proposed.lrMax.toExponential(1)}  (${res.proposed.by})`,
          `wrote ${r.files.json} and ${r.files.svg}`,
        ].join('\n') + '\n');
      }
    }));

  program
    .command('train')
    .description('fine-tune a CNN: discriminative per-group LRs on a per-iteration cyclical LR/momentum schedule (the paper\'s method), or the traditional constant-LR baseline; validation metrics each epoch, best checkpoint, early stopping, resume')
    .option('--manifest <csv>', 'dataset manifest (train and valid splits)')
    .addOption(choice('--arch <name>', 'architecture', ARCHS))
    .option('--pretrained <file|dir|hub-id>', 'pretrained weights (safetensors, a PyTorch .pth read safely, a folder, or a Hugging Face id in the local cache); default random init')
    .option('--out <dir>', 'run folder (config.json, history, schedule trace, checkpoints)')
    .addOption(choice('--preset <name>', 'paper-resnet (α 1e-3..1e-1, m 0.8–0.99), paper-densenet (α 1e-4..1e-2, m 0.79–0.9): paperCycle, Adam(W), wd 0.01, 20 epochs; traditional: constant α/m (1e-3/0.99 ResNet, 1e-4/0.9 DenseNet)', PRESETS))
    .option('--config <file>', 'JSON config (e.g. a run\'s config.json) — flags override it, it overrides the preset')
    .option('--resume <run>', 'continue RUN from its last checkpoint (weights, optimizer, schedule position, RNG)')
    .addOption(choice('--schedule <kind>', `LR/momentum schedule per iteration (default ${d.schedule})`, SCHEDULE_KINDS))
    .option('--lr-min <lr>', `α_min: cycle start and first group's LR (default ${d.lrMin})`, num)
    .option('--lr-max <lr>', `α_max: cycle peak, last group's LR (default ${d.lrMax})`, num)
    .option('--mom-min <m>', `momentum / Adam β1 low (default ${d.momMin})`, num)
    .option('--mom-max <m>', `momentum / Adam β1 high (default ${d.momMax})`, num)
    .addOption(choice('--momentum-mode <m>', 'inverse to the LR (Smith) or with it (Alg. 1 as printed) (default inverse)', ['inverse', 'with']))
    .option('--pct <f>', 'warm-up fraction of the run (default: oneCycle 0.25; paperCycle drawn from [0.5,1) by the seed)', num)
    .option('--groups <g>', `discriminative groups: layer | stage | N (default ${d.groups})`, groupsArg)
    .addOption(choice('--spacing <s>', 'LR spacing between groups (default geometric)', ['geometric', 'linear']))
    .addOption(choice('--discriminative <on|off>', 'off: one LR for all groups (default on)', ['on', 'off']))
    .addOption(choice('--optimizer <kind>', `optimizer; momentum ↦ β1 for Adam (default ${d.optimizer})`, ['sgd', 'adam', 'adamw']))
    .option('--wd <w>', `weight decay (default ${d.wd})`, num)
    .addOption(choice('--mode <m>', 'feature (frozen backbone) | gradual (unfreeze a stage per epoch) | finetune (default)', TRANSFER_MODES))
    .addOption(choice('--bn <mode>', 'BatchNorm: train | eval | frozen statistics (default train)', ['train', 'eval', 'frozen']))
    .addOption(choice('--unfold-bn <when>', 'unfold folded BatchNorm on training images first (default auto: when every BN is folded)', ['auto', 'on', 'off']))
    .option('--epochs <n>', `epochs (default ${d.epochs})`, int)
    .option('--batch <n>', `batch size (default ${d.batch})`, int)
    .option('--size <px>', `image side (default ${d.size})`, int)
    .addOption(choice('--precision <p>', 'fp32 | bf16 (CPU/CUDA autocast) | fp16 (CUDA, dynamic loss scaling) (default fp32)', ['fp32', 'bf16', 'fp16']))
    .option('--aug <what>', 'OFFLINE_MANIFEST (from cxrtune augment) | online | none (default none)')
    .option('--seed <n>', `seed for init, order, augmentation, dropout (default ${d.seed})`, int)
    .addOption(choice('--monitor <metric>', `metric for the best checkpoint and early stopping (default ${d.monitor})`, MONITORS))
    .option('--patience <n>', 'early stopping: epochs without improvement (default 0 = off)', int)
    .option('--class-weights <w>', 'none | auto (inverse frequency) | w0,w1,... (default none)', classWeightsArg)
    .option('--balanced', 'class-balanced sampler (with replacement) for the training set')
    .option('--classes <list>', 'class order, comma-separated (default: negatives first, then sorted)')
    .option('--positive <label>', 'positive class for sensitivity/specificity/AUC (default: class 1)')
    .option('--threshold <p>', `decision threshold on the positive probability (default ${d.threshold})`, num)
    .option('--device <dev>', 'cpu or cuda:N (default cpu)')
    .option('--threads <n>', 'CPU threads (default: physical cores, split between local workers)', int)
    .option('--nproc <n>', 'data parallel: start N local worker processes (c10d, torchrun-style); --batch is per worker. Started by torchrun (WORLD_SIZE > 1 set), a worker joins that group instead', int)
    .addOption(choice('--backend <b>', 'process-group backend (default gloo)', ['gloo', 'nccl']))
    .option('--json', 'print the run summary as JSON on stdout')
    .option('--quiet', 'no progress on stderr')
    .addHelpText('after', [
      '',
      'Precedence: flags > --config > --preset > defaults. The run folder\'s config.json reruns it: cxrtune train --config RUN/config.json --out RUN2',
      'Examples:',
      '  cxrtune train --manifest data/manifest.csv --arch resnet18 --size 128 --epochs 5 --lr-min 1e-4 --lr-max 1e-2 --out runs/r18',
      '  cxrtune train --preset paper-resnet --manifest M --arch resnet50 --pretrained resnet50.safetensors --precision bf16 --out runs/paper',
      '  cxrtune train --resume runs/paper',
      '  cxrtune train --nproc 2 --config runs/paper/config.json --out runs/ddp   (2 workers × --batch each)',
      '  torchrun --no-python --nnodes 2 --nproc-per-node 1 … cxrtune train …  (workers read RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)',
    ].join('\n'))
    .action(act(async (o: Record<string, unknown>) => {
      const lj = await launchOrJoin({ nproc: o.nproc as number | undefined, backend: o.backend as string | undefined });
      if (lj.launched) {
        process.exitCode = lj.exitCode;
        return;
      }
      const group = lj.group;
      if (group && !group.isMain) o.quiet = true; // one progress bar and one summary: rank 0's
      const quiet = Boolean(o.quiet);
      const tty = Boolean(process.stderr.isTTY);
      const log = (m: string) => { if (!quiet) process.stderr.write(`${m}\n`); };
      const callbacks = quiet ? [] : [new ProgressBar({ write: (s) => process.stderr.write(s), tty })];
      const intr = interruptible();
      let summary: RunSummary;
      try {
        if (o.resume) {
          const extra = Object.keys(o).filter((k) => o[k] !== undefined && !['resume', 'json', 'quiet', 'nproc', 'backend'].includes(k));
          if (extra.length) throw new Error(`--resume continues a run with its own config.json; drop ${extra.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')}`);
          summary = await resumeRun(String(o.resume), { log, callbacks, signal: intr.signal, ...(group ? { group } : {}) });
        } else {
          const file = o.config ? readConfigFile(String(o.config)) : {};
          const cfg = resolveTrainConfig(file as Partial<TrainConfig>, flagsToConfig(o));
          summary = await trainRun(cfg, { log, callbacks, signal: intr.signal, ...(group ? { group } : {}) });
        }
      } finally {
        intr.dispose();
      }
      if (group && !group.isMain) return; // rank 0 reports
      if (o.json) process.stdout.write(JSON.stringify(summary, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)) + '\n');
      else printSummary(summary);
      if (summary.status === 'diverged' || summary.status === 'interrupted') {
        process.stderr.write(`${summary.status === 'diverged' ? 'error' : 'stopped'}: ${summary.message}${summary.status === 'interrupted' ? ` — continue with: cxrtune train --resume ${summary.runDir}` : ''}\n`);
        process.exitCode = summary.status === 'diverged' ? 1 : 130;
      } else if (summary.status === 'early-stopped') {
        log(summary.message);
      }
    }));
}
