// Contact sheets: grids of thumbnails to inspect augmented images or phantoms by eye (the
// paper's cleaning step). A CSV next to each sheet maps cell → file so that rejects can be
// copied into an --exclude list.
import sharp from 'sharp';
import type { GrayImage } from './image.js';

interface ContactSheetOptions {
  /** Columns (default ceil(sqrt(n))). */
  cols?: number;
  /** Cell size in px (default 128). */
  cell?: number;
  /** Gap between cells in px (default 2, drawn mid-gray). */
  gap?: number;
}

/** Compose grayscale images (any sizes; each is resized to fit its cell) into one PNG. */
export async function contactSheet(images: GrayImage[], opts: ContactSheetOptions = {}): Promise<Buffer> {
  if (images.length === 0) throw new Error('contact sheet: no images');
  const cell = opts.cell ?? 128;
  const gap = opts.gap ?? 2;
  const cols = opts.cols ?? Math.ceil(Math.sqrt(images.length));
  const rows = Math.ceil(images.length / cols);
  const W = cols * cell + (cols + 1) * gap;
  const H = rows * cell + (rows + 1) * gap;
  const canvas = new Uint8Array(W * H).fill(96);
  for (let i = 0; i < images.length; i++) {
    const img = images[i];
    const thumb =
      img.width === cell && img.height === cell
        ? img.pixels
        : new Uint8Array(
            await sharp(img.pixels, { raw: { width: img.width, height: img.height, channels: 1 } })
              .resize(cell, cell, { fit: 'contain', background: { r: 0, g: 0, b: 0 } })
              .grayscale()
              .raw()
              .toBuffer(),
          );
    const ox = gap + (i % cols) * (cell + gap);
    const oy = gap + Math.floor(i / cols) * (cell + gap);
    for (let y = 0; y < cell; y++) canvas.set(thumb.subarray(y * cell, (y + 1) * cell), (oy + y) * W + ox);
  }
  return sharp(canvas, { raw: { width: W, height: H, channels: 1 } })
    .png()
    .toBuffer();
}

/** Letterboxed area-average thumbnail in JS (cheap; keeps memory low for big runs). */
export function thumbnail(img: GrayImage, cell: number): GrayImage {
  const scale = Math.max(img.width, img.height) / cell;
  if (scale <= 1) return img;
  const w = Math.max(1, Math.round(img.width / scale));
  const h = Math.max(1, Math.round(img.height / scale));
  const ox = (cell - w) >> 1;
  const oy = (cell - h) >> 1;
  const out = new Uint8Array(cell * cell);
  for (let y = 0; y < h; y++) {
    const y0 = Math.floor(y * scale);
    const y1 = Math.max(y0 + 1, Math.min(img.height, Math.floor((y + 1) * scale)));
    for (let x = 0; x < w; x++) {
      const x0 = Math.floor(x * scale);
      const x1 = Math.max(x0 + 1, Math.min(img.width, Math.floor((x + 1) * scale)));
      let sum = 0;
      for (let yy = y0; yy < y1; yy++) for (let xx = x0; xx < x1; xx++) sum += img.pixels[yy * img.width + xx];
      out[(oy + y) * cell + ox + x] = Math.round(sum / ((y1 - y0) * (x1 - x0)));
    }
  }
  return { pixels: out, width: cell, height: cell };
}
