// `cxrtune reproduce`: the paper's Tables 2–5 and Figures 7–10 regenerated, Table 3 as ablations over seeds.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ARMS, parseArms } from '../app/reproduce/ablations.js';
import { QUICK, runReproduce } from '../app/reproduce/reproduce.js';
import { parseTasks, REPRODUCE_TASK_NAMES } from '../app/reproduce/reproduceTasks.js';
import type { Arch } from '../engine/types.js';
import { act } from './act.js';
import { archOption, intOption, jsonOption, quietOption, sizeOption, threadsOption } from './options.js';
import { jsonOut as json } from './jsonOut.js';

interface ReproduceFlags {
  data?: string;
  out: string;
  task?: string;
  arms?: string;
  seeds?: number;
  epochs?: number;
  size?: number;
  quick?: boolean;
  precisionCheck?: boolean;
  pretrained?: string;
  arch?: Arch;
  n?: number;
  threads?: number;
  json?: boolean;
  quiet?: boolean;
}

export function registerReproduceCommand(program: Command): void {
  program
    .command('reproduce')
    .description(
      "the paper's comparisons regenerated: per task, every ablation arm (the paper's discriminative + cyclical " +
        'recipe, cyclical only, discriminative at a constant rate, the traditional baseline) trained with the same ' +
        'seeds and evaluated with intervals; Table 3 as mean ± sd with paired differences against the baseline ' +
        '(reproduce.md, reproduce.json), Tables 2, 4, 5 and Figures 7–10 from the median paper run (report.html), ' +
        'mixed precision against fp32',
    )
    .option('--data <dir>', "real data in ../shared/data's layout (without it: phantoms, the mechanics only)")
    .option('--out <dir>', 'output folder (replaced if an earlier reproduce made it)', 'runs/reproduce')
    .option(
      '--task <list>',
      `tasks, comma-separated: ${REPRODUCE_TASK_NAMES.join(', ')} (default covid,tb with --data)`,
    )
    .option('--arms <list>', `arms, comma-separated: ${ARMS.join(', ')} (default all; traditional is always run)`)
    .addOption(intOption('--seeds <n>', 'seeds per arm (default 5)', { min: 1 }))
    .addOption(intOption('--epochs <n>', "epochs per run (default: the task recipe's)", { min: 1 }))
    .addOption(sizeOption("image side (default: the task recipe's)"))
    .option(
      '--quick',
      `a budget that runs in minutes: ${QUICK.seeds} seeds, ${QUICK.epochs} epochs at ${QUICK.size} px (unless given)`,
    )
    .option('--precision-check', 'also train the paper arm at the other precision (default: where bf16 is native)')
    .option('--no-precision-check', 'skip the mixed-precision comparison')
    .option('--pretrained <file|auto|none>', 'weights to fine-tune (default auto, as demo)')
    .addOption(archOption("architecture (default: the task recipe's)"))
    .addOption(intOption('--n <count>', 'phantoms to draw (default 720)'))
    .addOption(threadsOption())
    .addOption(jsonOption('print the result as JSON at the end'))
    .addOption(quietOption('only the final tables'))
    .addHelpText(
      'after',
      '\nExamples:\n  cxrtune reproduce --data ../shared/data --quick\n' +
        '  cxrtune reproduce --data ../shared/data --seeds 5 --out runs/reproduce-full',
    )
    .action(
      act(async (o: ReproduceFlags) => {
        const log = (l: string) => {
          if (!o.quiet) process.stderr.write(`${l}\n`);
        };
        const r = await runReproduce({
          out: o.out,
          arms: parseArms(o.arms),
          ...(o.data ? { data: o.data } : {}),
          ...(o.task ? { tasks: parseTasks(o.task)! } : {}),
          ...(o.seeds !== undefined ? { seeds: o.seeds } : o.quick ? { seeds: QUICK.seeds } : {}),
          ...(o.epochs !== undefined ? { epochs: o.epochs } : {}),
          ...(o.size !== undefined ? { size: o.size } : {}),
          ...(o.quick ? { quick: true } : {}),
          ...(o.precisionCheck !== undefined ? { precisionCheck: o.precisionCheck } : {}),
          ...(o.pretrained ? { pretrained: o.pretrained } : {}),
          ...(o.arch ? { arch: o.arch } : {}),
          ...(o.n !== undefined ? { n: o.n } : {}),
          ...(o.threads !== undefined ? { threads: o.threads } : {}),
          log,
        });
        if (o.json) process.stdout.write(json(r));
        else process.stdout.write(readFileSync(r.files.markdown, 'utf8'));
      }),
    );
}
