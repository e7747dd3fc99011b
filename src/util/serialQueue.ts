// Calls on one native model run one at a time, in the order they were made (the engine's
// Model and the Segmenter): each call starts after the previous one settles, failed or not.
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }
}
