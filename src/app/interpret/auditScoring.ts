// The audit's one pass of the model over a split: each image as is (with its pooled features),
// with only the frame left and with the lung fields blacked out, the lung region from a mask or a fixed box.
import type { BatchLoader } from '../../data/batchLoader.js';
import type { GrayImage } from '../../data/image.js';
import { decodeMaskAsInput, LUNG_MASK_COLUMNS } from '../../data/inputImage.js';
import type { Manifest, ManifestRow } from '../../data/manifest.js';
import { applyOcclusion, coverage, occlusionMask, type OcclusionKind } from '../../data/occlusion.js';
import type { CheckpointMeta } from '../../engine/checkpoint.js';
import type { InferenceModel } from '../../engine/types.js';
import type { Preprocessing } from '../../engine/preprocessing.js';
import { applyCalibration, calibrationOf } from '../../recipe/calibrationMap.js';
import type { AuditOptions } from './auditRecord.js';

/** The column holding lung masks when every audited row has one, else null (fixed box for all). */
export function maskColumn(rows: ManifestRow[]): string | null {
  return LUNG_MASK_COLUMNS.find((c) => rows.every((r) => r.extra[c])) ?? null;
}

/** A lung mask placed exactly as the model's input (same fit, same lung crop), thresholded. */
async function lungMask(
  manifest: Manifest,
  row: ManifestRow,
  p: Preprocessing,
  col: string | null,
): Promise<Uint8Array | null> {
  if (!col) return null;
  const m = await decodeMaskAsInput(manifest, row, row.extra[col]!, p);
  return m.some((v) => v) ? m : null;
}

export interface Scored {
  probs: Record<'full' | OcclusionKind, Float32Array>;
  rowIdx: number[];
  labelIdx: Int32Array;
  features: Float32Array | null;
  dims: number;
  fromMasks: number;
  blanked: Record<OcclusionKind, number>;
  examples: GrayImage[];
}

/** One pass over the split: each image as is (with its pooled features) and under both occlusions. */
export async function scoreImages(
  model: InferenceModel,
  meta: CheckpointMeta,
  manifest: Manifest,
  loader: BatchLoader,
  layer: string,
  maskCol: string | null,
  onProgress: AuditOptions['onProgress'],
): Promise<Scored> {
  const pc = meta.positiveClass;
  const C = meta.classes.length;
  const S = meta.preprocessing.size;
  const ch = meta.preprocessing.channels;
  const n = loader.length;
  const sc: Scored = {
    probs: {
      full: new Float32Array(n * C),
      'frame-only': new Float32Array(n * C),
      'lungs-out': new Float32Array(n * C),
    },
    rowIdx: [],
    labelIdx: new Int32Array(n),
    features: null,
    dims: 0,
    fromMasks: 0,
    blanked: { 'frame-only': 0, 'lungs-out': 0 },
    examples: [],
  };
  const gray = (px: Uint8Array, i: number): GrayImage => ({
    pixels: Uint8Array.from({ length: S * S }, (_, p) => px[(i * S * S + p) * ch]!),
    width: S,
    height: S,
  });
  const cal = calibrationOf(meta); // a recalibrated checkpoint: its threshold is on the calibrated scale
  let done = 0;
  for await (const b of loader.epoch(0)) {
    const B = b.shape[0];
    const f = await model.features(b, layer);
    sc.dims = f.shape[1];
    if (!sc.features) sc.features = new Float32Array(n * sc.dims);
    sc.features.set(f.features, done * sc.dims);
    sc.probs.full.set(applyCalibration(f.probs, C, pc, cal), done * C);
    const masks = await Promise.all(
      b.rows.map((r) => lungMask(manifest, manifest.rows[r]!, meta.preprocessing, maskCol)),
    );
    const occluded: Partial<Record<OcclusionKind, Uint8Array>> = {};
    for (const kind of ['frame-only', 'lungs-out'] as const) {
      const px = b.pixels.slice();
      masks.forEach((lung, i) => {
        const m = occlusionMask(kind, S, lung);
        sc.blanked[kind] += coverage(m);
        applyOcclusion(px, i, S, ch, m);
      });
      const r = await model.predict({ ...b, pixels: px });
      sc.probs[kind].set(applyCalibration(r.probs, C, pc, cal), done * C);
      occluded[kind] = px;
    }
    for (let i = 0; i < B && sc.examples.length < 18; i++)
      sc.examples.push(gray(b.pixels, i), gray(occluded['frame-only']!, i), gray(occluded['lungs-out']!, i));
    sc.fromMasks += masks.filter((m) => m).length;
    sc.labelIdx.set(b.labels, done);
    sc.rowIdx.push(...b.rows);
    done += B;
    onProgress?.(done, n);
  }
  return sc;
}
