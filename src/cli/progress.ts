// The commands' one-line counters on stderr ("evaluate 40/216"), redrawn in place through
// util/progressLine's overwrite, the line ended when the count is complete.
import { overwrite } from '../util/progressLine.js';

/** `what done/total` on stderr; `ttyOnly` prints nothing off a terminal (logs stay clean). */
export function countProgress(what: string, ttyOnly = false): ((done: number, total: number) => void) | undefined {
  if (ttyOnly && !process.stderr.isTTY) return undefined;
  return (done, total) => {
    process.stderr.write(overwrite(`${what} ${done}/${total}`) + (done === total ? '\n' : ''));
  };
}
