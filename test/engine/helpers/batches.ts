// A deterministic pseudo-random grayscale batch (LCG pixels, alternating labels) for engine tests.
import type { Batch } from '../../../src/engine/types.js';

export function batchOf(n: number, s: number, seed = 1): Batch {
  const px = new Uint8Array(n * s * s);
  let x = seed;
  for (let i = 0; i < px.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    px[i] = x >>> 24;
  }
  return { pixels: px, shape: [n, s, s, 1], labels: Int32Array.from({ length: n }, (_, i) => i % 2) };
}
