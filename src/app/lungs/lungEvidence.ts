// Where the evidence lies: the lung field of a study (from the lung segmenter) and the share of
// the Grad-CAM heat inside it, for the screening app. A model that reads the lungs puts most of
// its evidence there; heat on markers, borders, devices or text is the shortcut a clinician must
// be told about (DeGrave et al. 2021).
//
// Choices:
// - The mask is computed on the image exactly as the classifier saw it (its preprocessing
//   record, S×S), resized to the segmenter's input (stretch, as it was trained) and back, so the
//   outline lines up with the heatmap pixel for pixel.
// - Share = Σ heat·mask / Σ heat over the heatmap in [0, 1]. Warning below 50 %: then most of the
//   evidence is outside the lungs. A lung field under 5 % of the image means the segmenter found
//   no lungs (not a frontal chest radiograph, or an unusual one): the share is not given then.
import sharp from 'sharp';
import { loadSegmenter, type SegmenterMeta } from '../../engine/segmentation/segmenterCheckpoint.js';
import type { Segmenter } from '../../engine/segmentation/segmenter.js';
import { readFile } from 'node:fs/promises';
import { decodeImageBuffer, type GrayImage } from '../../data/image.js';
import { lungRegionOf, type Region } from '../../data/lungCrop.js';
import { maskAtSize, segmentProbs } from './segmentImages.js';
import { lungFieldShape, type LungFieldShape } from '../../recipe/lungFields.js';
import { LUNG_FIELD_LIMITS } from '../../recipe/frontalCheck.js';

const OUTSIDE_WARNING_SHARE = 0.5;
/** No lung field below this share of the image: the refusal's own floor. */
const MIN_LUNG_AREA = LUNG_FIELD_LIMITS.minArea;

interface LungEvidence {
  /** Share of the Grad-CAM heat inside the lung field (null when no lung field was found). */
  insideShare: number | null;
  /** Lung field area as a share of the image (what a uniform heatmap would put inside). */
  lungArea: number;
  /** Plain-language warning for the clinician, or null. */
  warning: string | null;
}

/** Pure: the evidence figures of one heatmap and one 0/1 mask of the same size. */
export function lungEvidence(heat: Float32Array, mask: Uint8Array): LungEvidence {
  if (heat.length !== mask.length)
    throw new Error(`heatmap (${heat.length} px) and lung mask (${mask.length} px) differ in size`);
  let area = 0;
  let total = 0;
  let inside = 0;
  for (let i = 0; i < heat.length; i++) {
    const h = Math.max(0, heat[i]!);
    total += h;
    if (mask[i]) {
      area++;
      inside += h;
    }
  }
  const lungArea = area / mask.length;
  if (lungArea < MIN_LUNG_AREA) {
    return {
      insideShare: null,
      lungArea,
      warning:
        'No lung field was found on this image: it may not be a frontal chest radiograph. Do not rely on this result.',
    };
  }
  const insideShare = total > 0 ? inside / total : 0;
  const warning =
    insideShare < OUTSIDE_WARNING_SHARE
      ? `Most of the evidence (${Math.round(100 * (1 - insideShare))} %) lies outside the lungs — markers, ` +
        `borders, devices or text may be driving this result. Read the film yourself before acting on it.`
      : null;
  return { insideShare, lungArea, warning };
}

/** RGBA outline of a 0/1 mask (a lung pixel with a background 4-neighbour), to draw under the heatmap. */
export function outlineRgba(
  mask: Uint8Array,
  width: number,
  height: number,
  rgb: [number, number, number] = [0, 230, 255],
): Uint8Array {
  const out = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (!mask[i]) continue;
      const edge =
        x === 0 ||
        y === 0 ||
        x === width - 1 ||
        y === height - 1 ||
        !mask[i - 1] ||
        !mask[i + 1] ||
        !mask[i - width] ||
        !mask[i + width];
      if (!edge) continue;
      out.set([rgb[0], rgb[1], rgb[2], 255], i * 4);
    }
  }
  return out;
}

/** A loaded lung segmenter that gives masks for images as the classifier saw them. */
export class LungField {
  private constructor(
    readonly model: Segmenter,
    readonly meta: SegmenterMeta,
    readonly dir: string,
  ) {}

  static async load(dir: string, o: { device?: string } = {}): Promise<LungField> {
    const { model, meta } = await loadSegmenter(dir, o.device ? { device: o.device } : {});
    return new LungField(model, meta, dir);
  }

  /** 0/1 lung masks at each image's own size. */
  async masks(images: GrayImage[]): Promise<Uint8Array[]> {
    const S = this.meta.preprocessing.size;
    const inputs = await Promise.all(
      images.map(async (g) =>
        g.width === S && g.height === S
          ? g.pixels
          : new Uint8Array(
              await sharp(g.pixels, { raw: { width: g.width, height: g.height, channels: 1 } })
                .resize(S, S, { fit: 'fill' })
                .extractChannel(0)
                .raw()
                .toBuffer(),
            ),
      ),
    );
    const probs = await segmentProbs(this.model, this.meta, inputs);
    return Promise.all(probs.map((p, i) => maskAtSize(p, S, images[i]!.width, images[i]!.height, this.meta.threshold)));
  }

  /**
   * The lung box of an image file's bytes, for a lung-cropping classifier, and the shape of its
   * lung fields, for the refusal of what is not a frontal chest radiograph: the whole image
   * stretched to the segmenter's input (as it was trained), so the mask's box, as fractions, is
   * the box on the original image. One segmenter pass gives both.
   */
  async fieldOf(
    buf: Uint8Array,
    margin: number,
    limits: { maxPixels?: number; maxBytes?: number } = {},
    where = 'upload',
  ): Promise<{ region: Region; shape: LungFieldShape }> {
    const S = this.meta.preprocessing.size;
    const img = await decodeImageBuffer(buf, where, { size: S, fit: 'stretch', ...limits });
    const [prob] = await segmentProbs(this.model, this.meta, [img.pixels]);
    const mask = await maskAtSize(prob!, S, S, S, this.meta.threshold);
    return { region: lungRegionOf(mask, S, S, margin), shape: lungFieldShape(mask, S, S, img.pixels) };
  }

  /** The lung box alone (fieldOf's). */
  async regionOf(
    buf: Uint8Array,
    margin: number,
    limits: { maxPixels?: number; maxBytes?: number } = {},
    where = 'upload',
  ): Promise<Region> {
    return (await this.fieldOf(buf, margin, limits, where)).region;
  }

  /** As regionOf, for a file. */
  async regionOfFile(file: string, margin: number): Promise<Region> {
    return this.regionOf(await readFile(file), margin, {}, file);
  }

  /** Evidence figures and the outline PNG for one study. */
  async explain(image: GrayImage, heat: Float32Array): Promise<LungEvidence & { outlinePng: Buffer }> {
    const [mask] = await this.masks([image]);
    const ev = lungEvidence(heat, mask!);
    const outlinePng = await sharp(outlineRgba(mask!, image.width, image.height), {
      raw: { width: image.width, height: image.height, channels: 4 },
    })
      .png({ compressionLevel: 4 })
      .toBuffer();
    return { ...ev, outlinePng };
  }
}
