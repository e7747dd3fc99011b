// The engine's Model: a typed facade over one native network. It validates every
// request, serialises calls (one at a time per model, in order), and converts
// between typed arrays and the plain types of engine/types.ts. Every default the
// addon uses is set here and sent explicitly (normalisation, the loss and its class or
// Dice/BCE weights, Grad-CAM layer, optimizer β2/ε, precision, loss scale): the C++ has none.
// The task is data: a classifier (spec.task 'classify', an architecture family of
// engine/models) or the lung segmenter ('segment', engine/segmentation) is the same class;
// they differ in their targets (labels or masks), their loss and what predict returns.
import pLimit from 'p-limit';
import { loadNative, nativeIsa, type NativeModel, type NativeTensor, type NativeInput } from './native.js';
import { IMAGENET } from './models/family.js';
import { familyOf } from './models/registry.js';
import { BOTTLENECK_RESNETS } from './models/resnet.js';
import { gradCamMaps } from './gradCam.js';
import {
  checkSegmenterSpec,
  segmenterStageOf,
  type SegmenterArch,
  type SegmenterSpec,
} from './segmentation/segmenterSpec.js';
import type {
  Arch,
  Batch,
  BatchNormMode,
  BatchNormStats,
  CamResult,
  EngineModel,
  FeatureResult,
  GroupHyper,
  HostTensor,
  LayerInfo,
  CrossEntropyLoss,
  DiceBceLoss,
  ModelSpec,
  Normalisation,
  OptimizerConfig,
  ParamInfo,
  PredictResult,
  Precision,
  StepOptions,
  StepResult,
  Task,
  TensorMap,
} from './types.js';

const PRECISIONS: Precision[] = ['fp32', 'bf16', 'fp16'];

/** Each task's loss unless a step names one: cross-entropy, and Dice + BCE weighing 1 each. */
export const DEFAULT_LOSS: { readonly classify: CrossEntropyLoss; readonly segment: DiceBceLoss } = {
  classify: { kind: 'crossEntropy' },
  segment: { kind: 'diceBce', diceWeight: 1, bceWeight: 1 },
};

export type ResolvedSpec = ModelSpec & {
  task: 'classify';
  arch: Arch;
  numClasses: number;
  normalisation: Normalisation;
  device: string;
};
export type ResolvedSegmenterSpec = SegmenterSpec & {
  arch: SegmenterArch;
  numClasses: 1;
  decoderChannels: number[];
  normalisation: Normalisation;
  device: string;
  channelsLast: boolean;
};
type SpecOf<T extends Task> = T extends 'segment' ? ResolvedSegmenterSpec : ResolvedSpec;

export class Model<T extends Task = 'classify'> implements EngineModel {
  readonly spec: SpecOf<T>;
  private readonly native: NativeModel;
  private readonly entries: ParamInfo[];
  private readonly index = new Map<string, number>();
  private readonly calls = pLimit(1);
  private groupCount = 0;
  readonly blockNames: string[];
  readonly camLayer: string;

  private constructor(spec: SpecOf<T>, native: NativeModel) {
    this.spec = spec;
    this.native = native;
    this.entries = native.entries();
    for (const [i, e] of this.entries.entries()) this.index.set(e.name, i);
    const b = native.blocks();
    this.blockNames = b.blocks;
    const s = this.resolved;
    // The default layer is the family's (TypeScript): every call below names its layer. A segmenter has none.
    this.camLayer = s.task === 'segment' ? '' : familyOf(s.arch).camLayer;
    if (s.task === 'classify' && !this.blockNames.includes(this.camLayer))
      throw new Error(`${s.arch}: the family's Grad-CAM layer '${this.camLayer}' is not one of its blocks`);
  }

