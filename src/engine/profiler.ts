// libtorch's operator profiler around a piece of engine work (native/src/profiler.cc):
// every op the compute thread runs between start and stop, with its FLOPs where libtorch
// counts them (forward conv, mm/addmm, add, mul). The same instrument Python's
// torch.profiler wraps, so both sides of `bench --vs-python --profile` compare like with like.
import { loadNative, type OpEvents } from './native.js';

/** Runs `work` with the profiler on; the profiler is stopped even when `work` throws. */
export async function profileOps<T>(work: () => Promise<T>): Promise<{ result: T; events: OpEvents }> {
  const addon = loadNative();
  await addon.profileStart();
  let result: T;
  try {
    result = await work();
  } catch (e) {
    await addon.profileStop().catch(() => undefined);
    throw e;
  }
  return { result, events: await addon.profileStop() };
}
