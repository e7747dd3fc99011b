// LR range test wiring: recipe/lrFinder's sweep driven by real engine steps on training
// batches, and the weights put back afterwards — lr-find never changes the model it was
// given (weights and BatchNorm statistics are restored bitwise; the optimizer is left freshly
// configured with no state, so configure it again before training).
// Every group gets the same LR during the sweep (the question is "which LR trains this
// network", the discriminative spread is applied around the answer afterwards).
import { join, resolve } from 'node:path';
import { Model } from '../engine/model.js';
import { loadPretrained } from '../engine/pretrained.js';
import { weightsInfo } from '../engine/weights/weightsFile.js';
import { checkDevice, manualSeed, physicalCores, setThreads } from '../engine/runtime.js';
import type { BatchNormMode, EngineModel, Normalisation, OptimizerKind, Precision } from '../engine/types.js';
import { lrFind, type LrFindOptions, type LrFindResult, type Suggestion } from '../recipe/lrFinder.js';
import { trainableAt, type TransferMode } from '../recipe/transfer.js';
import type { EpochSource } from '../recipe/trainer.js';
import { batchNormNames, isFoldedBatchNorm, unfoldBatchNorm } from './bnUnfold.js';
import { openRunData } from './dataSource.js';
import { writeJson } from './runFolder.js';
import { lrFinderSvg } from './report/plots.js';
import { writeFileAtomic } from '../engine/atomic.js';
import type { Arch } from '../engine/types.js';

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
export async function lrFindOnModel(model: EngineModel, train: EpochSource, o: LrFindOnModelOptions = {}): Promise<LrFindResult> {
  const saved = await model.state();
  const params = model.parameters();
  const set = trainableAt(o.transfer ?? 'finetune', model.layers(), params, 0);
  if (set.frozen.length) model.setTrainable(set.frozen, false);
  model.setTrainable(set.trainable, true);
  model.setBatchNormMode(o.batchNorm ?? 'train');
  const all = params.flatMap((p, i) => (p.kind === 'param' ? [i] : []));
  model.configureOptimizer({ kind: o.optimizer ?? 'adamw', groups: [all], weightDecay: o.weightDecay ?? 0.01 });
  let epoch = 0;
  let it: AsyncIterator<{ pixels: Uint8Array; shape: [number, number, number, number]; labels: Int32Array }> = train.epoch(epoch)[Symbol.asyncIterator]();
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
      const r = await model.trainStep(batch, [{ lr, momentum: o.momentum ?? 0.9, weightDecay: o.weightDecay ?? 0.01 }], { precision: o.precision ?? 'fp32' });
      return r.overflow && Number.isFinite(r.loss) ? Infinity : r.loss;
    }, o);
  } finally {
    await it.return?.(undefined);
    await model.loadState(saved);
    // Drop the sweep's optimizer state (momentum of absurd LRs must not leak into training).
    model.configureOptimizer({ kind: o.optimizer ?? 'adamw', groups: [all], weightDecay: o.weightDecay ?? 0.01 });
  }
}

export interface LrFindRunOptions {
  manifest: string;
  arch: Arch;
  pretrained?: string | null;
  out: string;
  size?: number;
  batch?: number;
  seed?: number;
  start?: number;
  end?: number;
  iterations?: number;
  suggestion?: Suggestion;
  optimizer?: OptimizerKind;
  momentum?: number;
  wd?: number;
  precision?: Precision;
  mode?: TransferMode;
  batchNorm?: BatchNormMode;
  unfoldBn?: 'auto' | 'on' | 'off';
  aug?: string;
  balanced?: boolean;
  device?: string;
  threads?: number | null;
  log?: (msg: string) => void;
  onStep?: LrFindOptions['onStep'];
}

export interface LrFindRunResult {
  result: LrFindResult;
  files: { json: string; svg: string };
  seconds: number;
}

/** `cxrtune lr-find`: builds the model as `train` would, sweeps, writes lr_find.json + lr_find.svg. */
export async function runLrFind(o: LrFindRunOptions): Promise<LrFindRunResult> {
  const t0 = performance.now();
  const log = o.log ?? (() => undefined);
  const device = o.device ?? 'cpu';
  checkDevice(device);
  setThreads(o.threads ?? physicalCores());
  const seed = o.seed ?? 0;
  const data = openRunData({ manifest: o.manifest, size: o.size ?? 224, batch: o.batch ?? 16, seed, aug: o.aug ?? 'none', balanced: o.balanced ?? false });
  manualSeed(seed);
  let normalisation: Normalisation | undefined;
  let strideIn1x1 = false;
  if (o.pretrained) {
    const meta = (await weightsInfo(o.pretrained)).metadata;
    strideIn1x1 = meta.stride_in_1x1 === 'true'; // Keras' ResNet-50 is v1
    try {
      const mean = JSON.parse(meta.mean ?? 'null');
      const std = JSON.parse(meta.std ?? 'null');
      if (Array.isArray(mean) && Array.isArray(std)) normalisation = { mean, std } as Normalisation;
    } catch { /* ImageNet default */ }
  }
  const model = await Model.create({ arch: o.arch, numClasses: data.classes.length, device, ...(normalisation ? { normalisation } : {}), ...(strideIn1x1 ? { strideIn1x1 } : {}) });
  if (o.pretrained) await loadPretrained(model, o.pretrained, log);
  const unfold = o.unfoldBn ?? 'auto';
  if (unfold === 'on' || (unfold === 'auto' && o.pretrained && isFoldedBatchNorm(await model.state(), batchNormNames(model)))) {
    const batches = [];
    let n = 0;
    for await (const b of data.train.epoch(-1)) { batches.push(b); n += b.shape[0]; if (n >= 64) break; }
    const r = await unfoldBatchNorm(model, batches);
    log(`BatchNorm: unfolded ${r.layers} folded layers with statistics of ${r.images} training images`);
  }
  const result = await lrFindOnModel(model, data.train, {
    ...(o.start !== undefined ? { start: o.start } : {}), ...(o.end !== undefined ? { end: o.end } : {}),
    ...(o.iterations !== undefined ? { iterations: o.iterations } : {}), ...(o.suggestion ? { suggestion: o.suggestion } : {}),
    optimizer: o.optimizer ?? 'adamw', momentum: o.momentum ?? 0.9, weightDecay: o.wd ?? 0.01, precision: o.precision ?? 'fp32',
    transfer: o.mode ?? 'finetune', batchNorm: o.batchNorm ?? 'train', ...(o.onStep ? { onStep: o.onStep } : {}),
  });
  const out = resolve(o.out);
  const files = { json: join(out, 'lr_find.json'), svg: join(out, 'lr_find.svg') };
  await writeJson(files.json, {
    ...result, arch: o.arch, pretrained: o.pretrained ?? null, manifest: resolve(o.manifest), manifestSha256: data.manifestSha256,
    size: o.size ?? 224, batch: o.batch ?? 16, seed, optimizer: o.optimizer ?? 'adamw', momentum: o.momentum ?? 0.9, wd: o.wd ?? 0.01,
    precision: o.precision ?? 'fp32', mode: o.mode ?? 'finetune',
  });
  await writeFileAtomic(files.svg, await lrFinderSvg(result, `LR range test — ${o.arch}${o.pretrained ? ' (pretrained)' : ''}`));
  return { result, files, seconds: (performance.now() - t0) / 1000 };
}
