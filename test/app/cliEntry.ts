// A stand-alone `cxrtune` with only the train and lr-find commands, for subprocess CLI tests.
import { Command } from 'commander';
import { registerTrainCommand } from '../../src/cli/trainCommand.js';
import { registerLrFindCommand } from '../../src/cli/lrFindCommand.js';

const program = new Command('cxrtune');
registerLrFindCommand(program);
registerTrainCommand(program);
await program.parseAsync(process.argv);
