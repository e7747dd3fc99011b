// Stand-alone entry for the data commands (tests spawn it; the real CLI is src/cli/main.ts).
import { Command } from 'commander';
import { registerDataCommands } from '../../../src/cli/dataCommand.js';
import { registerAugmentCommand } from '../../../src/cli/augmentCommand.js';

const program = new Command('cxrtune');
registerDataCommands(program);
registerAugmentCommand(program);
await program.parseAsync(process.argv);
