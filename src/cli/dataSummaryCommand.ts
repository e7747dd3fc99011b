// `cxrtune data summary`: counts per label × source × split, patients, leak check.
import type { Command } from 'commander';
import { formatSummaryTable, summarise } from '../data/summary.js';
import { readManifest } from '../data/manifest.js';
import { act } from './act.js';
import { jsonOption } from './options.js';

export function registerDataSummary(data: Command): void {
  data
    .command('summary')
    .description('counts per label × source × split, patients per split and patients shared between splits')
    .argument('<manifest>', 'manifest.csv')
    .addOption(jsonOption())
    .action(
      act(async (file: string, o: { json?: boolean }) => {
        const s = summarise(readManifest(file).rows);
        process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatSummaryTable(s)}\n`);
        if (s.sharedPatients > 0) process.exitCode = 2;
      }),
    );
}
