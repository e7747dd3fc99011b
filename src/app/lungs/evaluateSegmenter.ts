// Held-out evaluation of a lung segmenter: per image Dice, IoU and HD95 at the mask's own
// size (the prediction is resized to it), then per source the mean with a 95 % patient-
// cluster percentile-bootstrap interval (recipe/segmentationMetrics.ts).
import { imageOptions } from '../../engine/preprocessing.js';
import { decodeImage } from '../../data/image.js';
import { bootstrapMean, dice, hausdorff95, iou, type MeanInterval } from '../../recipe/segmentationMetrics.js';
import type { Segmenter } from '../../engine/segmentation/segmenter.js';
import type { SegmenterMeta } from '../../engine/segmentation/segmenterCheckpoint.js';
import type { Precision } from '../../engine/types.js';
import { maskAtSize, segmentProbs } from './segmentImages.js';

interface SegEvalItem {
  image: string;
  mask: string;
  source: string;
  patientId: string;
}
export interface SegEvalRow extends SegEvalItem {
  dice: number;
  iou: number;
  hd95: number;
  width: number;
  height: number;
}
export interface SegSourceSummary {
  source: string;
  images: number;
  patients: number;
  dice: MeanInterval;
  iou: MeanInterval;
  hd95: MeanInterval;
}

export async function evaluateSegmenter(
  model: Segmenter,
  meta: SegmenterMeta,
  items: SegEvalItem[],
  opts: { precision?: Precision; log?: (m: string) => void; seed?: number } = {},
): Promise<{ rows: SegEvalRow[]; sources: SegSourceSummary[] }> {
  const S = meta.preprocessing.size;
  const rows: SegEvalRow[] = [];
  const chunk = 16;
  for (let i = 0; i < items.length; i += chunk) {
    const part = items.slice(i, i + chunk);
    const inputs = await Promise.all(
      part.map(async (it) => (await decodeImage(it.image, imageOptions(meta.preprocessing))).pixels),
    );
    const probs = await segmentProbs(model, meta, inputs, opts.precision ? { precision: opts.precision } : {});
    for (let k = 0; k < part.length; k++) {
      const it = part[k]!;
      const gt = await decodeImage(it.mask);
      const truth = gt.pixels.map((v) => (v >= 128 ? 1 : 0));
      const pred = await maskAtSize(probs[k]!, S, gt.width, gt.height, meta.threshold);
      rows.push({
        ...it,
        dice: dice(pred, truth),
        iou: iou(pred, truth),
        hd95: hausdorff95(pred, truth, gt.width, gt.height),
        width: gt.width,
        height: gt.height,
      });
    }
    opts.log?.(`evaluated ${rows.length}/${items.length}`);
  }
  return { rows, sources: summarise(rows, opts.seed ?? 1) };
}

function summarise(rows: SegEvalRow[], seed = 1): SegSourceSummary[] {
  const sources = [...new Set(rows.map((r) => r.source))];
  return [...sources, ...(sources.length > 1 ? ['all'] : [])].map((source) => {
    const rs = source === 'all' ? rows : rows.filter((r) => r.source === source);
    const pid = rs.map((r) => r.patientId);
    return {
      source,
      images: rs.length,
      patients: new Set(pid).size,
      dice: bootstrapMean(
        rs.map((r) => r.dice),
        pid,
        { seed },
      ),
      iou: bootstrapMean(
        rs.map((r) => r.iou),
        pid,
        { seed },
      ),
      hd95: bootstrapMean(
        rs.map((r) => r.hd95),
        pid,
        { seed },
      ),
    };
  });
}
