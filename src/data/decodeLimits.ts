// The bounds every decoder (data/image.ts, data/dicom.ts) checks from headers BEFORE it
// allocates pixels, so a hostile file costs a header read, not a decode:
//   - maxPixels: width × height of the decoded raster, and at most MAX_SIDE per side;
//   - maxBytes: the decoder's memory budget per image, the largest raster it may hold
//     (width × height × channels × bytes per sample). Default maxPixels × 8 bytes (four
//     16-bit channels, the widest sample sharp hands back), so only the pixel limit binds
//     for honest images; a caller can set a tighter one.
// A DICOM must also agree with itself: the embedded JPEG's own size, the pixel data's byte
// length and the bit depths are compared with Rows/Columns before anything is decoded.

const DEFAULT_MAX_PIXELS = 64 * 1024 * 1024;
const MAX_SIDE = 16384;
/** Bytes per pixel the default budget allows. */
const BUDGET_BYTES_PER_PIXEL = 8;

export interface DecodeLimits {
  /** Refuse rasters with more pixels than this (decompression bombs). Default 64 Mpx. */
  maxPixels?: number;
  /** Refuse rasters whose decoded size would exceed this many bytes. Default maxPixels × 8. */
  maxBytes?: number;
}

export type ResolvedLimits = Required<DecodeLimits>;

export function resolveLimits(l: DecodeLimits = {}): ResolvedLimits {
  const maxPixels = l.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(maxPixels > 0)) throw new Error(`invalid pixel limit ${maxPixels}`);
  const maxBytes = l.maxBytes ?? decodeBudget(maxPixels);
  if (!(maxBytes > 0)) throw new Error(`invalid decode budget ${maxBytes}`);
  return { maxPixels, maxBytes };
}

/** The default per-image decode budget for a pixel limit. */
export function decodeBudget(maxPixels: number): number {
  return maxPixels * BUDGET_BYTES_PER_PIXEL;
}

const mb = (b: number) => (b / 1048576).toFixed(b < 10485760 ? 1 : 0);

/** Throws "image too large" when width × height (or a side) is over the limits. */
function checkPixelCount(where: string, w: number, h: number, l: ResolvedLimits): void {
  if (w > MAX_SIDE || h > MAX_SIDE || w * h > l.maxPixels) {
    throw new Error(`${where}: image too large (${w}×${h}; limit ${MAX_SIDE} px per side and ${l.maxPixels} pixels)`);
  }
}

/** Throws "image too large" when decoding would hold more than the memory budget. */
export function checkDecodeBytes(where: string, w: number, h: number, bytesPerPixel: number, l: ResolvedLimits): void {
  const bytes = w * h * bytesPerPixel;
  if (bytes > l.maxBytes) {
    throw new Error(
      `${where}: image too large to decode (${w}×${h} × ${bytesPerPixel} bytes = ${mb(bytes)} MB; the ` +
        `decode budget is ${mb(l.maxBytes)} MB)`,
    );
  }
}

/** Both checks, for a raster about to be decoded. */
export function checkRaster(where: string, w: number, h: number, bytesPerPixel: number, l: ResolvedLimits): void {
  checkPixelCount(where, w, h, l);
  checkDecodeBytes(where, w, h, bytesPerPixel, l);
}

/** sharp's own refusal (limitInputPixels) in our words. */
export function isSharpPixelLimit(err: unknown): boolean {
  return err instanceof Error && /exceeds pixel limit/i.test(err.message);
}
