// The regions the shortcut audit blanks (sets to 0, black: the letterbox padding colour) in
// each S×S model input. Two tests, two different regions (see app/audit.ts for the verdicts):
//
//  frame only — everything inside the lungs' bounding box, grown by FRAME_MARGIN of the side
//    on every edge, is blanked; only the frame around it stays (corners, borders, labels,
//    shoulders, neck, abdomen). Nothing of the lung fields, the heart or the mediastinum is
//    left, so a model reading the lungs has nothing to go on.
//  lungs out (Maguolo & Nanni 2021) — only the lung fields are blacked out, grown by
//    LUNG_MARGIN (mask edges are a few pixels off after resizing); the mediastinum, heart,
//    diaphragm, ribs outside the fields and the frame stay. Lesions lie inside the fields.
//
// The lung region comes from a lung mask where the manifest has one (column lung_mask or
// masks: a PNG the same shape as the image, non-zero inside the lungs); otherwise from a
// fixed box, FIXED_BOX (x 12–88 %, y 10–85 %: both lung fields of a centred PA/AP radiograph
// fit in it; a tighter 20–80 % box left the lateral lungs visible on real CXRs). The box is
// also used for every image when only some have masks (different shapes per class would
// themselves be a label cue). Frame only blanks the whole box, lungs out two
// superellipses (|u|³ + |v|³ < 1, lung-like rounded boxes) inscribed in the box's left and
// right parts (x 12–45 % and 55–88 %), leaving the central 10 % (mediastinum) visible.

/** Share of the side added around the lungs' bounding box before blanking it (frame only). */
const FRAME_MARGIN = 0.05;
/** Dilation of the lung mask, as a share of the side (lungs out). */
const LUNG_MARGIN = 0.02;
/** The lung region used when there is no mask: [x0, y0, x1, y1] as shares of the side. */
const FIXED_BOX = [0.12, 0.1, 0.88, 0.85] as const;
/** Mediastinum gap between the two fixed-box lung shapes (share of the side). */
const FIXED_GAP = 0.1;

export type OcclusionKind = 'frame-only' | 'lungs-out';

const inside = (p: number, S: number, lo: number, hi: number) => {
  const c = (p + 0.5) / S;
  return c >= lo && c < hi;
};

/** 1 where the fixed box is (pixel centres inside [x0, x1) × [y0, y1)). */
export function fixedBoxMask(S: number): Uint8Array {
  const m = new Uint8Array(S * S);
  const [x0, y0, x1, y1] = FIXED_BOX;
  for (let y = 0; y < S; y++)
    for (let x = 0; x < S; x++) if (inside(x, S, x0, x1) && inside(y, S, y0, y1)) m[y * S + x] = 1;
  return m;
}

/** Two superellipses (exponent 3) inscribed in the fixed box's left and right parts (lung stand-ins). */
export function fixedLungsMask(S: number): Uint8Array {
  const m = new Uint8Array(S * S);
  const [x0, y0, x1, y1] = FIXED_BOX;
  const mid = (x0 + x1) / 2;
  const a = (mid - FIXED_GAP / 2 - x0) / 2;
  const b = (y1 - y0) / 2;
  const cy = (y0 + y1) / 2;
  const centres = [x0 + a, x1 - a];
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const u = (x + 0.5) / S;
      const v = (y + 0.5) / S;
      for (const cx of centres) if (Math.abs((u - cx) / a) ** 3 + Math.abs((v - cy) / b) ** 3 < 1) m[y * S + x] = 1;
    }
  }
  return m;
}

/** Square (Chebyshev) dilation by r pixels, separable. */
export function dilate(mask: Uint8Array, S: number, r: number): Uint8Array {
  if (r <= 0) return mask.slice();
  const tmp = new Uint8Array(S * S);
  const out = new Uint8Array(S * S);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      if (!mask[y * S + x]) continue;
      for (let dx = Math.max(0, x - r); dx <= Math.min(S - 1, x + r); dx++) tmp[y * S + dx] = 1;
    }
  }
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      if (!tmp[y * S + x]) continue;
      for (let dy = Math.max(0, y - r); dy <= Math.min(S - 1, y + r); dy++) out[dy * S + x] = 1;
    }
  }
  return out;
}

/** Bounding box [x0, y0, x1, y1] (inclusive) of a mask's non-zero pixels, or null. */
export function boundingBox(mask: Uint8Array, S: number): [number, number, number, number] | null {
  let x0 = S,
    y0 = S,
    x1 = -1,
    y1 = -1;
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      if (!mask[y * S + x]) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  return x1 < 0 ? null : [x0, y0, x1, y1];
}

/**
 * The pixels to blank (1) for one test on an S×S input. `lung` is the image's lung mask at
 * S×S (non-zero inside), or null/empty for the fixed box.
 */
export function occlusionMask(kind: OcclusionKind, S: number, lung: Uint8Array | null): Uint8Array {
  const box = lung ? boundingBox(lung, S) : null;
  if (kind === 'lungs-out') return box ? dilate(lung!, S, Math.round(LUNG_MARGIN * S)) : fixedLungsMask(S);
  if (!box) return fixedBoxMask(S);
  const g = Math.round(FRAME_MARGIN * S);
  const [x0, y0, x1, y1] = [
    Math.max(0, box[0] - g),
    Math.max(0, box[1] - g),
    Math.min(S - 1, box[2] + g),
    Math.min(S - 1, box[3] + g),
  ];
  const m = new Uint8Array(S * S);
  for (let y = y0; y <= y1; y++) m.fill(1, y * S + x0, y * S + x1 + 1);
  return m;
}

/** Blanks (sets to `value`) the masked pixels of image i of an NHWC uint8 batch. */
export function applyOcclusion(pixels: Uint8Array, i: number, S: number, C: number, mask: Uint8Array, value = 0): void {
  const base = i * S * S * C;
  for (let p = 0; p < S * S; p++) if (mask[p]) for (let c = 0; c < C; c++) pixels[base + p * C + c] = value;
}

/** Share of the image a mask covers. */
export function coverage(mask: Uint8Array): number {
  let s = 0;
  for (const v of mask) s += v ? 1 : 0;
  return s / mask.length;
}
