// The LR range test on an engine model: recipe/lrFinder's sweep driven by real training steps
// on batches of a training set, and the weights put back afterwards — lr-find never changes the
// model it was given (weights and BatchNorm statistics are restored bitwise; the optimizer is
// left freshly configured with no state, so configure it again before training).
// Every group gets the same LR during the sweep (the question is "which LR trains this
// network"; the discriminative spread is applied around the answer afterwards).
import type { BatchNormMode, EngineModel, OptimizerKind, Precision } from '../engine/types.js';
import { lrFind, type LrFindOptions, type LrFindResult } from './lrFinder.js';
import { trainableAt, type TransferMode } from './transfer.js';
import type { EpochSource } from './trainer.js';

export interface LrFindOnModelOptions extends Omit<LrFindOptions, 'onStep'> {
  optimizer?: OptimizerKind;
  momentum?: number;
  weightDecay?: number;
  precision?: Precision;
  transfer?: TransferMode;
  batchNorm?: BatchNormMode;
  onStep?: LrFindOptions['onStep'];
}

/** Runs the sweep on `model` with batches from `train` (cycling epochs), then restores the weights. */
export async function lrFindOnModel(
  model: EngineModel,
  train: EpochSource,
  o: LrFindOnModelOptions = {},
): Promise<LrFindResult> {
  const saved = await model.state();
  const params = model.parameters();
  const set = trainableAt(o.transfer ?? 'finetune', model.layers(), params, 0);
  if (set.frozen.length) model.setTrainable(set.frozen, false);
  model.setTrainable(set.trainable, true);
  model.setBatchNormMode(o.batchNorm ?? 'train');
  const all = params.flatMap((p, i) => (p.kind === 'param' ? [i] : []));
  model.configureOptimizer({ kind: o.optimizer ?? 'adamw', groups: [all], weightDecay: o.weightDecay ?? 0.01 });
  let epoch = 0;
  let it: AsyncIterator<{ pixels: Uint8Array; shape: [number, number, number, number]; labels: Int32Array }> = train
    .epoch(epoch)
    [Symbol.asyncIterator]();
  const next = async () => {
    let r = await it.next();
    if (r.done) {
      it = train.epoch(++epoch)[Symbol.asyncIterator]();
      r = await it.next();
      if (r.done) throw new Error('lr-find: the training set gave no batches');
    }
    return r.value;
  };
  try {
    return await lrFind(async (lr) => {
      const batch = await next();
      const r = await model.trainStep(
        batch,
        [{ lr, momentum: o.momentum ?? 0.9, weightDecay: o.weightDecay ?? 0.01 }],
        { precision: o.precision ?? 'fp32' },
      );
      return r.overflow && Number.isFinite(r.loss) ? Infinity : r.loss;
    }, o);
  } finally {
    await it.return?.(undefined);
    await model.loadState(saved);
    // Drop the sweep's optimizer state (momentum of absurd LRs must not leak into training).
    model.configureOptimizer({ kind: o.optimizer ?? 'adamw', groups: [all], weightDecay: o.weightDecay ?? 0.01 });
  }
}
