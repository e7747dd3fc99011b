// `cxrtune weights list`: what is already on this machine, and which architecture each holds.
import type { Command } from 'commander';
import { formatWeightsTable, listLocalWeights } from '../app/weights/listWeights.js';
import { act } from './act.js';
import { jsonOption } from './options.js';

export function registerWeightsList(weights: Command): void {
  weights
    .command('list')
    .description(
      'weights already on this machine: torch hub checkpoints ($TORCH_HOME), the Hugging Face hub ' +
        "cache ($HF_HOME, $HF_HUB_CACHE) and cxrtune's imports ($CXRTUNE_CACHE), with the architecture " +
        'each holds',
    )
    .addOption(jsonOption('print JSON instead of a table'))
    .action(
      act(async (o: { json?: boolean }) => {
        const r = await listLocalWeights();
        process.stdout.write(o.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatWeightsTable(r)}\n`);
      }),
    );
}
