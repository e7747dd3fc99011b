// Grad-CAM post-processing (Selvaraju et al. 2017), pure: the engine returns
// Σ_k α_k A_k at the feature map's resolution; here it becomes a heatmap over the
// image (ReLU, bilinear upsampling, normalisation to [0, 1]), a colour-mapped
// overlay, and measures of where it looks (mass inside a mask, pointing game).

/** One image's CAM: ReLU, bilinear upsampling (align_corners=false, as torch) to H×W, scaled to [0, 1]. */
export function camHeatmap(map: Float32Array, h: number, w: number, outH: number, outW: number): Float32Array {
  if (map.length !== h * w) throw new Error(`camHeatmap: ${map.length} values for a ${h}x${w} map`);
  const out = new Float32Array(outH * outW);
  const sy = h / outH,
    sx = w / outW;
  for (let y = 0; y < outH; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), h - 1);
    const y0 = Math.floor(fy),
      y1 = Math.min(y0 + 1, h - 1),
      dy = fy - y0;
    for (let x = 0; x < outW; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), w - 1);
      const x0 = Math.floor(fx),
        x1 = Math.min(x0 + 1, w - 1),
        dx = fx - x0;
      const v =
        (1 - dy) * ((1 - dx) * relu(map[y0 * w + x0]!) + dx * relu(map[y0 * w + x1]!)) +
        dy * ((1 - dx) * relu(map[y1 * w + x0]!) + dx * relu(map[y1 * w + x1]!));
      out[y * outW + x] = v;
    }
  }
  let max = 0;
  for (const v of out) if (v > max) max = v;
  if (max > 0) for (let i = 0; i < out.length; i++) out[i]! /= max;
  return out;
}
const relu = (v: number) => Math.max(v, 0);

/** Turbo colour map (Google, 2019; polynomial approximation by its author), t in [0, 1] → RGB 0..255. */
export function turbo(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t));
  const r = 34.61 + x * (1172.33 - x * (10793.56 - x * (33300.12 - x * (38394.49 - x * 14825.05))));
  const g = 23.31 + x * (557.33 + x * (1225.33 - x * (3574.96 - x * (1073.77 + x * 707.56))));
  const b = 27.2 + x * (3211.1 - x * (15327.97 - x * (27814 - x * (22569.18 - x * 6838.66))));
  const c = (v: number) => Math.max(0, Math.min(255, Math.round(v)));
  return [c(r), c(g), c(b)];
}

/**
 * Blends a heatmap over a grayscale image: RGB = (1 − α·h)·gray + α·h·colour(h), so
 * cold regions stay the radiograph and hot ones take the colour (opacity α in [0, 1]).
 */
export function overlay(gray: Uint8Array, heat: Float32Array, opacity = 0.5): Uint8Array {
  if (gray.length !== heat.length) throw new Error(`overlay: image has ${gray.length} pixels, heatmap ${heat.length}`);
  if (!(opacity >= 0 && opacity <= 1)) throw new Error(`overlay opacity must be in [0, 1] (got ${opacity})`);
  const out = new Uint8Array(gray.length * 3);
  for (let i = 0; i < gray.length; i++) {
    const h = heat[i]!,
      a = opacity * h,
      g = gray[i]!;
    const [r, gg, b] = turbo(h);
    out[i * 3] = Math.round((1 - a) * g + a * r);
    out[i * 3 + 1] = Math.round((1 - a) * g + a * gg);
    out[i * 3 + 2] = Math.round((1 - a) * g + a * b);
  }
  return out;
}

/** Share of the heatmap's mass inside a mask (mask > 0), e.g. the lung field or a lesion. */
export function massInside(heat: Float32Array, mask: Uint8Array): number {
  if (heat.length !== mask.length) throw new Error(`massInside: heatmap ${heat.length} vs mask ${mask.length} pixels`);
  let inside = 0,
    total = 0;
  for (let i = 0; i < heat.length; i++) {
    total += heat[i]!;
    if (mask[i]! > 0) inside += heat[i]!;
  }
  return total > 0 ? inside / total : 0;
}

/** Pointing game (Zhang et al. 2016): does the heatmap's maximum fall inside the mask? */
export function pointingHit(heat: Float32Array, mask: Uint8Array): boolean {
  if (heat.length !== mask.length) throw new Error(`pointingHit: heatmap ${heat.length} vs mask ${mask.length} pixels`);
  let best = -Infinity,
    at = -1;
  for (let i = 0; i < heat.length; i++)
    if (heat[i]! > best) {
      best = heat[i]!;
      at = i;
    }
  return at >= 0 && mask[at]! > 0;
}
