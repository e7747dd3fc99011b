// Plain data types shared by the engine facade and the layers above it.
// Everything here crosses the native boundary as-is (typed arrays, numbers, strings).

// The architectures are the registry's (models/registry.ts: one file per family).
export { ARCHS, type Arch } from './models/registry.js';
import type { Arch } from './models/registry.js';
// The input normalisation is the family files' (they hold ImageNet's); defined there so the
// model files need nothing from this one.
export type { Normalisation } from './models/family.js';
import type { Normalisation } from './models/family.js';

export type Precision = 'fp32' | 'bf16' | 'fp16';
/** What a model answers: a class per image (classify) or a 0/1 mask per image (segment). */
export type Task = 'classify' | 'segment';
/**
 * The training loss, sent with every step (the addon has no default): cross-entropy with the
 * step's class weights, or BCE × bceWeight + (1 − soft Dice) × diceWeight on masks.
 */
export type LossSpec = CrossEntropyLoss | DiceBceLoss;
export interface CrossEntropyLoss {
  kind: 'crossEntropy';
}
export interface DiceBceLoss {
  kind: 'diceBce';
  diceWeight: number;
  bceWeight: number;
}
export type BatchNormMode = 'train' | 'eval' | 'frozen';
export type OptimizerKind = 'sgd' | 'adamw' | 'adam';

/** A batch of images as uint8 pixels, NHWC, C = 1 (grayscale) or 3 (RGB). */
export interface Batch {
  pixels: Uint8Array;
  shape: [n: number, h: number, w: number, c: number];
  /** Class index per image (training a classifier). */
  labels?: Int32Array;
  /** 0/1 per pixel, [N, H, W] at the batch's size (training a segmenter). */
  masks?: Uint8Array;
}

export interface ModelSpec {
  task?: 'classify';
  arch: Arch;
  numClasses: number;
  /** Dropout before the classifier (mobilenet_v2 keeps torchvision's 0.2 by default). */
  dropout?: number;
  normalisation?: Normalisation;
  /** 'cpu' or 'cuda:N'. */
  device?: string;
  /** Use channels_last memory format (faster for some archs/precisions). */
  channelsLast?: boolean;
  /** ResNet-50/101/152 v1 (Keras, Caffe): the downsampling stride on the bottleneck's first 1x1 conv. */
  strideIn1x1?: boolean;
}

/** A named tensor in host memory (safetensors dtypes). */
export interface HostTensor {
  dtype: 'F32' | 'F16' | 'BF16' | 'I64' | 'F64' | 'I32' | 'U8';
  shape: number[];
  /** Raw little-endian bytes of the tensor, row-major. */
  data: Uint8Array;
}
export type TensorMap = Map<string, HostTensor>;

export interface ParamInfo {
  name: string;
  shape: number[];
  kind: 'param' | 'buffer';
  trainable: boolean;
}

/** A parameterised layer (a module owning parameters directly), input → output order. */
export interface LayerInfo {
  /** Module path, e.g. 'layer1.0.conv1' or 'features.denseblock1.denselayer1.norm1'. */
  name: string;
  /** stem | stage1..stage4 | denseblock1..4 | transition1..3 | head (per family). */
  stage: string;
  /** Index of the stage in input→output order (0 = stem). */
  stageIndex: number;
  /** Indices into Model.parameters() (params only, not buffers). */
  params: number[];
  kind: 'conv' | 'bn' | 'linear';
}

/** Per-group hyperparameters for one step (set before every step). */
export interface GroupHyper {
  lr: number;
  /** SGD momentum, or Adam/AdamW β1. */
  momentum: number;
  weightDecay: number;
}

export interface OptimizerConfig {
  kind: OptimizerKind;
  /** Parameter indices (into Model.parameters()) per group, first group nearest the input. */
  groups: number[][];
  weightDecay?: number;
  nesterov?: boolean;
  /** Adam β2 (default 0.99 as fastai; torch default 0.999). */
  beta2?: number;
  eps?: number;
}

