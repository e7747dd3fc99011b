// The engine's segmenter: a U-Net (native/src/unet.cc) with segmentation_models_pytorch's
// state_dict names — encoder.<torchvision names>, decoder.blocks.N.conv{1,2}.{0,1}.*,
// segmentation_head.0.* — and one logit per pixel. A separate facade from engine/model.ts
// (classifiers): its outputs are maps, its loss is Dice + BCE on masks.
import pLimit from 'p-limit';
import { loadNative, type NativeModel, type NativeTensor } from '../native.js';
import { IMAGENET } from '../models/family.js';
import { checkBatch } from '../model.js';
import { metadataNormalisation, readWeights } from '../weights/weightsFile.js';
import type { Batch, HostTensor, Normalisation, ParamInfo, Precision, TensorMap } from '../types.js';

export const SEGMENTER_ARCHS = ['unet_mobilenet_v2', 'unet_resnet18', 'unet_resnet34'] as const;
export type SegmenterArch = (typeof SEGMENTER_ARCHS)[number];
/** Lighter than smp's default (256, 128, 64, 32, 16): 2-core CPU training and ≤ 50 ms inference at 256 px. */
export const LIGHT_DECODER = [64, 32, 16, 16, 8];

export interface SegmenterSpec {
  arch: SegmenterArch;
  /** Five channel counts, deepest first (smp's decoder_channels). */
  decoderChannels?: number[];
  normalisation?: Normalisation;
  device?: string;
  /** channels_last memory format (faster convolutions on some CPUs). */
  channelsLast?: boolean;
}

export interface SegStep {
  loss: number;
  overflow: boolean;
}

export class Segmenter {
  readonly spec: Required<Omit<SegmenterSpec, 'device' | 'channelsLast'>> & { device: string; channelsLast: boolean };
  private readonly native: NativeModel;
  private readonly calls = pLimit(1);
  private groups = 0;

  private constructor(spec: Segmenter['spec'], native: NativeModel) {
    this.spec = spec;
    this.native = native;
  }

  static create(spec: SegmenterSpec): Segmenter {
    if (!SEGMENTER_ARCHS.includes(spec.arch))
      throw new Error(`unknown segmenter architecture '${spec.arch}' (known: ${SEGMENTER_ARCHS.join(', ')})`);
    const dec = spec.decoderChannels ?? LIGHT_DECODER;
    if (dec.length !== 5 || !dec.every((c) => Number.isInteger(c) && c > 0))
      throw new Error(`decoderChannels must be 5 positive integers (got ${JSON.stringify(dec)})`);
    const full = {
      arch: spec.arch,
      decoderChannels: dec,
      normalisation: spec.normalisation ?? IMAGENET,
      device: spec.device ?? 'cpu',
      channelsLast: !!spec.channelsLast,
    };
    const { NativeModel } = loadNative();
    return new Segmenter(full, new NativeModel({ ...full, numClasses: 1 }));
  }

  /** Runs calls on this segmenter one at a time, in the order they were made (as the Model does). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.calls(fn);
  }

  parameters(): ParamInfo[] {
    return this.native.entries();
  }

  async state(): Promise<TensorMap> {
    const list = await this.serial(() => this.native.getState());
    return new Map(list.map((t) => [t.name, { dtype: t.dtype as HostTensor['dtype'], shape: t.shape, data: t.data }]));
  }

  /** Loads tensors by name; strict: every entry must be given. Names and shapes are checked. */
  async loadState(tensors: TensorMap, opts: { strict?: boolean } = {}): Promise<void> {
    const strict = opts.strict ?? true;
    const byName = new Map(this.parameters().map((e) => [e.name, e]));
    const bad: string[] = [];
    for (const [k, t] of tensors) {
      const e = byName.get(k);
      if (!e) bad.push(`unexpected ${k}`);
      else if (e.shape.join() !== t.shape.join()) bad.push(`${k} [${t.shape}] vs [${e.shape}]`);
    }
    if (strict) for (const k of byName.keys()) if (!tensors.has(k)) bad.push(`missing ${k}`);
    if (bad.length)
      throw new Error(
        `state does not fit ${this.spec.arch}:` +
          ` ${bad.slice(0, 6).join('; ')}${bad.length > 6 ? ` … (${bad.length})` : ''}`,
      );
    const list: NativeTensor[] = [...tensors].map(([name, t]) => ({
      name,
      dtype: t.dtype,
      shape: t.shape,
      data: t.data,
    }));
    await this.serial(() => this.native.setState(list));
  }

