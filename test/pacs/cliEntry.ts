// A stand-alone `cxrtune` with only the pacs commands, for subprocess CLI tests.
import { Command } from 'commander';
import { registerPacsCommands } from '../../src/cli/pacsCommand.js';

const program = new Command('cxrtune');
registerPacsCommands(program);
try {
  await program.parseAsync(process.argv);
} catch (e) {
  console.error(`error: ${(e as Error).message}`);
  process.exitCode = 1;
}
