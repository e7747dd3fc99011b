// Grad-CAM heatmaps of a batch from the engine's raw maps (recipe/gradcam: ReLU, bilinear
// upsampling, normalisation), each image for its own target class, and an image's gray pixels.
import type { InferenceModel } from '../../engine/types.js';
import type { Batch } from '../../engine/types.js';
import { camHeatmap } from '../../recipe/gradcam.js';

/** Grayscale pixels of image i of a batch (first channel). */
export function grayOf(batch: Batch, i: number): Uint8Array {
  const [, h, w, c] = batch.shape;
  const px = batch.pixels as Uint8Array;
  const out = new Uint8Array(h * w);
  const base = i * h * w * c;
  for (let p = 0; p < h * w; p++) out[p] = px[base + p * c]!;
  return out;
}

/** One image of a batch as its own batch. */
function pick(batch: Batch, idx: number[]): Batch {
  const [, h, w, c] = batch.shape;
  const per = h * w * c;
  const px = new Uint8Array(idx.length * per);
  idx.forEach((i, k) => {
    px.set((batch.pixels as Uint8Array).subarray(i * per, (i + 1) * per), k * per);
  });
  return { pixels: px, shape: [idx.length, h, w, c] };
}

/**
 * Heatmaps (H×W, [0, 1]) of each image for its own target class: images are grouped by
 * target so each group is one engine call.
 */
export async function camFor(
  model: InferenceModel,
  batch: Batch,
  targets: number[],
  layer?: string,
): Promise<{ heat: Float32Array[]; probs: Float32Array }> {
  const [n, H, W] = batch.shape;
  const heat: Float32Array[] = new Array(n);
  const C = model.spec.numClasses;
  const probs = new Float32Array(n * C);
  for (const t of [...new Set(targets)]) {
    const idx = targets.flatMap((x, i) => (x === t ? [i] : []));
    const r = await model.gradCamMaps(idx.length === n ? batch : pick(batch, idx), t, layer);
    const [, h, w] = r.shape;
    idx.forEach((i, k) => {
      heat[i] = camHeatmap(r.maps.subarray(k * h * w, (k + 1) * h * w), h, w, H, W);
      probs.set(r.probs.subarray(k * C, (k + 1) * C), i * C);
    });
  }
  return { heat, probs };
}
