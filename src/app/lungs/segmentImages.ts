// Runs a segmenter on images: S×S input (stretched, as in training), sigmoid, then the
// probability map resized back to the image's own size (bilinear) and thresholded.
import sharp from 'sharp';
import type { Segmenter } from '../../engine/segmentation/segmenter.js';
import type { SegmenterMeta } from '../../engine/segmentation/segmenterCheckpoint.js';
import type { Precision } from '../../engine/types.js';

/** Foreground probabilities (0..255) of S×S inputs, in batches. */
export async function segmentProbs(
  model: Segmenter,
  meta: Pick<SegmenterMeta, 'preprocessing'>,
  inputs: Uint8Array[],
  opts: { batchSize?: number; precision?: Precision } = {},
): Promise<Uint8Array[]> {
  const S = meta.preprocessing.size,
    bs = opts.batchSize ?? 8;
  const out: Uint8Array[] = [];
  for (let i = 0; i < inputs.length; i += bs) {
    const chunk = inputs.slice(i, i + bs);
    const px = new Uint8Array(chunk.length * S * S);
    for (const [k, c] of chunk.entries()) px.set(c, k * S * S);
    const { logits } = await model.predict(
      { pixels: px, shape: [chunk.length, S, S, 1] },
      { precision: opts.precision ?? 'fp32' },
    );
    for (let k = 0; k < chunk.length; k++) {
      const p = new Uint8Array(S * S);
      for (let j = 0; j < S * S; j++) p[j] = Math.round(255 / (1 + Math.exp(-logits[k * S * S + j]!)));
      out.push(p);
    }
  }
  return out;
}

/** An S×S probability map (0..255) → a 0/1 mask of width×height (bilinear resize, then threshold). */
export async function maskAtSize(
  prob: Uint8Array,
  S: number,
  width: number,
  height: number,
  threshold = 0.5,
): Promise<Uint8Array> {
  const r =
    width === S && height === S
      ? prob
      : new Uint8Array(
          await sharp(prob, { raw: { width: S, height: S, channels: 1 } })
            .resize(width, height, { fit: 'fill', kernel: 'linear' })
            .extractChannel(0)
            .raw()
            .toBuffer(),
        );
  const cut = threshold * 255;
  return r.map((v) => (v >= cut ? 1 : 0));
}
