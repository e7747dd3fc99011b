// The lung segmenter as an ONNX graph: the engine's input step, the encoder written by its
// family file (engine/models, weights under 'encoder.'), and the U-Net decoder of
// native/src/unet.cc — per block: nearest ×2, the skip concatenated after it, two 3x3
// Conv-BN-ReLU (BatchNorm folded) — then segmentation_head.0. One output: `logits`
// [batch, 1, H, W] (the mask is sigmoid(logits) ≥ the model's threshold).
import { familyOf } from '../models/registry.js';
import { OnnxGraph } from '../onnx/graph.js';
import type { Arch, Normalisation, TensorMap } from '../types.js';
import type { SegmenterArch } from './segmenterSpec.js';

/** smp's encoder stages as unet.cc taps them: the skips (shallow first) and the deepest block. */
const ENCODERS: Record<SegmenterArch, { arch: Arch; skips: string[]; deepest: string }> = {
  unet_mobilenet_v2: {
    arch: 'mobilenet_v2',
    skips: ['features.1', 'features.3', 'features.6', 'features.13'],
    deepest: 'features.18',
  },
  unet_resnet18: { arch: 'resnet18', skips: ['conv1', 'layer1', 'layer2', 'layer3'], deepest: 'layer4' },
  unet_resnet34: { arch: 'resnet34', skips: ['conv1', 'layer1', 'layer2', 'layer3'], deepest: 'layer4' },
};

export interface SegmenterOnnxSpec {
  arch: SegmenterArch;
  state: TensorMap;
  /** Side of the square input, a multiple of 32. */
  size: number;
  normalisation: Normalisation;
}

export function segmenterGraph(s: SegmenterOnnxSpec): OnnxGraph {
  const enc = ENCODERS[s.arch];
  if (!enc) throw new Error(`unknown segmenter architecture '${s.arch}'`);
  if (s.size % 32 !== 0) throw new Error(`segmenter input must be a multiple of 32 pixels (got ${s.size})`);
  const g = new OnnxGraph(s.state);
  const x = g.pixels(s.size, s.normalisation);
  const taps = familyOf(enc.arch).onnxBlocks(g, x, enc.arch, { prefix: 'encoder.' });
  const skips = enc.skips.map((t) => taps.get(t)!);
  let y = taps.get(enc.deepest)!;
  for (let i = 0; i < 5; i++) {
    const b = `decoder.blocks.${i}`;
    y = g.upsample2x(y, `${b}/upsample`);
    const skip = skips[skips.length - 1 - i];
    if (skip) y = g.concat([y, skip], `${b}/cat`);
    for (const c of ['conv1', 'conv2'])
      y = g.relu(g.conv(y, `${b}.${c}.0`, { pad: 1, bn: `${b}.${c}.1` }), `${b}.${c}.2`);
  }
  g.output('logits', g.conv(y, 'segmentation_head.0', { pad: 1 }), ['batch', 1, s.size, s.size]);
  return g;
}
