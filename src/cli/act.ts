// The one error path of the CLI: every command's action runs through act(), and main.ts sends
// anything thrown outside an action to reportError too. A user error ends in one line on
// stderr, `error: …` as commander's own usage errors, and exit code 1, never a stack
// (CXRTUNE_DEBUG=1 prints the stack too).
import { errorMessage } from '../util/errorMessage.js';
import { OptionError } from '../util/optionError.js';

/** Prints `err` as one line (its stack too under CXRTUNE_DEBUG) and sets exit code 1. */
export function reportError(err: unknown): void {
  if (process.env.CXRTUNE_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.stderr.write(`error: ${err instanceof OptionError ? err.cliMessage() : errorMessage(err)}\n`);
  process.exitCode = 1;
}

/** Runs an action; a user error ends in one line on stderr and exit code 1, never a stack. */
// biome-ignore lint/suspicious/noExplicitAny: commander hands an action its parsed values untyped
export function act(fn: (...args: any[]) => Promise<void> | void): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    try {
      await fn(...args);
    } catch (err) {
      reportError(err);
    }
  };
}
