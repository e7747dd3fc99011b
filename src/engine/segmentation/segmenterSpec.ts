// What a lung segmenter's spec is (its architectures, decoder channels, two stages), apart from
// the model: engine/model.ts checks a 'segment' spec with it, and segmenter.ts builds on both.
import type { Normalisation } from '../types.js';

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
