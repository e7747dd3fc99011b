// Every BatchNorm given statistics and an affine map of its own (seeded), so that eval-mode
// logits test BatchNorm itself (and its folding into the convolution, native/src/eval_weights.h),
// not the identity that fresh statistics (mean 0, var 1, γ 1, β 0) make of it.
import { fromFloat32 } from '../../../src/engine/dtype.js';
import type { EngineModel, TensorMap } from '../../../src/engine/types.js';

export async function withBatchNormStats(
  m: EngineModel & { state(): Promise<TensorMap>; loadState(t: TensorMap): Promise<void> },
  seed: number,
): Promise<void> {
  const state = await m.state();
  let x = seed;
  const rand = () => {
    x = (x * 1103515245 + 12345) >>> 0;
    return x / 2 ** 32;
  };
  for (const name of [...state.keys()].filter((k) => k.endsWith('.running_var'))) {
    const p = name.slice(0, -'running_var'.length);
    const n = state.get(name)!.shape[0]!;
    const fill = (lo: number, hi: number) => Array.from({ length: n }, () => lo + (hi - lo) * rand());
    state.set(`${p}running_var`, fromFloat32(fill(0.5, 2), [n]));
    state.set(`${p}running_mean`, fromFloat32(fill(-0.2, 0.2), [n]));
    state.set(`${p}weight`, fromFloat32(fill(0.6, 1.4), [n]));
    state.set(`${p}bias`, fromFloat32(fill(-0.1, 0.1), [n]));
  }
  await m.loadState(state);
}
