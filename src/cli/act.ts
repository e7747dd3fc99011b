// Every command's action runs through act(): a user error ends in one line on stderr and exit
// code 1, never a stack (CXRTUNE_DEBUG=1 prints the stack too).
import { errorMessage } from '../util/errorMessage.js';
import { OptionError } from '../util/optionError.js';

/** Runs an action; a user error ends in one line on stderr and exit code 1, never a stack. */
export function act<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      if (process.env.CXRTUNE_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
      process.stderr.write(`error: ${err instanceof OptionError ? err.cliMessage() : errorMessage(err)}\n`);
      process.exitCode = 1;
    }
  };
}
