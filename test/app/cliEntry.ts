// A stand-alone `cxrtune` with only the train commands, for subprocess CLI tests.
import { Command } from 'commander';
import { registerTrainCommands } from '../../src/cli/trainCommand.js';

const program = new Command('cxrtune');
registerTrainCommands(program);
await program.parseAsync(process.argv);
