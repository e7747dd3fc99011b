// Waiting for a condition that other code makes true (a poller, a child process, a server).
// The deadline guards against hangs, not speed: it is far above what the slowest machine
// needs, and when it passes the failure says what never happened instead of a silent hang.
import assert from 'node:assert/strict';

/** The default deadline: two minutes. */
export const HANG_MS = 120_000;

interface WaitOptions {
  /** Give up after this many ms (default HANG_MS). */
  timeoutMs?: number;
  /** Poll interval in ms (default 20). */
  everyMs?: number;
}

/**
 * Polls `probe` until it returns a truthy value and resolves with that value; an exception from
 * `probe` ends the wait. `what` names the condition in the failure (a function: evaluated then,
 * to show the state that never changed).
 */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  what: string | (() => string),
  o: WaitOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = o.timeoutMs ?? HANG_MS;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v as NonNullable<T>;
    if (performance.now() > deadline) {
      assert.fail(`timed out after ${timeoutMs / 1000} s waiting for ${typeof what === 'function' ? what() : what}`);
    }
    await new Promise((r) => setTimeout(r, o.everyMs ?? 20));
  }
}
