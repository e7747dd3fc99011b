// Stand-alone entry for the data commands (tests spawn it; the real CLI is src/cli/main.ts).
import { Command } from 'commander';
import { registerDataCommands } from '../../../src/cli/dataCommand.js';

const program = new Command('cxrtune');
registerDataCommands(program);
await program.parseAsync(process.argv);
