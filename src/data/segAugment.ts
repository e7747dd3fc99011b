// Online augmentation for segmentation: one random affine map (rotation, scale, shift)
// applied to the image (bilinear) and its mask (nearest) alike, then brightness, contrast
// and gamma on the image only. No flips: the heart sits left, and a mirrored chest is not
// a radiograph the segmenter will meet.
import type { Rng } from '../util/rng.js';

interface SegAugmentOptions {
  rotateDeg?: number;
  scale?: number;
  shift?: number;
  intensity?: number;
}

export function augmentPair(
  px: Uint8Array,
  mask: Uint8Array,
  S: number,
  rng: Rng,
  o: SegAugmentOptions = {},
): { pixels: Uint8Array; mask: Uint8Array } {
  const rot = (((o.rotateDeg ?? 10) * Math.PI) / 180) * (2 * rng.next() - 1);
  const sc = 1 + (o.scale ?? 0.1) * (2 * rng.next() - 1);
  const tx = (o.shift ?? 0.06) * S * (2 * rng.next() - 1),
    ty = (o.shift ?? 0.06) * S * (2 * rng.next() - 1);
  const k = o.intensity ?? 0.15;
  const gain = 1 + k * (2 * rng.next() - 1),
    bias = 255 * k * (2 * rng.next() - 1),
    gamma = Math.exp(k * 1.5 * (2 * rng.next() - 1));
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = Math.max(0, Math.min(255, Math.round(255 * (v / 255) ** gamma * gain + bias)));
  // Inverse map: output pixel → source position (rotation and scale about the centre).
  const c = (S - 1) / 2,
    cos = Math.cos(rot) / sc,
    sin = Math.sin(rot) / sc;
  const outPx = new Uint8Array(S * S),
    outM = new Uint8Array(S * S);
  for (let y = 0; y < S; y++)
    for (let x = 0; x < S; x++) {
      const dx = x - c - tx,
        dy = y - c - ty;
      const sx = cos * dx + sin * dy + c,
        sy = -sin * dx + cos * dy + c;
      const i = y * S + x;
      if (sx < 0 || sy < 0 || sx > S - 1 || sy > S - 1) continue;
      const x0 = Math.floor(sx),
        y0 = Math.floor(sy),
        x1 = Math.min(x0 + 1, S - 1),
        y1 = Math.min(y0 + 1, S - 1);
      const fx = sx - x0,
        fy = sy - y0;
      const v =
        (px[y0 * S + x0]! * (1 - fx) + px[y0 * S + x1]! * fx) * (1 - fy) +
        (px[y1 * S + x0]! * (1 - fx) + px[y1 * S + x1]! * fx) * fy;
      outPx[i] = lut[Math.round(v)]!;
      if (mask.length) outM[i] = mask[Math.round(sy) * S + Math.round(sx)]!;
    }
  return { pixels: outPx, mask: mask.length ? outM : mask };
}