  static create(spec: ModelSpec): Promise<Model>;
  static create(spec: SegmenterSpec): Promise<Model<'segment'>>;
  static async create(spec: ModelSpec | SegmenterSpec): Promise<Model<Task>> {
    if (spec.task === 'segment') {
      const resolved: ResolvedSegmenterSpec = {
        task: 'segment',
        arch: spec.arch,
        numClasses: 1,
        decoderChannels: checkSegmenterSpec(spec),
        normalisation: spec.normalisation ?? IMAGENET,
        device: spec.device ?? 'cpu',
        channelsLast: !!spec.channelsLast,
      };
      checkNormalisation(resolved.normalisation);
      const { NativeModel } = loadNative();
      return new Model<'segment'>(resolved, new NativeModel(resolved));
    }
    familyOf(spec.arch); // an unknown architecture is an error here, before the native call
    if (!Number.isInteger(spec.numClasses) || spec.numClasses < 1)
      throw new Error(`numClasses must be a positive integer (got ${spec.numClasses})`);
    if (spec.dropout !== undefined && !(spec.dropout >= 0 && spec.dropout < 1))
      throw new Error(`dropout must be in [0, 1) (got ${spec.dropout})`);
    if (spec.strideIn1x1 && !(BOTTLENECK_RESNETS as readonly string[]).includes(spec.arch))
      throw new Error(`strideIn1x1 is a bottleneck ResNet option (resnet50/101/152), not ${spec.arch}'s`);
    const resolved: ResolvedSpec = {
      ...spec,
      task: 'classify',
      normalisation: spec.normalisation ?? IMAGENET,
      device: spec.device ?? 'cpu',
    };
    checkNormalisation(resolved.normalisation);
    const { NativeModel } = loadNative();
    return new Model<'classify'>(resolved, new NativeModel(resolved));
  }

  /** The spec as the union its task discriminates. */
  private get resolved(): ResolvedSpec | ResolvedSegmenterSpec {
    return this.spec;
  }

  /** Runs calls on this model one at a time, in order, each after the last settles (failed or not). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.calls(fn);
  }

  parameters(): ParamInfo[] {
    return this.native.entries();
  }

  layers(): LayerInfo[] {
    const r = this.resolved;
    const stageOf = r.task === 'segment' ? segmenterStageOf : familyOf(r.arch).stageOf;
    return this.native.modules().map((m) => {
      const s = stageOf(m.name);
      return { name: m.name, kind: m.kind, params: m.params, stage: s.stage, stageIndex: s.index };
    });
  }

  async state(): Promise<TensorMap> {
    const list = await this.serial(() => this.native.getState());
    return toMap(list);
  }

  /** Loads tensors by name. strict (default): every state entry must be given, with its shape. */
  async loadState(tensors: TensorMap, opts: { strict?: boolean } = {}): Promise<void> {
    const strict = opts.strict ?? true;
    const unexpected: string[] = [];
    const badShape: string[] = [];
    for (const [name, t] of tensors) {
      const i = this.index.get(name);
      if (i === undefined) unexpected.push(name);
      else if (!sameShape(this.entries[i]!.shape, t.shape))
        badShape.push(`${name}: [${t.shape}] vs model [${this.entries[i]!.shape}]`);
    }
    const missing = strict ? this.entries.filter((e) => !tensors.has(e.name)).map((e) => e.name) : [];
    const problems = [
      unexpected.length ? `unexpected: ${list(unexpected)}` : '',
      missing.length ? `missing: ${list(missing)}` : '',
      badShape.length ? `wrong shape: ${list(badShape)}` : '',
    ].filter(Boolean);
    if (problems.length) throw new Error(`state does not fit ${this.spec.arch}: ${problems.join('; ')}`);
    await this.serial(() => this.native.setState(fromMap(tensors)));
  }

  configureOptimizer(cfg: OptimizerConfig): void {
    if (!['sgd', 'adamw', 'adam'].includes(cfg.kind))
      throw new Error(`unknown optimizer '${cfg.kind}' (sgd, adam, adamw)`);
    if (!cfg.groups.length) throw new Error('the optimizer needs at least one parameter group');
    const seen = new Set<number>();
    for (const [g, ids] of cfg.groups.entries()) {
      for (const i of ids) {
        if (this.entries[i]?.kind !== 'param')
          throw new Error(`optimizer group ${g} names index ${i}, which is not a parameter of ${this.spec.arch}`);
        if (seen.has(i)) throw new Error(`parameter '${this.entries[i]!.name}' is in two optimizer groups`);
        seen.add(i);
      }
    }
    this.native.configureOptimizer({
      kind: cfg.kind,
      groups: cfg.groups,
      nesterov: cfg.nesterov ?? false,
      beta2: cfg.beta2 ?? 0.999,
      eps: cfg.eps ?? 1e-8,
    });
    this.groupCount = cfg.groups.length;
    this.defaultWeightDecay = cfg.weightDecay ?? 0;
  }
  private defaultWeightDecay = 0;

