// What the Grad-CAM check measures on one image: the positive class's peak inside the lesion
// (pointing game), its mass in the lesions, and the predicted class's mass in the lung field, with the masks' areas.
import type { Manifest, ManifestRow } from '../../data/manifest.js';
import { decodeMaskAsInput } from '../../data/inputImage.js';
import type { CheckpointMeta } from '../../engine/checkpoint.js';
import type { Preprocessing } from '../../engine/preprocessing.js';
import { massInside, pointingHit } from '../../recipe/gradcam.js';

export interface CamCheckImage {
  row: number;
  label: string;
  predicted: string;
  pPositive: number;
  /** Positive class's heatmap peak inside the lesion mask (positives with a lesion). */
  hit?: boolean;
  lesionMass?: number;
  lesionArea?: number;
  lungMass?: number;
  lungArea?: number;
}

/** A mask placed exactly as the model's input (same size, fit and lung crop), thresholded. */
async function loadMask(
  m: Manifest,
  row: ManifestRow,
  rel: string | undefined,
  p: Preprocessing,
): Promise<Uint8Array | null> {
  return rel ? decodeMaskAsInput(m, row, rel, p) : null;
}

const area = (m: Uint8Array) => m.reduce((a, b) => a + b, 0) / m.length;

/** One image's pointing hit and mass in the lesions (positives) and in the lung field, where it has the masks. */
export async function measureImage(
  manifest: Manifest,
  meta: CheckpointMeta,
  base: { row: number; predicted: string; pPositive: number },
  isPos: boolean,
  posHeat: Float32Array,
  predHeat: Float32Array,
): Promise<{ rec: CamCheckImage; lesion: Uint8Array | null }> {
  const mr = manifest.rows[base.row]!;
  const rec: CamCheckImage = { row: base.row, label: mr.label, predicted: base.predicted, pPositive: base.pPositive };
  const lesion = isPos ? await loadMask(manifest, mr, mr.extra.mask, meta.preprocessing) : null;
  if (lesion?.some((v) => v)) {
    rec.hit = pointingHit(posHeat, lesion);
    rec.lesionMass = massInside(posHeat, lesion);
    rec.lesionArea = area(lesion);
  }
  const lung = await loadMask(manifest, mr, mr.extra.lung_mask, meta.preprocessing);
  if (lung) {
    rec.lungMass = massInside(predHeat, lung);
    rec.lungArea = area(lung);
  }
  return { rec, lesion };
}
