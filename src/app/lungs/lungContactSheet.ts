// A contact sheet of lung outlines: each cell is an image resized to `cell` px with the
// predicted outline (red) and, where known, the reference outline (green), captioned with
// its source and Dice.
import sharp, { type OverlayOptions } from 'sharp';
import { decodeImage } from '../../data/image.js';
import { edges } from '../../recipe/segmentationMetrics.js';

export interface SheetCell {
  image: string;
  predicted: Uint8Array;
  truth?: Uint8Array;
  width: number;
  height: number;
  caption: string;
}

/** `null` cells stay blank (to start a group on a new row). */
export async function lungContactSheet(
  cells: (SheetCell | null)[],
  opts: { cell?: number; columns?: number; title?: string } = {},
): Promise<Buffer> {
  const C = opts.cell ?? 224,
    cols = opts.columns ?? 6,
    capH = 18,
    titleH = opts.title ? 28 : 0;
  const rows = Math.ceil(cells.length / cols);
  const parts: OverlayOptions[] = [];
  for (const [i, c] of cells.entries()) {
    if (!c) continue;
    const img = await decodeImage(c.image, { size: C, fit: 'stretch' });
    const rgb = new Uint8Array(C * C * 3);
    for (let j = 0; j < C * C; j++) rgb[3 * j] = rgb[3 * j + 1] = rgb[3 * j + 2] = img.pixels[j]!;
    const paint = async (m: Uint8Array, colour: [number, number, number]) => {
      const small = await sharp(
        m.map((v) => v * 255),
        { raw: { width: c.width, height: c.height, channels: 1 } },
      )
        .resize(C, C, { fit: 'fill' })
        .extractChannel(0)
        .raw()
        .toBuffer();
      const e = edges(
        small.map((v) => (v >= 128 ? 1 : 0)),
        C,
        C,
      );
      for (let j = 0; j < C * C; j++) if (e[j]) [rgb[3 * j], rgb[3 * j + 1], rgb[3 * j + 2]] = colour;
    };
    if (c.truth) await paint(c.truth, [40, 220, 60]);
    await paint(c.predicted, [240, 40, 40]);
    const tile = await sharp(rgb, { raw: { width: C, height: C, channels: 3 } })
      .png()
      .toBuffer();
    const x = (i % cols) * C,
      y = titleH + Math.floor(i / cols) * (C + capH);
    parts.push({ input: tile, left: x, top: y });
    parts.push({ input: Buffer.from(svgText(c.caption, C, capH, 11)), left: x, top: y + C });
  }
  if (opts.title) parts.push({ input: Buffer.from(svgText(opts.title, cols * C, titleH, 14)), left: 0, top: 0 });
  return sharp({
    create: { width: cols * C, height: titleH + rows * (C + capH), channels: 3, background: { r: 0, g: 0, b: 0 } },
  })
    .composite(parts)
    .png()
    .toBuffer();
}

function svgText(text: string, w: number, h: number, size: number): string {
  const esc = text.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!);
  return (
    `<svg width="${w}" height="${h}" xmlns="http://www.w3.org/2000/svg"><rect width="100%" height="100%" ` +
    `fill="black"/><text x="4" y="${h - 5}" font-family="sans-serif" font-size="${size}" ` +
    `fill="white">${esc}</text></svg>`
  );
}
