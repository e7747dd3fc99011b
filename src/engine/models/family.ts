// What the engine knows about a model family beyond the native network: how its
// modules map to stages (for discriminative groups and gradual unfreezing) and
// its default input normalisation.
import type { Normalisation } from '../types.js';

export interface Stage {
  /** Fine-grained stage name (stem, stage1..4, denseblockN, transitionN, head). */
  stage: string;
  /** 0 = stem, 1..4 = the four stages, 5 = head: the same scale for every family. */
  index: number;
}

export interface Family {
  stageOf(moduleName: string): Stage;
}

export const IMAGENET: Normalisation = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
export const HEAD: Stage = { stage: 'head', index: 5 };
