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
  const maps = new Float32Array(n * hw);
  const acc = new Float64Array(hw);
  for (let i = 0; i < n; i++) {
    acc.fill(0);
    for (let k = 0; k < c; k++) {
      const at = (i * c + k) * hw;
      let g = 0;
      for (let p = 0; p < hw; p++) g += gradients[at + p]!;
      const wk = g / hw;
      for (let p = 0; p < hw; p++) acc[p]! += wk * activations[at + p]!;
    }
    maps.set(acc, i * hw);
  }
  return maps;
}