  async trainStep(batch: Batch, perGroup: GroupHyper[], opts: StepOptions = {}): Promise<StepResult> {
    const spec = this.resolved;
    const precision = checkPrecision(opts.precision ?? 'fp32', spec.device);
    const n = checkBatch(batch);
    const loss = opts.loss ?? DEFAULT_LOSS[spec.task];
    const target = loss.kind === 'diceBce' ? this.maskTarget(batch, n, loss) : this.labelTarget(batch, n, opts);
    if (this.groupCount === 0) throw new Error('configureOptimizer must be called before trainStep');
    if (perGroup.length !== this.groupCount)
      throw new Error(
        `trainStep got hyperparameters for ${perGroup.length} groups; the optimizer has ${this.groupCount}`,
      );
    for (const [g, h] of perGroup.entries()) {
      if (!(Number.isFinite(h.lr) && h.lr >= 0))
        throw new Error(`group ${g}: learning rate must be finite and >= 0 (got ${h.lr})`);
      if (!(Number.isFinite(h.momentum) && h.momentum >= 0 && h.momentum < 1))
        throw new Error(`group ${g}: momentum must be in [0, 1) (got ${h.momentum})`);
    }
    // fp16 loss scaling is the caller's policy (recipe/gradScaler.ts); 2^16 is its starting value.
    const lossScale = opts.lossScale ?? (precision === 'fp16' ? 2 ** 16 : 1);
    if (!(Number.isFinite(lossScale) && lossScale > 0))
      throw new Error(`loss scale must be finite and > 0 (got ${lossScale})`);
    const r = await this.serial(() =>
      this.native.trainStep({
        ...this.input(batch),
        ...target,
        precision,
        lossScale,
        hyper: perGroup.map((h) => ({
          lr: h.lr,
          momentum: h.momentum,
          weightDecay: h.weightDecay ?? this.defaultWeightDecay,
        })),
        // Whether an inf/NaN step is applied is the caller's (recipe/gradScaler.ts); by default it is not.
        skipNonFinite: opts.skipNonFinite ?? true,
      }),
    );
    return { loss: r.loss, probs: r.probs, overflow: !r.finite, lossScale };
  }

  /** Cross-entropy's part of a step request: one label per image and a weight per class. */
  private labelTarget(batch: Batch, n: number, opts: StepOptions) {
    if (this.resolved.task !== 'classify')
      throw new Error('cross-entropy is a classifier loss; a segmenter trains on masks');
    if (!batch.labels || batch.labels.length !== n)
      throw new Error(`trainStep needs one label per image (${n} images, ${batch.labels?.length ?? 0} labels)`);
    // Unweighted cross-entropy is cross-entropy with every class weighing 1 (the same numbers).
    const k = this.spec.numClasses;
    const classWeights = opts.classWeights ?? new Array<number>(k).fill(1);
    if (classWeights.length !== k || !classWeights.every((w) => Number.isFinite(w) && w >= 0)) {
      throw new Error(
        `class weights must be ${k} finite non-negative numbers, one per class (got [${classWeights.join(', ')}])`,
      );
    }
    return { loss: DEFAULT_LOSS.classify, labels: batch.labels, classWeights };
  }

  /** Dice + BCE's part of a step request: a 0/1 mask per image at the batch's size. */
  private maskTarget(batch: Batch, n: number, loss: DiceBceLoss) {
    if (this.resolved.task !== 'segment')
      throw new Error('Dice + BCE is a segmenter loss; a classifier trains on labels');
    const [, h, w] = batch.shape;
    const masks = batch.masks;
    if (!masks || masks.length !== n * h * w)
      throw new Error(`masks hold ${masks?.length ?? 0} values; the batch needs ${n}×${h}×${w}`);
    checkSegmenterSize(h, w);
    for (const k of ['diceWeight', 'bceWeight'] as const)
      if (!(Number.isFinite(loss[k]) && loss[k] >= 0))
        throw new Error(`loss ${k} must be finite and >= 0 (got ${loss[k]})`);
    return { loss: { kind: 'diceBce' as const, diceWeight: loss.diceWeight, bceWeight: loss.bceWeight }, masks };
  }

