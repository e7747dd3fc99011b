// Galleries of explanations: tiles of an image beside its Grad-CAM overlay with a caption, as a
// PNG grid or a small self-contained HTML page, and the PNGs of gray and RGB pixels.
import sharp, { type OverlayOptions } from 'sharp';
import { escapeHtml, pngDataUrl } from '../report/html.js';

export async function grayPng(gray: Uint8Array, size: number): Promise<Buffer> {
  return sharp(gray, { raw: { width: size, height: size, channels: 1 } })
    .png()
    .toBuffer();
}

export async function rgbPng(rgb: Uint8Array, size: number): Promise<Buffer> {
  return sharp(rgb, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();
}

export interface Tile {
  title: string;
  lines: string[];
  image: Buffer;
  overlay: Buffer;
  /** Highlights a wrong prediction. */
  wrong?: boolean;
}

/** A PNG grid: per item the image and its overlay side by side, a caption above. */
export async function galleryPng(tiles: Tile[], size: number, cols = 4): Promise<Buffer> {
  const cell = Math.max(size, 128);
  const capH = 46;
  const tileW = 2 * cell + 6;
  const tileH = cell + capH;
  const gap = 10;
  const rows = Math.max(1, Math.ceil(tiles.length / cols));
  const W = cols * tileW + (cols + 1) * gap;
  const Hh = rows * tileH + (rows + 1) * gap;
  const comps: OverlayOptions[] = [];
  for (const [k, t] of tiles.entries()) {
    const x = gap + (k % cols) * (tileW + gap);
    const y = gap + Math.floor(k / cols) * (tileH + gap);
    const svg =
      `<svg xmlns="http://www.w3.org/2000/svg" width="${tileW}" height="${capH}"><rect width="100%" ` +
      `height="100%" fill="${t.wrong ? '#fde2e2' : '#eef3f8'}"/>` +
      `<text x="4" y="16" font-family="DejaVu Sans, sans-serif" font-size="13" ` +
      `font-weight="bold">${escapeHtml(t.title)}</text>` +
      t.lines
        .map(
          (l, i) =>
            `<text x="4" y="${31 + 13 * i}" font-family="DejaVu Sans, sans-serif" ` +
            `font-size="11">${escapeHtml(l)}</text>`,
        )
        .join('') +
      '</svg>';
    comps.push({ input: Buffer.from(svg), left: x, top: y });
    const img = cell === size ? t.image : await sharp(t.image).resize(cell, cell).png().toBuffer();
    const ov = cell === size ? t.overlay : await sharp(t.overlay).resize(cell, cell).png().toBuffer();
    comps.push({ input: img, left: x, top: y + capH }, { input: ov, left: x + cell + 6, top: y + capH });
  }
  return sharp({ create: { width: W, height: Hh, channels: 3, background: '#ffffff' } })
    .composite(comps)
    .png()
    .toBuffer();
}

/** A small self-contained HTML page of tiles (images as data URLs). */
export function galleryHtml(title: string, intro: string, tiles: Tile[]): string {
  const items = tiles
    .map(
      (t) =>
        `<figure class="${t.wrong ? 'wrong' : ''}"><div class="pair"><img src="${pngDataUrl(t.image)}" ` +
        `alt="image"><img src="${pngDataUrl(t.overlay)}" alt="Grad-CAM overlay"></div>` +
        `<figcaption><b>${escapeHtml(t.title)}</b><br>${t.lines.map(escapeHtml).join('<br>')}</figcaption></figure>`,
    )
    .join('\n');
  const css =
    'body{font:14px/1.4 system-ui,sans-serif;margin:20px;color:#222}' +
    'figure{display:inline-block;margin:6px;padding:6px;background:#eef3f8;border-radius:6px;vertical-align:top}\n' +
    'figure.wrong{background:#fde2e2}.pair img{width:180px;height:180px;image-rendering:auto;margin-right:4px}' +
    'figcaption{font-size:12px;max-width:370px}\n';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>
${css}</style></head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(intro)}</p>
${items}
</body></html>
`;
}
