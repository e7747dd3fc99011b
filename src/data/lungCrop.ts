// The `--crop lungs` box (issue 11, not yet wired into preprocessing): the bounding box of a
// lung mask grown by a margin on every side (a fraction of the box's own width/height),
// clamped to the image. An empty mask gives the whole image, so a failed segmentation never
// crops a radiograph to nothing.
export interface CropBox { left: number; top: number; width: number; height: number }

export function lungCropBox(mask: ArrayLike<number>, width: number, height: number, margin = 0.1): CropBox {
  if (mask.length !== width * height) throw new Error(`lung mask holds ${mask.length} pixels, not ${width}×${height}`);
  if (!(margin >= 0)) throw new Error(`crop margin must be >= 0 (got ${margin})`);
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    if (!mask[y * width + x]) continue;
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  }
  if (x1 < 0) return { left: 0, top: 0, width, height };
  const mx = Math.round((x1 - x0 + 1) * margin), my = Math.round((y1 - y0 + 1) * margin);
  const left = Math.max(0, x0 - mx), top = Math.max(0, y0 - my);
  return { left, top, width: Math.min(width, x1 + 1 + mx) - left, height: Math.min(height, y1 + 1 + my) - top };
}