  /** Eval mode. A classifier: logits and softmax [N, numClasses]; a segmenter: per-pixel logits, sigmoid [N, H, W]. */
  async predict(batch: Batch, opts: { precision?: Precision } = {}): Promise<PredictResult> {
    const precision = checkPrecision(opts.precision ?? 'fp32', this.spec.device);
    checkBatch(batch);
    const segment = this.resolved.task === 'segment';
    if (segment) checkSegmenterSize(batch.shape[1], batch.shape[2]);
    const r = await this.serial(() => this.native.predict({ ...this.input(batch), precision }));
    const k = this.spec.numClasses;
    if (!segment) return { logits: r.logits, probs: softmax(r.logits, k), numClasses: k };
    // The sigmoid on first read: mask callers threshold the logits, and a bench times the network alone.
    let probs: Float32Array | undefined;
    return {
      logits: r.logits,
      get probs() {
        probs ??= sigmoid(r.logits);
        return probs;
      },
      numClasses: k,
    };
  }

  /** Grad-CAM and pooled features explain a classifier's class score; a segmenter has none. */
  private checkClassifier(what: string): void {
    if (this.resolved.task !== 'classify') throw new Error(`${what} needs a classifier; ${this.spec.arch} segments`);
  }

  async gradCamMaps(batch: Batch, classIndex: number, layer?: string): Promise<CamResult> {
    this.checkClassifier('Grad-CAM');
    checkBatch(batch);
    if (!(Number.isInteger(classIndex) && classIndex >= 0 && classIndex < this.spec.numClasses)) {
      throw new Error(`class index ${classIndex} is out of range for ${this.spec.numClasses} classes`);
    }
    if (layer !== undefined && !this.blockNames.includes(layer)) {
      throw new Error(`unknown Grad-CAM layer '${layer}' (one of: ${this.blockNames.join(', ')})`);
    }
    const r = await this.serial(() =>
      this.native.layerGradients({ ...this.input(batch), classIndex, layer: layer ?? this.camLayer }),
    );
    const [n, c, h, w] = r.shape as [number, number, number, number];
    const maps = gradCamMaps(r.activations, r.gradients, [n, c, h, w]);
    // The same activations pooled as features() pools them: the refusal's feature distance costs no second pass.
    const pooled = new Float32Array(n * c);
    for (let i = 0; i < n * c; i++) {
      let s = 0;
      for (let p = i * h * w; p < (i + 1) * h * w; p++) s += r.activations[p]!;
      pooled[i] = s / (h * w);
    }
    return { maps, shape: [n, h, w], probs: softmax(r.logits, this.spec.numClasses), pooled, layer: r.layer };
  }

  /** Pooled activations of `layer` (default: the Grad-CAM layer, i.e. the last block) and the softmax, in eval mode. */
  async features(batch: Batch, layer?: string): Promise<FeatureResult> {
    this.checkClassifier('features');
    checkBatch(batch);
    if (layer !== undefined && !this.blockNames.includes(layer)) {
      throw new Error(`unknown feature layer '${layer}' (one of: ${this.blockNames.join(', ')})`);
    }
    const r = await this.serial(() => this.native.features({ ...this.input(batch), layer: layer ?? this.camLayer }));
    return {
      features: r.features,
      shape: r.shape as [number, number],
      probs: softmax(r.logits, this.spec.numClasses),
      layer: r.layer,
    };
  }

  setTrainable(names: string[], trainable: boolean): void {
    const idx = names.map((n) => {
      const i = this.index.get(n);
      if (i === undefined || this.entries[i]!.kind !== 'param')
        throw new Error(`'${n}' is not a parameter of ${this.spec.arch}`);
      return i;
    });
    this.native.setTrainable(idx, trainable);
  }

  setBatchNormMode(mode: BatchNormMode): void {
    if (!['train', 'eval', 'frozen'].includes(mode))
      throw new Error(`BatchNorm mode must be train, eval or frozen (got '${mode}')`);
    this.native.setBatchNormMode(mode);
  }

  async optimizerState(): Promise<TensorMap> {
    return toMap(await this.serial(() => this.native.getOptimizerState()));
  }

  async loadOptimizerState(tensors: TensorMap): Promise<void> {
    if (this.groupCount === 0) throw new Error('configureOptimizer must be called before loading optimizer state');
    await this.serial(() => this.native.setOptimizerState(fromMap(tensors)));
  }

  async batchNormInputStats(batch: Batch): Promise<BatchNormStats[]> {
    checkBatch(batch);
    return this.serial(() => this.native.bnInputStats(this.input(batch)));
  }

