// Decoded lung images and masks at the segmenter's input size, held in memory (the whole
// set at 256 px is ~150 MB): the model sees the image stretched to S×S (fit 'stretch', as
// model.json records), the mask resized the same way and thresholded at half.
import { decodeImage } from '../../data/image.js';
import pLimit from 'p-limit';

export interface SegSample {
  image: string;
  /** S×S grey pixels. */
  pixels: Uint8Array;
  /** S×S 0/1 (empty when there is no mask). */
  mask: Uint8Array;
}

export async function loadSamples(
  items: { image: string; mask?: string }[],
  size: number,
  onProgress?: (done: number) => void,
): Promise<SegSample[]> {
  let done = 0;
  return pLimit(4).map(items, async (it) => {
    const img = await decodeImage(it.image, { size, fit: 'stretch' });
    let mask = new Uint8Array(0);
    if (it.mask) {
      const m = await decodeImage(it.mask, { size, fit: 'stretch' });
      mask = m.pixels.map((v) => (v >= 128 ? 1 : 0));
    }
    if (++done % 100 === 0) onProgress?.(done);
    return { image: it.image, pixels: img.pixels, mask };
  });
}
