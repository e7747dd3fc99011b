// BatchNorm unfolding. Some checkpoints (the ImageNet MobileNetV2 in ../shared/pretrained,
// converted from TFLite) have BatchNorm folded into the convolutions: every BN is identity
// plus bias (weight 1, running_mean 0, running_var 1−ε). In eval mode that is exact, but in
// train mode BN normalises by batch statistics and the network departs from the pretrained
// one at the first step. Unfolding gives each BN real statistics without changing the
// function: measure the per-channel mean μ and (biased) variance σ² of each BN's input on
// training images (eval mode, all BNs measured in one pass — in eval mode the unfolded
// network computes the same values, so measuring later layers after changing earlier ones
// would give the same inputs), then set
//   running_mean = μ, running_var = σ², weight = √(σ²+ε), bias = μ + b_folded
// so that in eval mode BN(x) = (x−μ)/√(σ²+ε)·√(σ²+ε) + μ + b = x + b (unchanged), and in train
// mode, where batch statistics ≈ (μ, σ²), the output is close to it.
// Statistics over several batches are pooled: μ = Σ n_b μ_b / N, σ² = Σ n_b (σ_b² + μ_b²) / N − μ².
import { fromFloat32, toFloat32 } from '../../engine/dtype.js';
import type { Batch, EngineModel, TensorMap } from '../../engine/types.js';

/** torchvision's BatchNorm2d default. */
export const BN_EPS = 1e-5;

export function batchNormNames(model: EngineModel): string[] {
  return model
    .layers()
    .filter((l) => l.kind === 'bn')
    .map((l) => l.name);
}

/**
 * True when every BatchNorm is identity + bias (folded), as in a converted TFLite model. A
 * freshly initialised network is identity too but with all-zero biases: that is not folded.
 */
export function isFoldedBatchNorm(state: TensorMap, bnNames: string[], eps = BN_EPS): boolean {
  if (!bnNames.length) return false;
  const someBias = bnNames.some((n) => {
    const b = state.get(`${n}.bias`);
    return b ? toFloat32(b).some((x) => x !== 0) : false;
  });
  return (
    someBias &&
    bnNames.every((n) => {
      const w = state.get(`${n}.weight`);
      const m = state.get(`${n}.running_mean`);
      const v = state.get(`${n}.running_var`);
      if (!w || !m || !v) return false;
      return (
        toFloat32(w).every((x) => x === 1) &&
        toFloat32(m).every((x) => x === 0) &&
        toFloat32(v).every((x) => Math.abs(x - (1 - eps)) < 1e-6 || x === 1)
      );
    })
  );
}

interface UnfoldReport {
  layers: number;
  images: number;
}

export async function unfoldBatchNorm(
  model: EngineModel,
  batches: Iterable<Batch> | AsyncIterable<Batch>,
  eps = BN_EPS,
): Promise<UnfoldReport> {
  const acc = new Map<string, { n: number; sum: Float64Array; sq: Float64Array }>();
  let images = 0;
  for await (const batch of batches) {
    const n = batch.shape[0];
    images += n;
    for (const s of await model.batchNormInputStats(batch)) {
      let a = acc.get(s.name);
      if (!a) {
        a = { n: 0, sum: new Float64Array(s.mean.length), sq: new Float64Array(s.mean.length) };
        acc.set(s.name, a);
      }
      a.n += n;
      for (let c = 0; c < s.mean.length; c++) {
        a.sum[c]! += n * s.mean[c]!;
        a.sq[c]! += n * (s.var[c]! + s.mean[c]! * s.mean[c]!);
      }
    }
  }
  if (!images) throw new Error('BatchNorm unfolding needs at least one batch of training images');
  const state = await model.state();
  const update: TensorMap = new Map();
  for (const name of batchNormNames(model)) {
    const a = acc.get(name);
    if (!a) throw new Error(`BatchNorm unfolding: no input statistics for ${name}`);
    const C = a.sum.length;
    const mean = new Float32Array(C);
    const variance = new Float32Array(C);
    const weight = new Float32Array(C);
    const bias = new Float32Array(C);
    const b0 = toFloat32(state.get(`${name}.bias`)!);
    for (let c = 0; c < C; c++) {
      const mu = a.sum[c]! / a.n;
      const v = Math.max(a.sq[c]! / a.n - mu * mu, 0);
      mean[c] = mu;
      variance[c] = v;
      weight[c] = Math.sqrt(v + eps);
      bias[c] = mu + b0[c]!;
    }
    update.set(`${name}.running_mean`, fromFloat32(mean, [C]));
    update.set(`${name}.running_var`, fromFloat32(variance, [C]));
    update.set(`${name}.weight`, fromFloat32(weight, [C]));
    update.set(`${name}.bias`, fromFloat32(bias, [C]));
  }
  await model.loadState(update, { strict: false });
  return { layers: update.size / 4, images };
}
