// What both explanations (top losses, image files) share: their common options, the overlay
// opacity checked, and the model loaded as every consumer loads it.
import { Learner } from '../train/learner.js';

export interface ExplainCommon {
  model: string;
  out: string;
  /** Grad-CAM layer (default: the engine's, the last block). */
  layer?: string;
  /** Overlay opacity in [0, 1] (default 0.5). */
  opacity?: number;
  threads?: number | null;
  /** A lung segmenter instead of the one a lung-cropping model carries (--lungs DIR). */
  lungs?: string;
}

/** Both explanations: the opacity checked, then the model loaded as every consumer loads it. */
export async function setup(o: ExplainCommon) {
  const opacity = checkOpacity(o.opacity);
  const learner = await Learner.load(o.model, { threads: o.threads ?? null, ...(o.lungs ? { lungs: o.lungs } : {}) });
  return {
    opacity,
    learner,
    model: learner.model,
    meta: learner.meta,
    ref: learner.ref,
    S: learner.preprocessing.size,
  };
}

export function checkOpacity(o: number | undefined): number {
  const v = o ?? 0.5;
  if (!(v >= 0 && v <= 1)) throw new Error(`--opacity must be in [0, 1] (got ${o})`);
  return v;
}
