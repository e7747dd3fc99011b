// An ensemble answers the calls a single classifier answers (engine/types.ts InferenceModel), so
// evaluate, explain, audit, calibrate, serve and pacs follow take it as they take one model:
//
// - predict: the mean of the members' class probabilities, each through its own calibration.
//   Probabilities, not logits: the mean of calibrated probabilities stays a probability on the
//   scale each member's threshold and calibration were made on, and one over-confident member
//   (a logit of 20) cannot outvote the others, as it does in a mean of logits (a geometric mean
//   of probabilities). This is the deep-ensemble rule (Lakshminarayanan et al. 2017).
// - gradCamMaps: the mean of the members' heatmaps, each upsampled to the input and scaled to
//   peak 1 first (recipe/gradcam.ts camHeatmap), so every member weighs the same whatever the
//   size of its gradients or of its last block; the consumer scales the mean to peak 1 again.
// - features: the members' pooled features side by side (the audit's source probe reads all
//   that the ensemble sees).
// Every member sees the same input batch: they share the preprocessing record (checked when the
// ensemble is made and when it is loaded); each normalises it with its own mean and std.
import type { CheckpointMeta } from '../../engine/checkpoint.js';
import type { Model } from '../../engine/model.js';
import type { Preprocessing } from '../../engine/preprocessing.js';
import type { Batch, CamResult, FeatureResult, InferenceModel, PredictResult, Precision } from '../../engine/types.js';
import { applyCalibration, calibrationOf } from '../../recipe/calibrationMap.js';
import { camHeatmap } from '../../recipe/gradcam.js';

export interface EnsembleMember {
  model: Model;
  meta: CheckpointMeta;
  /** The member's checkpoint folder. */
  dir: string;
}

/** The Grad-CAM layer of an ensemble whose members differ in architecture: each member's own default. */
export const MEMBER_DEFAULT_LAYERS = "each member's default";

/** The preprocessing fields members must share (normalisation is each network's own). */
const SHARED_PREPROCESSING = ['size', 'fit', 'equalize', 'crop', 'cropMargin', 'standardize', 'channels'] as const;

/** The first setting in which two models read images differently, as `name a ≠ b`, or null. */
export function preprocessingDifference(a: Preprocessing, b: Preprocessing): string | null {
  for (const k of SHARED_PREPROCESSING) {
    const x = a[k] as unknown;
    const y = b[k] as unknown;
    if (x !== y) return `${k} ${JSON.stringify(x)} ≠ ${JSON.stringify(y)}`;
  }
  return null;
}

/** One line when `metas` cannot form an ensemble (classes, positive class, preprocessing), else null. */
export function membersMismatch(metas: { meta: CheckpointMeta; name: string }[]): string | null {
  const [first, ...rest] = metas;
  if (!first) return 'an ensemble needs at least two members';
  for (const m of rest) {
    if (m.meta.classes.join('\u0000') !== first.meta.classes.join('\u0000'))
      return `${m.name} has classes ${m.meta.classes.join(', ')}, ${first.name} ${first.meta.classes.join(', ')}`;
    if (m.meta.positiveClass !== first.meta.positiveClass)
      return `${m.name} screens for class ${m.meta.positiveClass}, ${first.name} for ${first.meta.positiveClass}`;
    const d = preprocessingDifference(first.meta.preprocessing, m.meta.preprocessing);
    if (d)
      return (
        `${first.name} and ${m.name} read images differently (${d}): members must share size, fit, ` +
        'equalisation, crop and channels'
      );
  }
  return null;
}

export class EnsembleModel implements InferenceModel {
  readonly spec: { arch: string; numClasses: number };
  readonly camLayer: string;
  readonly blockNames: readonly string[];
  private readonly sameArch: boolean;

