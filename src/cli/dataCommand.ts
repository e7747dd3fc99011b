// `cxrtune data …`: the data group; each subcommand lives in its own file.
import type { Command } from 'commander';
import { registerDataBench } from './dataBenchCommand.js';
import { registerDataBuild } from './dataBuildCommand.js';
import { registerDataPhantoms } from './dataPhantomsCommand.js';
import { registerDataSummary } from './dataSummaryCommand.js';

export function registerDataCommands(program: Command): void {
  const data = program.command('data').description('build dataset manifests, synthetic phantoms and data benchmarks');
  registerDataBuild(data);
  registerDataPhantoms(data);
  registerDataSummary(data);
  registerDataBench(data);
}
