// A pure-JS stand-in for the engine's Model, for fast trainer tests: it records every call
// and returns a loss that falls with the steps taken (or NaN above an LR, to test divergence).
import type {
  Batch,
  BatchNormMode,
  BatchNormStats,
  CamResult,
  EngineModel,
  GroupHyper,
  LayerInfo,
  OptimizerConfig,
  ParamInfo,
  PredictResult,
  StepOptions,
  StepResult,
  TensorMap,
} from '../../src/engine/types.js';
import type { EpochSource, LabelledBatch } from '../../src/recipe/trainer.js';

const STAGES = ['stem', 'stage1', 'stage2', 'head'];

export class FakeModel implements EngineModel {
  readonly spec = { arch: 'resnet18' as const, numClasses: 2 };
  readonly hyperLog: GroupHyper[][] = [];
  readonly trainableLog: { names: string[]; on: boolean }[] = [];
  bnMode: BatchNormMode | null = null;
  optimizer: OptimizerConfig | null = null;
  steps = 0;
  /** The options of every trainStep, in order. */
  readonly stepOptions: StepOptions[] = [];
  constructor(private readonly opts: { nanAboveLr?: number; overflowAt?: number } = {}) {}
  parameters(): ParamInfo[] {
    return STAGES.flatMap((s) => [
      { name: `${s}.weight`, shape: [1], kind: 'param' as const, trainable: true },
      { name: `${s}.bias`, shape: [1], kind: 'param' as const, trainable: true },
    ]);
  }
  layers(): LayerInfo[] {
    return STAGES.map((s, i) => ({
      name: s,
      stage: s,
      stageIndex: i,
      params: [2 * i, 2 * i + 1],
      kind: s === 'head' ? 'linear' : 'conv',
    }));
  }
  async state(): Promise<TensorMap> {
    return new Map();
  }
  async loadState(): Promise<void> {}
  configureOptimizer(cfg: OptimizerConfig): void {
    this.optimizer = cfg;
  }
  async trainStep(batch: Batch, perGroup: GroupHyper[], o: StepOptions = {}): Promise<StepResult> {
    this.hyperLog.push(perGroup.map((h) => ({ ...h })));
    this.stepOptions.push({ ...o });
    const lr = perGroup[perGroup.length - 1]!.lr;
    const n = batch.shape[0];
    const overflow = this.opts.overflowAt === this.steps;
    this.steps++;
    const loss = this.opts.nanAboveLr !== undefined && lr > this.opts.nanAboveLr ? NaN : 1 / this.steps;
    return { loss, probs: new Float32Array(n * 2).fill(0.5), overflow, lossScale: 1 };
  }
  async predict(batch: Batch): Promise<PredictResult> {
    const n = batch.shape[0];
    const probs = new Float32Array(n * 2);
    // Good predictions that sharpen with training: p(label) = 1 − 0.4/steps.
    const p = 1 - 0.4 / Math.max(1, this.steps);
    for (let i = 0; i < n; i++) {
      const y = batch.labels![i]!;
      probs[i * 2 + y] = p;
      probs[i * 2 + 1 - y] = 1 - p;
    }
    return { logits: probs, probs, numClasses: 2 };
  }
  async gradCamMaps(): Promise<CamResult> {
    throw new Error('not used');
  }
  setTrainable(names: string[], on: boolean): void {
    this.trainableLog.push({ names: [...names], on });
  }
  setBatchNormMode(mode: BatchNormMode): void {
    this.bnMode = mode;
  }
  async optimizerState(): Promise<TensorMap> {
    return new Map();
  }
  async loadOptimizerState(): Promise<void> {}
  async batchNormInputStats(): Promise<BatchNormStats[]> {
    return [];
  }
}

/** `batches` batches of `n` 8×8 images per epoch, alternating labels. */
export function fakeSource(batches: number, n = 4): EpochSource {
  return {
    batchesPerEpoch: batches,
    imagesPerEpoch: batches * n,
    async *epoch(): AsyncGenerator<LabelledBatch> {
      for (let b = 0; b < batches; b++) {
        yield {
          pixels: new Uint8Array(n * 64),
          shape: [n, 8, 8, 1],
          labels: Int32Array.from({ length: n }, (_, i) => i % 2),
        };
      }
    },
  };
}