  constructor(readonly members: EnsembleMember[]) {
    if (members.length < 2) throw new Error('an ensemble needs at least two members');
    const first = members[0]!;
    this.sameArch = members.every((m) => m.model.spec.arch === first.model.spec.arch);
    this.spec = { arch: 'ensemble', numClasses: first.model.spec.numClasses };
    this.camLayer = this.sameArch ? first.model.camLayer : MEMBER_DEFAULT_LAYERS;
    this.blockNames = this.sameArch ? first.model.blockNames : [MEMBER_DEFAULT_LAYERS];
  }

  /** The layer each member is asked for: a named block (members of one architecture) or its default. */
  private memberLayer(layer: string | undefined): string | undefined {
    if (layer === undefined || layer === MEMBER_DEFAULT_LAYERS) return undefined;
    if (!this.sameArch)
      throw new Error(`an ensemble of different architectures explains at ${MEMBER_DEFAULT_LAYERS} layer only`);
    return layer;
  }

  /** The mean of the members' calibrated probability rows [N, C]. */
  private meanProbs(rows: Float32Array[]): Float32Array {
    const out = new Float32Array(rows[0]!.length);
    rows.forEach((p, k) => {
      const m = this.members[k]!.meta;
      const cal = applyCalibration(p, this.spec.numClasses, m.positiveClass, calibrationOf(m));
      for (let i = 0; i < out.length; i++) out[i]! += cal[i]! / rows.length;
    });
    return out;
  }

  async predict(batch: Batch, opts: { precision?: Precision } = {}): Promise<PredictResult> {
    const rows: Float32Array[] = [];
    for (const m of this.members) rows.push((await m.model.predict(batch, opts)).probs);
    const probs = this.meanProbs(rows);
    // Logits whose softmax is the mean: consumers that read logits see the same answer.
    return { logits: probs.map((p) => Math.log(Math.max(p, 1e-30))), probs, numClasses: this.spec.numClasses };
  }

  async gradCamMaps(batch: Batch, classIndex: number, layer?: string): Promise<CamResult> {
    const [n, H, W] = batch.shape;
    const maps = new Float32Array(n * H * W);
    const rows: Float32Array[] = [];
    const pooledParts: Float32Array[] = [];
    const memberLayer = this.memberLayer(layer);
    for (const m of this.members) {
      const r = await m.model.gradCamMaps(batch, classIndex, memberLayer);
      pooledParts.push(r.pooled);
      const [, h, w] = r.shape;
      for (let i = 0; i < n; i++) {
        const heat = camHeatmap(r.maps.subarray(i * h * w, (i + 1) * h * w), h, w, H, W);
        for (let p = 0; p < H * W; p++) maps[i * H * W + p]! += heat[p]! / this.members.length;
      }
      rows.push(r.probs);
    }
    // The members' pooled activations side by side, as features() gives them.
    const pooled = sideBySide(pooledParts, n);
    return { maps, shape: [n, H, W], probs: this.meanProbs(rows), pooled, layer: memberLayer ?? this.camLayer };
  }

  async features(batch: Batch, layer?: string): Promise<FeatureResult> {
    const memberLayer = this.memberLayer(layer);
    const parts: FeatureResult[] = [];
    for (const m of this.members) parts.push(await m.model.features(batch, memberLayer));
    const n = batch.shape[0];
    const features = sideBySide(
      parts.map((f) => f.features),
      n,
    );
    return {
      features,
      shape: [n, features.length / n],
      probs: this.meanProbs(parts.map((f) => f.probs)),
      layer: memberLayer ?? this.camLayer,
    };
  }
}

/** Row i of the result is row i of every part, one after another: [n, Σ d_j] from parts [n, d_j]. */
function sideBySide(parts: Float32Array[], n: number): Float32Array {
  const dims = parts.reduce((a, p) => a + p.length / n, 0);
  const out = new Float32Array(n * dims);
  for (let i = 0; i < n; i++) {
    let at = i * dims;
    for (const p of parts) {
      const d = p.length / n;
      out.set(p.subarray(i * d, (i + 1) * d), at);
      at += d;
    }
  }
  return out;
}
