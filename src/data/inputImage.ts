// A manifest row's image, or one of its masks, placed exactly as a model's input: the
// preprocessing record's size, fit and contrast, and, when the record crops to the lungs, the
// row's own lung box. Masks (lesion, lung) take the same geometry but never the contrast steps,
// so a mask pixel lies over the input pixel it labels (audit, cam-check, explain).
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ImagePreprocessing } from '../engine/preprocessing.js';
import { decodeImage } from './image.js';
import { lungRegionOf, type Region } from './lungCrop.js';
import { rowPath, type Manifest, type ManifestRow } from './manifest.js';

/** Manifest columns that hold a row's lung mask, in the order they are looked for. */
export const LUNG_MASK_COLUMNS = ['lung_mask', 'masks'];

/** The row's lung-mask file, or null. */
function lungMaskFile(m: Manifest, row: ManifestRow): string | null {
  const col = LUNG_MASK_COLUMNS.find((c) => row.extra[c]);
  return col ? rowPath(m, { path: row.extra[col]! }) : null;
}

// A training run asks for the same box every epoch: each mask file version is read once.
const regions = new Map<string, Promise<Region>>();

/** The lung Region of a mask file (any size the decoder reads; non-zero pixels = lung). */
export async function lungRegion(maskFile: string, margin: number): Promise<Region> {
  const abs = resolve(maskFile);
  const st = await stat(abs).catch(() => {
    throw new Error(`${maskFile}: lung mask file not found (the lung crop needs each image's mask)`);
  });
  const key = `${abs}\u0000${st.size}\u0000${st.mtimeMs}\u0000${margin}`;
  let p = regions.get(key);
  if (!p) {
    p = decodeImage(abs).then((m) => lungRegionOf(m.pixels, m.width, m.height, margin));
    p.catch(() => regions.delete(key));
    if (regions.size > 100_000) regions.clear();
    regions.set(key, p);
  }
  return p;
}

/** The lung box a lung-cropping record needs for this row; undefined when the record does not crop. */
export async function rowRegion(
  m: Manifest,
  row: ManifestRow,
  lungCrop: { margin: number } | undefined,
): Promise<Region | undefined> {
  if (!lungCrop) return undefined;
  const mask = lungMaskFile(m, row);
  if (!mask) {
    throw new Error(
      `${m.file}: ${row.path} has no lung mask (${LUNG_MASK_COLUMNS.join(' or ')} column), and this model ` +
        `crops every image to its lungs; run \`cxrtune lungs predict --model SEGMENTER --manifest ${m.file}\` ` +
        `first`,
    );
  }
  return lungRegion(mask, lungCrop.margin);
}

const lungCropOf = (p: ImagePreprocessing) => (p.crop === 'lungs' ? { margin: p.cropMargin } : undefined);

/** A mask of this row (path relative to the manifest) over the model's input, as 0/1. */
export async function decodeMaskAsInput(
  m: Manifest,
  row: ManifestRow,
  maskRel: string,
  p: ImagePreprocessing,
): Promise<Uint8Array> {
  const region = await rowRegion(m, row, lungCropOf(p));
  const img = await decodeImage(rowPath(m, { path: maskRel }), {
    size: p.size,
    fit: p.fit,
    ...(region ? { region } : {}),
  });
  return img.pixels.map((v) => (v > 127 ? 1 : 0));
}
