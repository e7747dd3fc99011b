// The `--crop lungs` box (preprocessing record, engine/preprocessing.ts): the bounding box of a
// lung mask grown by a margin on every side (a fraction of the box's own width/height),
// clamped to the image. An empty mask gives the whole image, so a failed segmentation never
// crops a radiograph to nothing.
//
// The box travels as a Region, fractions of the image's width and height, because a mask may be
// stored at another size than its image (a segmenter's output, a DICOM's rescaled PNG mask):
// the decoder turns it back into pixels of whatever raster it decoded (regionPixels).
// Pure geometry: reading a mask file is data/inputImage.ts's.

interface CropBox {
  left: number;
  top: number;
  width: number;
  height: number;
}
/** A box as fractions in [0, 1] of the image's width (left, width) and height (top, height). */
export interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}

export function lungCropBox(mask: ArrayLike<number>, width: number, height: number, margin = 0.1): CropBox {
  if (mask.length !== width * height) throw new Error(`lung mask holds ${mask.length} pixels, not ${width}×${height}`);
  if (!(margin >= 0)) throw new Error(`crop margin must be >= 0 (got ${margin})`);
  let x0 = width,
    y0 = height,
    x1 = -1,
    y1 = -1;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      if (!mask[y * width + x]) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  if (x1 < 0) return { left: 0, top: 0, width, height };
  const mx = Math.round((x1 - x0 + 1) * margin),
    my = Math.round((y1 - y0 + 1) * margin);
  const left = Math.max(0, x0 - mx),
    top = Math.max(0, y0 - my);
  return { left, top, width: Math.min(width, x1 + 1 + mx) - left, height: Math.min(height, y1 + 1 + my) - top };
}

/** A pixel box as a Region of a width×height image. */
export function boxToRegion(b: CropBox, width: number, height: number): Region {
  return { left: b.left / width, top: b.top / height, width: b.width / width, height: b.height / height };
}

/** A Region in pixels of a W×H raster: rounded outwards, at least one pixel, inside the raster. */
export function regionPixels(r: Region, W: number, H: number): CropBox {
  if (!(W > 0 && H > 0)) throw new Error('a crop region needs the image size');
  const left = Math.min(W - 1, Math.max(0, Math.floor(r.left * W + 1e-9)));
  const top = Math.min(H - 1, Math.max(0, Math.floor(r.top * H + 1e-9)));
  const right = Math.min(W, Math.max(left + 1, Math.ceil((r.left + r.width) * W - 1e-9)));
  const bottom = Math.min(H, Math.max(top + 1, Math.ceil((r.top + r.height) * H - 1e-9)));
  return { left, top, width: right - left, height: bottom - top };
}

/** The lung box of a binary mask given as 8-bit pixels (non-zero = lung), as a Region. */
export function lungRegionOf(mask: ArrayLike<number>, width: number, height: number, margin: number): Region {
  return boxToRegion(lungCropBox(mask, width, height, margin), width, height);
}
