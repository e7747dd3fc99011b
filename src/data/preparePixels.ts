// The preprocessing record applied to an already decoded grey raster, in plain TypeScript: what
// data/image.ts does with sharp after decoding (lung box, fit to S×S, equalisation, standardisation),
// for the in-browser page (app/export/web), which decodes with the browser and must hand the model the
// engine's pixels. CLAHE is libvips' own algorithm and is not reproduced: a record that asks for it is
// refused in one line (the export refuses it first).
import type { Equalize, Fit } from '../engine/preprocessing.js';
import type { GrayImage } from './image.js';
import { regionPixels, type Region } from './lungCrop.js';
import { equalizeHistogram, standardizeImage } from './pixelOps.js';
import { extractGray, fitGray } from './sharpResize.js';

export interface RasterPreprocessing {
  size: number;
  fit: Fit;
  equalize: Equalize;
  standardize?: 'image' | 'none';
  /** The lung box (fractions of the image), cut before the fit. */
  region?: Region;
}

export function preparePixels(raster: GrayImage, o: RasterPreprocessing): GrayImage {
  if (o.equalize === 'clahe') throw new Error('CLAHE equalisation is not available outside the engine');
  const cut = o.region ? extractGray(raster, regionPixels(o.region, raster.width, raster.height)) : raster;
  const out = fitGray(cut, o.size, o.fit);
  const pixels = out.pixels === raster.pixels ? out.pixels.slice() : out.pixels;
  if (o.equalize === 'hist') equalizeHistogram(pixels);
  if (o.standardize === 'image') standardizeImage(pixels);
  return { pixels, width: out.width, height: out.height };
}

/**
 * RGBA (a canvas' ImageData) to one grey channel: the red channel where the image is grey (R = G = B,
 * every radiograph), else libvips' sRGB → B_W (Rec. 709 luminance in linear light, back to sRGB).
 */
export function grayOfRgba(rgba: Uint8ClampedArray | Uint8Array, width: number, height: number): GrayImage {
  const n = width * height;
  const px = new Uint8Array(n);
  let grey = true;
  for (let i = 0; i < n && grey; i++) grey = rgba[i * 4] === rgba[i * 4 + 1] && rgba[i * 4] === rgba[i * 4 + 2];
  if (grey) for (let i = 0; i < n; i++) px[i] = rgba[i * 4]!;
  else {
    const lin = Float64Array.from({ length: 256 }, (_, v) => {
      const c = v / 255;
      return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    for (let i = 0; i < n; i++) {
      const y = 0.2126 * lin[rgba[i * 4]!]! + 0.7152 * lin[rgba[i * 4 + 1]!]! + 0.0722 * lin[rgba[i * 4 + 2]!]!;
      const s = y <= 0.0031308 ? 12.92 * y : 1.055 * y ** (1 / 2.4) - 0.055;
      px[i] = Math.min(255, Math.max(0, Math.round(s * 255)));
    }
  }
  return { pixels: px, width, height };
}
