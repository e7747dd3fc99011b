// DenseNet family (torchvision.models.densenet): conv0/norm0 = stem; denseblockN and the
// transitionN after it form stage N (norm5 closes stage 4); classifier = head.
// Native: native/src/densenet.cc.
import { blocksPerStage, HEAD, IMAGENET, type Family } from './family.js';

export const DENSENET_ARCHS = ['densenet121', 'densenet161', 'densenet169', 'densenet201'] as const;
type DenseNetArch = (typeof DENSENET_ARCHS)[number];

/** Dense layers per block → architecture. */
const BY_BLOCKS: Record<string, DenseNetArch> = {
  '6,12,24,16': 'densenet121',
  '6,12,36,24': 'densenet161',
  '6,12,32,32': 'densenet169',
  '6,12,48,32': 'densenet201',
};

export const densenet: Family<DenseNetArch> = {
  native: 'densenet',
  archs: DENSENET_ARCHS,
  stageOf(name) {
    const m = /^features\.(denseblock|transition)(\d)\./.exec(name);
    if (m) return { stage: `${m[1]}${m[2]}`, index: Number(m[2]) };
    if (name.startsWith('features.norm5')) return { stage: 'denseblock4', index: 4 };
    if (name.startsWith('classifier')) return HEAD;
    return { stage: 'stem', index: 0 };
  },
  classifier: 'classifier',
  camLayer: 'features.norm5',
  stride8Layer: 'features.denseblock2',
  paperPreset: 'paper-densenet',
  traditional: { lr: 1e-4, momentum: 0.9 },
  timmLayout: true,
  // Measured (densenet121, batch 16, 224 px, two interleaved rounds): predict fp32 ×1.25–1.4,
  // bf16 ×1.8; batch-1 84–89 → 62–64 ms (docs/performance.md).
  inferenceChannelsLast: true,
  // Training, densenet121 at 224 px, batch 16, two interleaved rounds: fp32 5.6, 5.1 → 6.3,
  // 6.5 img/s; bf16 7.5, 7.3 → 10.3, 10.7 img/s.
  trainChannelsLast: true,
  fromStateNames(names) {
    const b = blocksPerStage(names, /(?:^|\.)denseblock([1-4])\.denselayer(\d+)\./);
    return b ? (BY_BLOCKS[b.counts] ?? null) : null;
  },
  pretrained: DENSENET_ARCHS.map((arch) => ({
    arch,
    source: `torchvision ${arch} IMAGENET1K_V1 (.pth, read safely) or timm/${arch}.tv_in1k`,
    normalisation: IMAGENET,
  })),
};
