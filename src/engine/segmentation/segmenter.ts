// The lung segmenter's architectures: a U-Net (native/src/unet.cc) with segmentation_models_pytorch's
// state_dict names — encoder.<torchvision names>, decoder.blocks.N.conv{1,2}.{0,1}.*,
// segmentation_head.0.* — and one logit per pixel. The model itself is the engine's Model with
// task 'segment' (engine/model.ts): what is here is what only a segmenter has (its archs, its
// two stages, the encoder's ImageNet weights).
import { metadataNormalisation, readWeights } from '../weights/weightsFile.js';
import type { Model } from '../model.js';
import type { TensorMap } from '../types.js';

export {
  SEGMENTER_ARCHS,
  LIGHT_DECODER,
  checkSegmenterSpec,
  segmenterStageOf,
  type SegmenterArch,
  type SegmenterSpec,
} from './segmenterSpec.js';

/** A segmenter: the engine Model with task 'segment'. */
export type Segmenter = Model<'segment'>;

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
