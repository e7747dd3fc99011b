// `cxrtune compare RUN…`: the Table 3 analog.
import type { Command } from 'commander';
import { compareRun, compareTable } from '../app/evaluate/compare.js';
import { act } from './act.js';
import { jsonOption } from './options.js';

export function registerCompareCommand(program: Command): void {
  program
    .command('compare')
    .description(
      "compare training runs side by side (the paper's Table 3): best metric and its epoch, metrics " +
        'there, wall time, images/s, peak memory',
    )
    .argument('<runs...>', 'run folders written by `cxrtune train`')
    .addOption(jsonOption())
    .action(
      act((runs: string[], o) => {
        const rows = runs.map(compareRun);
        console.log(o.json ? JSON.stringify(rows, null, 2) : compareTable(rows));
      }),
    );
}
