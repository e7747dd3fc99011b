// A stand-alone `cxrtune` with only the lungs commands, for subprocess CLI tests.
import { Command } from 'commander';
import { registerLungsCommand } from '../../src/cli/lungsCommand.js';

const program = new Command('cxrtune');
registerLungsCommand(program);
try {
  await program.parseAsync(process.argv);
} catch (e) {
  console.error(`error: ${(e as Error).message}`);
  process.exitCode = 1;
}
