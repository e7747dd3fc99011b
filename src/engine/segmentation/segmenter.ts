// The lung segmenter's architectures: a U-Net (native/src/unet.cc) with segmentation_models_pytorch's
// state_dict names — encoder.<torchvision names>, decoder.blocks.N.conv{1,2}.{0,1}.*,
// segmentation_head.0.* — and one logit per pixel. The model itself is the engine's Model with
// task 'segment' (engine/model.ts): what is here is what only a segmenter has (its archs, its
// two stages, the encoder's ImageNet weights).
import { metadataNormalisation, readWeights } from '../weights/weightsFile.js';
import type { Model } from '../model.js';
import type { Normalisation, TensorMap } from '../types.js';

export const SEGMENTER_ARCHS = ['unet_mobilenet_v2', 'unet_resnet18', 'unet_resnet34'] as const;
export type SegmenterArch = (typeof SEGMENTER_ARCHS)[number];
/** Lighter than smp's default (256, 128, 64, 32, 16): 2-core CPU training and ≤ 50 ms inference at 256 px. */
export const LIGHT_DECODER = [64, 32, 16, 16, 8];

export interface SegmenterSpec {
  task: 'segment';
  arch: SegmenterArch;
  /** Five channel counts, deepest first (smp's decoder_channels). */
  decoderChannels?: number[];
  normalisation?: Normalisation;
  device?: string;
  /** channels_last memory format (faster convolutions on some CPUs). */
  channelsLast?: boolean;
}

/** A segmenter: the engine Model with task 'segment'. */
export type Segmenter = Model<'segment'>;

/** Checks a segmenter spec; returns its decoder channels. */
export function checkSegmenterSpec(spec: SegmenterSpec): number[] {
  if (!SEGMENTER_ARCHS.includes(spec.arch))
    throw new Error(`unknown segmenter architecture '${spec.arch}' (known: ${SEGMENTER_ARCHS.join(', ')})`);
  const dec = spec.decoderChannels ?? LIGHT_DECODER;
  if (dec.length !== 5 || !dec.every((c) => Number.isInteger(c) && c > 0))
    throw new Error(`decoderChannels must be 5 positive integers (got ${JSON.stringify(dec)})`);
  return dec;
}

/** Two stages: the pretrained encoder, then the fresh decoder and head (transfer modes, optimizer groups). */
export function segmenterStageOf(name: string): { stage: string; index: number } {
  return name.startsWith('encoder.') ? { stage: 'encoder', index: 0 } : { stage: 'decoder', index: 1 };
}

/** Parameter indices of the encoder and of the decoder + head (two optimizer groups). */
export function segmenterGroups(model: Segmenter): { encoder: number[]; decoder: number[] } {
  const out = { encoder: [] as number[], decoder: [] as number[] };
  model.parameters().forEach((e, i) => {
    if (e.kind === 'param') (e.name.startsWith('encoder.') ? out.encoder : out.decoder).push(i);
  });
  return out;
}

/** Loads torchvision ImageNet weights of the encoder (features.* → encoder.features.*; the classifier is dropped). */
export async function loadEncoder(model: Segmenter, source: string): Promise<number> {
  const w = await readWeights(source);
  const use: TensorMap = new Map();
  // Everything but the classifier (MobileNetV2's classifier.*, ResNet's fc.*) is the encoder.
  for (const [k, t] of w.tensors) if (!/^(classifier|fc)\./.test(k)) use.set(`encoder.${k}`, t);
  const want = model
    .parameters()
    .filter((e) => e.name.startsWith('encoder.') && !e.name.endsWith('num_batches_tracked'));
  const missing = want.filter((e) => !use.has(e.name)).map((e) => e.name);
  const known = new Set(model.parameters().map((e) => e.name));
  for (const k of use.keys()) if (!known.has(k)) missing.push(`(unexpected) ${k}`);
  if (missing.length)
    throw new Error(
      `${w.file} is not a ${model.spec.arch.replace('unet_', '')} encoder: missing ${missing.slice(0, 4).join(', ')}`,
    );
  await model.loadState(use, { strict: false });
  // The encoder's own input normalisation (e.g. mean = std = 0.5 for TF-converted weights) wins.
  const normalisation = metadataNormalisation(w.metadata);
  if (normalisation) model.spec.normalisation = normalisation;
  return use.size;
}