  private input(batch: Batch): NativeInput {
    return {
      pixels: batch.pixels,
      shape: batch.shape,
      mean: this.spec.normalisation.mean,
      std: this.spec.normalisation.std,
    };
  }
}

function checkNormalisation(n: Normalisation): void {
  const ok = (xs: unknown, positive: boolean) =>
    Array.isArray(xs) &&
    xs.length === 3 &&
    xs.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0));
  if (!ok(n.mean, false) || !ok(n.std, true)) {
    throw new Error(
      'normalisation needs 3 finite means and 3 positive standard deviations ' +
        `(got mean ${JSON.stringify(n.mean)}, std ${JSON.stringify(n.std)})`,
    );
  }
}

function checkPrecision(p: string, device: string): Precision {
  if (!PRECISIONS.includes(p as Precision)) throw new Error(`unknown precision '${p}' (fp32, bf16, fp16)`);
  if (p === 'fp16' && !device.startsWith('cuda'))
    throw new Error('precision fp16 needs a CUDA device; on CPU use bf16 or fp32');
  if (p === 'bf16' && device === 'cpu') warnSlowBf16();
  return p as Precision;
}

// Once per process: bf16 without native kernels is allowed (results comparable with a bf16 run
// elsewhere), but a user should know it is the slow path (engine/isa.ts).
let slowBf16Warned = false;
function warnSlowBf16(): void {
  if (slowBf16Warned) return;
  slowBf16Warned = true;
  const isa = nativeIsa();
  if (isa.fastBf16) return;
  process.emitWarning(
    `bf16 on a CPU without native bf16 kernels (${isa.level}): libtorch's reference kernels run it, ` +
      'about 10–35× slower than fp32 and less exact; fp32 is the faster choice here',
    { code: 'CXRTUNE_SLOW_BF16' },
  );
}

/** Validates a batch's shape against its pixels; returns N. */
export function checkBatch(batch: Batch): number {
  const s = batch.shape;
  if (!Array.isArray(s) || s.length !== 4 || !s.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`batch shape must be [N, H, W, C] of positive integers (got ${JSON.stringify(s)})`);
  }
  const [n, h, w, c] = s;
  if (c !== 1 && c !== 3) throw new Error(`batch must have 1 or 3 channels (got ${c})`);
  if (h < 8 || w < 8) throw new Error(`images must be at least 8x8 pixels (got ${h}x${w})`);
  if (!(batch.pixels instanceof Uint8Array) && !((batch.pixels as unknown) instanceof Float32Array)) {
    throw new Error('batch pixels must be a Uint8Array (or Float32Array)');
  }
  if (batch.pixels.length !== n * h * w * c) {
    throw new Error(`batch has ${batch.pixels.length} pixel values; shape [${s}] needs ${n * h * w * c}`);
  }
  if ((batch.pixels as unknown) instanceof Float32Array) {
    const px = batch.pixels as unknown as Float32Array;
    for (let i = 0; i < px.length; i++)
      if (!Number.isFinite(px[i]!)) throw new Error(`batch pixels contain NaN or infinity (at index ${i})`);
  }
  return n;
}

function checkSegmenterSize(h: number, w: number): void {
  if (h % 32 !== 0 || w % 32 !== 0)
    throw new Error(`segmenter input must be a multiple of 32 pixels on each side (got ${w}×${h})`);
}

function sigmoid(logits: Float32Array): Float32Array {
  const out = new Float32Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = 1 / (1 + Math.exp(-logits[i]!));
  return out;
}

export function softmax(logits: Float32Array, k: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < logits.length / k; r++) {
    let mx = -Infinity;
    for (let j = 0; j < k; j++) mx = Math.max(mx, logits[r * k + j]!);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += out[r * k + j] = Math.exp(logits[r * k + j]! - mx);
    for (let j = 0; j < k; j++) out[r * k + j]! /= sum;
  }
  return out;
}

function toMap(list: NativeTensor[]): TensorMap {
  return new Map(list.map((t) => [t.name, { dtype: t.dtype as HostTensor['dtype'], shape: t.shape, data: t.data }]));
}
function fromMap(m: TensorMap): NativeTensor[] {
  return [...m].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, data: t.data }));
}
function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
function list(xs: string[]): string {
  return xs.length > 8 ? `${xs.slice(0, 8).join(', ')} … (${xs.length} in all)` : xs.join(', ');
}