export interface StepOptions {
  precision?: Precision;
  classWeights?: number[];
  /** A step whose loss or gradients are inf/NaN is not applied (default true; recipe/gradScaler.ts decides). */
  skipNonFinite?: boolean;
  /** fp16: multiply the loss by this before backward (dynamic scaling is recipe/gradScaler.ts). */
  lossScale?: number;
  /** Default: the task's (engine/model.ts DEFAULT_LOSS). */
  loss?: LossSpec;
}

export interface StepResult {
  loss: number;
  /** Softmax probabilities [N, numClasses], fp32 (a segmenter: each image's mean foreground probability, [N]). */
  probs: Float32Array;
  /** The loss or a gradient was inf/NaN; with skipNonFinite (the default) the step was not applied. */
  overflow: boolean;
  /** Loss scale used for this step (1 unless fp16). */
  lossScale: number;
}

export interface PredictResult {
  /** [N, numClasses] (a segmenter: [N, H, W], one logit per pixel). */
  logits: Float32Array;
  /** Softmax of the logits (a segmenter: their sigmoid). */
  probs: Float32Array;
  numClasses: number;
}

export interface CamResult {
  /** Per-image CAM before ReLU/upsampling: [N, h, w] = Σ_k mean(∂y_c/∂A_k) A_k. */
  maps: Float32Array;
  shape: [n: number, h: number, w: number];
  probs: Float32Array;
  /** [N, C] the layer's activations averaged over its h×w: what features() returns for the same layer. */
  pooled: Float32Array;
  layer: string;
}

export interface FeatureResult {
  /** [N, C] global-average-pooled activations of one block (the penultimate features at the default layer). */
  features: Float32Array;
  shape: [n: number, c: number];
  /** Softmax of the same forward pass. */
  probs: Float32Array;
  layer: string;
}

export interface BatchNormStats {
  /** BatchNorm module name. */
  name: string;
  /** Per-channel mean and (biased) variance of the BN's input over the batch. */
  mean: Float32Array;
  var: Float32Array;
}

/**
 * What inference needs of a classifier (evaluate, explain, audit, calibrate, serve): one engine
 * `Model`, or an ensemble of them (app/ensemble/ensembleModel.ts) that answers the same calls.
 */
export interface InferenceModel {
  readonly spec: { readonly arch: string; readonly numClasses: number };
  /** The default Grad-CAM and feature layer. */
  readonly camLayer: string;
  /** The layers a caller may name instead. */
  readonly blockNames: readonly string[];
  predict(batch: Batch, opts?: { precision?: Precision }): Promise<PredictResult>;
  gradCamMaps(batch: Batch, classIndex: number, layer?: string): Promise<CamResult>;
  features(batch: Batch, layer?: string): Promise<FeatureResult>;
}

/**
 * What the layers above need from a model (implemented by engine/model.ts `Model`).
 * Every heavy call runs off the event loop; calls on one model are serialised.
 */
export interface EngineModel {
  readonly spec: { readonly arch: string; readonly numClasses: number; readonly task?: Task };
  /** Parameters then buffers, in torchvision's state_dict order. */
  parameters(): ParamInfo[];
  /** Parameterised layers, input → output, with their stage. */
  layers(): LayerInfo[];
  state(): Promise<TensorMap>;
  loadState(tensors: TensorMap, opts?: { strict?: boolean }): Promise<void>;
  configureOptimizer(cfg: OptimizerConfig): void;
  trainStep(batch: Batch, perGroup: GroupHyper[], opts?: StepOptions): Promise<StepResult>;
  predict(batch: Batch, opts?: { precision?: Precision }): Promise<PredictResult>;
  gradCamMaps(batch: Batch, classIndex: number, layer?: string): Promise<CamResult>;
  /** Freeze (trainable=false) or unfreeze parameters by name. */
  setTrainable(names: string[], trainable: boolean): void;
  setBatchNormMode(mode: BatchNormMode): void;
  /** Optimizer state (momentum buffers, Adam moments, step) as named tensors, for resume. */
  optimizerState(): Promise<TensorMap>;
  loadOptimizerState(tensors: TensorMap): Promise<void>;
  batchNormInputStats(batch: Batch): Promise<BatchNormStats[]>;
}
