// DenseNet family (torchvision.models.densenet): conv0/norm0 = stem; denseblockN and the
// transitionN after it form stage N (norm5 closes stage 4); classifier = head.
// Native: native/src/densenet.cc.
import { blocksPerStage, HEAD, IMAGENET, type Family, type OnnxOptions } from './family.js';
import type { OnnxGraph } from '../onnx/graph.js';

export const DENSENET_ARCHS = ['densenet121', 'densenet161', 'densenet169', 'densenet201'] as const;
type DenseNetArch = (typeof DENSENET_ARCHS)[number];

/** Dense layers per block (native/src/densenet.cc make_densenet; growth and stem width follow from the weights). */
const LAYERS: Record<DenseNetArch, number[]> = {
  densenet121: [6, 12, 24, 16],
  densenet161: [6, 12, 36, 24],
  densenet169: [6, 12, 32, 32],
  densenet201: [6, 12, 48, 32],
};

/** Dense layers per block → architecture. */
const BY_BLOCKS: Record<string, DenseNetArch> = Object.fromEntries(DENSENET_ARCHS.map((a) => [LAYERS[a].join(','), a]));

/**
 * The DenseNet as native/src/densenet.cc runs it, in ONNX. A dense layer reads the concatenation
 * of the block's input and every earlier layer's output: BN → ReLU → 1x1 conv (with norm2 folded
 * in) → ReLU → 3x3 conv; a transition is BN → ReLU → 1x1 conv → 2x2 average pool. The
 * pre-activation BatchNorms follow no convolution, so they stay BatchNormalization nodes.
 */
function onnxBlocks(g: OnnxGraph, x: string, arch: DenseNetArch, o: OnnxOptions): Map<string, string> {
  const f = `${o.prefix}features`;
  const taps = new Map<string, string>();
  const stem = g.relu(g.conv(x, `${f}.conv0`, { stride: 2, pad: 3, bn: `${f}.norm0` }), `${f}.relu0`);
  let y = g.maxPool(stem, `${f}.pool0`, 3, 2, 1);
  taps.set('features.pool0', y);
  const blocks = LAYERS[arch];
  for (const [i, n] of blocks.entries()) {
    const d = `${f}.denseblock${i + 1}`;
    const feats = [y];
    for (let l = 1; l <= n; l++) {
      const L = `${d}.denselayer${l}`;
      const cat = g.concat(feats, `${L}/cat`);
      const a = g.relu(g.batchNorm(cat, `${L}.norm1`), `${L}.relu1`);
      const b = g.relu(g.conv(a, `${L}.conv1`, { bn: `${L}.norm2` }), `${L}.relu2`);
      feats.push(g.conv(b, `${L}.conv2`, { pad: 1 }));
    }
    y = g.concat(feats, `${d}/cat`);
    taps.set(`features.denseblock${i + 1}`, y);
    if (i + 1 < blocks.length) {
      const t = `${f}.transition${i + 1}`;
      const a = g.relu(g.batchNorm(y, `${t}.norm`), `${t}.relu`);
      y = g.avgPool(g.conv(a, `${t}.conv`), `${t}.pool`, 2, 2);
      taps.set(`features.transition${i + 1}`, y);
    }
  }
  taps.set('features.norm5', g.batchNorm(y, `${f}.norm5`));
  return taps;
}

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
  reluAfterCamLayer: true,
  onnxBlocks,
  // torchvision's forward: relu(features) before the pooling (the camLayer is norm5, before it).
  onnxHead: (g, features) => g.poolLinear(g.relu(features, 'features.relu5'), 'classifier'),
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
