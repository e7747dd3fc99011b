// Grad-CAM's channel weighting (Selvaraju et al. 2017), the choice that turns a layer's
// activations A and the gradients ∂y_c/∂A (native layerGradients) into a map: channel k
// weighs w_k = mean over positions of ∂y_c/∂A_k, and the map is Σ_k w_k A_k, before ReLU
// and upsampling (recipe/gradcam.ts). Kept here, not in C++, so another weighting
// (Grad-CAM++, gradient × activation) is a TypeScript change.

/** Per-image maps [N, h, w] from activations and gradients laid out [N, C, h, w]. */
export function gradCamMaps(
  activations: Float32Array,
  gradients: Float32Array,
  shape: [n: number, c: number, h: number, w: number],
): Float32Array {
  const [n, c, h, w] = shape;
  const hw = h * w;
  if (activations.length !== n * c * hw || gradients.length !== n * c * hw) {
    throw new Error(
      `Grad-CAM: ${activations.length} activations and ${gradients.length} gradients for shape [${shape}]`,
    );
  }
  return weightedChannelSum(activations, shape, (at) => {
    let g = 0;
    for (let p = 0; p < hw; p++) g += gradients[at + p]!;
    return g / hw;
  });
}

/** Σ_k α_k A_k per image, [N, h, w], where α_k = alpha(offset of channel k's map in A). */
function weightedChannelSum(
  activations: Float32Array,
  [n, c, h, w]: [n: number, c: number, h: number, w: number],
  alpha: (at: number, k: number) => number,
): Float32Array {
  const hw = h * w;
  const maps = new Float32Array(n * hw);
  const acc = new Float64Array(hw);
  for (let i = 0; i < n; i++) {
    acc.fill(0);
    for (let k = 0; k < c; k++) {
      const at = (i * c + k) * hw;
      const a = alpha(at, k);
      if (a === 0) continue;
      for (let p = 0; p < hw; p++) acc[p]! += a * activations[at + p]!;
    }
    maps.set(acc, i * hw);
  }
  return maps;
}

/**
 * Grad-CAM at the last block without a gradient (docs/onnx.md), from the block's activations A
 * [N, C, h, w] (an exported model's `features` output) and the classifier's weight [K, C]. With
 * global average pooling and a linear head, y_c = Σ_k w_ck · mean_p g(A_k(p)) + b_c, so
 * ∂y_c/∂A_k(p) = w_ck · g'(A_k(p)) / (h·w) and Grad-CAM's map is Σ_k α_k A_k with
 * α_k = w_ck · ρ_k / (h·w): ρ_k = 1 where the head takes the block as it is (g = identity:
 * ResNet, MobileNetV2) — the class-activation map Σ_k w_ck A_k divided by h·w — and, where the
 * head applies a ReLU first (DenseNet's norm5 → relu, `reluInHead`), the share of positions where
 * A_k > 0 (ReLU's derivative, 0 at 0, as torch takes it). The same numbers as gradCamMaps.
 */
export function classActivationMaps(
  features: Float32Array,
  shape: [n: number, c: number, h: number, w: number],
  weight: Float32Array,
  classIndex: number,
  o: { reluInHead: boolean },
): Float32Array {
  const [n, c, h, w] = shape;
  const hw = h * w;
  if (features.length !== n * c * hw) throw new Error(`CAM: ${features.length} feature values for shape [${shape}]`);
  if (weight.length % c !== 0 || !(classIndex >= 0 && classIndex < weight.length / c))
    throw new Error(`CAM: a classifier weight of ${weight.length} values has no row ${classIndex} of ${c}`);
  return weightedChannelSum(features, shape, (at, k) => {
    let share = 1;
    if (o.reluInHead) {
      let positive = 0;
      for (let p = 0; p < hw; p++) if (features[at + p]! > 0) positive++;
      share = positive / hw;
    }
    return (weight[classIndex * c + k]! * share) / hw;
  });
}