  /** Loads torchvision ImageNet weights of the encoder (features.* → encoder.features.*; the classifier is dropped). */
  async loadEncoder(source: string): Promise<number> {
    const w = await readWeights(source);
    const use: TensorMap = new Map();
    // Everything but the classifier (MobileNetV2's classifier.*, ResNet's fc.*) is the encoder.
    for (const [k, t] of w.tensors) if (!/^(classifier|fc)\./.test(k)) use.set(`encoder.${k}`, t);
    const want = this.parameters().filter(
      (e) => e.name.startsWith('encoder.') && !e.name.endsWith('num_batches_tracked'),
    );
    const missing = want.filter((e) => !use.has(e.name)).map((e) => e.name);
    const known = new Set(this.parameters().map((e) => e.name));
    for (const k of use.keys()) if (!known.has(k)) missing.push(`(unexpected) ${k}`);
    if (missing.length)
      throw new Error(
        `${w.file} is not a ${this.spec.arch.replace('unet_', '')} encoder: missing ${missing.slice(0, 4).join(', ')}`,
      );
    await this.loadState(use, { strict: false });
    // The encoder's own input normalisation (e.g. mean = std = 0.5 for TF-converted weights) wins.
    const normalisation = metadataNormalisation(w.metadata);
    if (normalisation) this.spec.normalisation = normalisation;
    return use.size;
  }

  /** Modules owning parameters (name, kind), input → output order. */
  layers(): { name: string; kind: string; params: number[] }[] {
    return this.native.modules();
  }

  /** Per-BatchNorm input mean and variance on a batch (eval mode): for BatchNorm unfolding. */
  async batchNormInputStats(batch: Batch): Promise<{ name: string; mean: Float32Array; var: Float32Array }[]> {
    checkBatch(batch);
    return this.serial(() =>
      this.native.bnInputStats({
        pixels: batch.pixels,
        shape: batch.shape,
        mean: this.spec.normalisation.mean,
        std: this.spec.normalisation.std,
      }),
    );
  }

  /** Parameter indices of the encoder and of the decoder + head (two optimizer groups). */
  paramGroups(): { encoder: number[]; decoder: number[] } {
    const out = { encoder: [] as number[], decoder: [] as number[] };
    this.parameters().forEach((e, i) => {
      if (e.kind === 'param') (e.name.startsWith('encoder.') ? out.encoder : out.decoder).push(i);
    });
    return out;
  }

  configureOptimizer(kind: 'adamw' | 'adam' | 'sgd', groups: number[][]): void {
    this.native.configureOptimizer({ kind, groups, nesterov: false, beta2: 0.999, eps: 1e-8 });
    this.groups = groups.length;
  }

  /** One step on a batch and its masks (0/1 per pixel, [N, H, W] at the batch's size): Dice + BCE. */
  async trainStep(
    batch: Batch,
    masks: Uint8Array,
    hyper: { lr: number; momentum: number; weightDecay: number }[],
    precision: Precision = 'fp32',
  ): Promise<SegStep> {
    const n = checkBatch(batch);
    const [, h, w] = batch.shape;
    if (this.groups === 0) throw new Error('configureOptimizer must be called before trainStep');
    if (hyper.length !== this.groups)
      throw new Error(`trainStep got hyperparameters for ${hyper.length} groups; the optimizer has ${this.groups}`);
    if (masks.length !== n * h * w)
      throw new Error(`masks hold ${masks.length} values; the batch needs ${n}×${h}×${w}`);
    checkSize(h, w);
    const r = await this.serial(() =>
      this.native.trainStep({
        pixels: batch.pixels,
        shape: batch.shape,
        mean: this.spec.normalisation.mean,
        std: this.spec.normalisation.std,
        masks,
        hyper,
        precision,
        lossScale: 1,
      }),
    );
    return { loss: r.loss, overflow: r.overflow };
  }

  /** Per-pixel logits [N, H, W] (eval mode). */
  async predict(batch: Batch, precision: Precision = 'fp32'): Promise<Float32Array> {
    checkBatch(batch);
    checkSize(batch.shape[1], batch.shape[2]);
    const r = await this.serial(() =>
      this.native.predict({
        pixels: batch.pixels,
        shape: batch.shape,
        mean: this.spec.normalisation.mean,
        std: this.spec.normalisation.std,
        precision,
      }),
    );
    return r.logits;
  }
}

function checkSize(h: number, w: number): void {
  if (h % 32 !== 0 || w % 32 !== 0)
    throw new Error(`segmenter input must be a multiple of 32 pixels on each side (got ${w}×${h})`);
}
