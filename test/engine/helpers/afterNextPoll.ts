// Each turn of the event loop runs its phases in order: timers, poll (where libuv delivers a
// finished native call from its pool), check (setImmediate). An immediate queued from an
// immediate runs in the check phase of the next turn, so by then a whole poll phase that began
// after this call has run: any native call that finished before that poll has been delivered.

/** Resolves with `read()` taken after a full poll phase that began after this call. */
export function afterNextPoll<T>(read: () => T): Promise<T> {
  return new Promise((resolve) => setImmediate(() => setImmediate(() => resolve(read()))));
}
