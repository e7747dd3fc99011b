// Transfer modes: which parameters train, per epoch.
// - feature:  the backbone is frozen; only the head trains (a feature extractor).
// - gradual:  ULMFiT's gradual unfreezing by stage: epoch 0 trains the head only, and each
//             following epoch unfreezes the next stage down (head → stage4 → … → stem), until
//             everything trains.
// - finetune: everything trains (discriminative LRs come from discriminative.ts).
// The head is the stage named 'head'; if a family has none, the last stage (highest
// stageIndex). Parameters that belong to no listed layer have no stage: they train only when
// every stage trains (finetune, or gradual once fully unfrozen).
// Only parameters (kind 'param') are returned; buffers never train.

import type { LayerInfo, ParamInfo } from '../engine/types.js';

export const TRANSFER_MODES = ['feature', 'gradual', 'finetune'] as const;
export type TransferMode = (typeof TRANSFER_MODES)[number];

export interface TrainableSet {
  /** Parameter names that train. */
  trainable: string[];
  /** Parameter names that are frozen. */
  frozen: string[];
  /** Stage names that train, input → output. */
  stages: string[];
}

/** Stage indices present, from the head down (the order gradual unfreezing follows). */
export function stagesHeadFirst(layers: LayerInfo[]): { index: number; name: string }[] {
  if (!Array.isArray(layers) || layers.length === 0) {
    throw new Error('transfer: the model reports no parameterised layers');
  }
  const byIndex = new Map<number, string>();
  for (const l of layers) if (!byIndex.has(l.stageIndex)) byIndex.set(l.stageIndex, l.stage);
  const stages = [...byIndex.entries()].map(([index, name]) => ({ index, name })).sort((a, b) => b.index - a.index);
  // A stage literally named 'head' leads even if its index is not the highest.
  const h = stages.findIndex((s) => s.name === 'head');
  if (h > 0) stages.unshift(...stages.splice(h, 1));
  return stages;
}

/** The epoch from which gradual unfreezing trains every stage. */
export function gradualFullEpoch(layers: LayerInfo[]): number {
  return stagesHeadFirst(layers).length - 1;
}

/**
 * The trainable set for a transfer mode at a (0-based) epoch. `params` is
 * Model.parameters() (parameters then buffers); LayerInfo.params index into it.
 */
export function trainableAt(mode: TransferMode, layers: LayerInfo[], params: ParamInfo[], epoch = 0): TrainableSet {
  if (!TRANSFER_MODES.includes(mode)) {
    throw new Error(`transfer: mode must be one of ${TRANSFER_MODES.join(', ')}, got ${JSON.stringify(mode)}`);
  }
  if (!Number.isInteger(epoch) || epoch < 0) {
    throw new Error(`transfer: epoch must be a non-negative integer, got ${epoch}`);
  }
  const order = stagesHeadFirst(layers);
  let open: number;
  if (mode === 'feature') open = 1;
  else if (mode === 'gradual') open = Math.min(epoch + 1, order.length);
  else open = order.length;
  const openStages = new Set(order.slice(0, open).map((s) => s.index));
  const all = open === order.length;

  const owner = new Map<number, number>(); // param index → stageIndex
  for (const l of layers) {
    for (const p of l.params) {
      if (!Number.isInteger(p) || p < 0 || p >= params.length) {
        throw new Error(
          `transfer: layer ${l.name} refers to parameter ${p}, but the model has ${params.length} entries`,
        );
      }
      owner.set(p, l.stageIndex);
    }
  }
  const trainable: string[] = [];
  const frozen: string[] = [];
  params.forEach((info, i) => {
    if (info.kind !== 'param') return;
    const s = owner.get(i);
    const on = s === undefined ? all : openStages.has(s);
    (on ? trainable : frozen).push(info.name);
  });
  const stages = order
    .filter((s) => openStages.has(s.index))
    .map((s) => s.name)
    .reverse();
  return { trainable, frozen, stages };
}

/** Feature extraction: the head's parameter names. */
export function featureTrainable(layers: LayerInfo[], params: ParamInfo[]): string[] {
  return trainableAt('feature', layers, params).trainable;
}

/** Gradual unfreezing: the parameter names that train in (0-based) epoch e. */
export function gradualTrainable(layers: LayerInfo[], params: ParamInfo[], epoch: number): string[] {
  return trainableAt('gradual', layers, params, epoch).trainable;
}
