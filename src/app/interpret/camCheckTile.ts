// A tile of the Grad-CAM check's gallery: the image and its overlay with the lesion's outline
// drawn in white, captioned with the hit or miss and the mass in the lesion and the lung field.
import type { Batch } from '../../engine/types.js';
import { overlay } from '../../recipe/gradcam.js';
import { grayOf } from './camMaps.js';
import type { CamCheckImage } from './camCheckMeasures.js';
import { grayPng, rgbPng, type Tile } from './gallery.js';

/**
 * A gallery tile: the image and its Grad-CAM overlay, with the lesion outline drawn in (white) so a reader sees hit or
 * miss.
 */
export async function camTile(
  b: Batch,
  i: number,
  rec: CamCheckImage,
  heat: Float32Array,
  lesion: Uint8Array | null,
  t: { isPos: boolean; wrong: boolean; opacity: number; S: number },
): Promise<Tile> {
  const gray = grayOf(b, i);
  const ov = overlay(gray, heat, t.opacity);
  if (lesion) outline(ov, lesion, t.S);
  return {
    title: `${rec.label} → ${rec.predicted} (p ${rec.pPositive.toFixed(2)})`,
    lines: [
      t.isPos && rec.hit !== undefined
        ? `peak ${rec.hit ? 'inside' : 'outside'} lesion; ${(100 * rec.lesionMass!).toFixed(0)} % mass in lesion`
        : `Grad-CAM of '${rec.predicted}'`,
      rec.lungMass !== undefined ? `${(100 * rec.lungMass).toFixed(0)} % of mass in the lung field` : '',
    ],
    image: await grayPng(gray, t.S),
    overlay: await rgbPng(ov, t.S),
    wrong: t.wrong,
  };
}

/** Paints the mask's boundary white into an RGB image. */
function outline(rgb: Uint8Array, mask: Uint8Array, S: number): void {
  for (let y = 0; y < S; y++)
    for (let x = 0; x < S; x++) {
      const i = y * S + x;
      if (!mask[i]) continue;
      const edge =
        x === 0 ||
        y === 0 ||
        x === S - 1 ||
        y === S - 1 ||
        !mask[i - 1] ||
        !mask[i + 1] ||
        !mask[i - S] ||
        !mask[i + S];
      if (edge) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = 255;
    }
}
