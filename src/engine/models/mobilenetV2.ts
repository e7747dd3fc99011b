// MobileNetV2 (torchvision.models.mobilenet_v2): features.0 = stem; stages split where the
// resolution halves (features.2, .4, .7, .14): stage1 = 1–3, stage2 = 4–6, stage3 = 7–13,
// stage4 = 14–18; classifier (Dropout, Linear) = head. Native: native/src/mobilenet_v2.cc.
import { HEAD, IMAGENET, type Family, type OnnxOptions } from './family.js';
import type { OnnxGraph } from '../onnx/graph.js';

export const MOBILENET_ARCHS = ['mobilenet_v2'] as const;
type MobileNetArch = (typeof MOBILENET_ARCHS)[number];

/** torchvision's inverted-residual settings: expansion t, width c, repeats n, first stride s (width 1.0). */
const SETTINGS: [t: number, c: number, n: number, s: number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/**
 * MobileNetV2 as native/src/mobilenet_v2.cc runs it, in ONNX: features.0 (3x3 stride-2 conv, BN,
 * ReLU6), 17 inverted residuals (1x1 expansion + ReLU6 unless t = 1, 3x3 depthwise + ReLU6, 1x1
 * linear projection; the input added back where the stride is 1 and the width unchanged), and
 * features.18 (1x1 to 1280, ReLU6). Every BatchNorm follows its convolution, so all are folded.
 */
function onnxBlocks(g: OnnxGraph, x: string, _arch: MobileNetArch, o: OnnxOptions): Map<string, string> {
  const f = `${o.prefix}features`;
  const taps = new Map<string, string>();
  const convBnRelu6 = (v: string, m: string, stride: number, groups: number) => {
    const k = g.shape(`${m}.0.weight`)[2]!;
    return g.relu6(g.conv(v, `${m}.0`, { stride, pad: (k - 1) / 2, groups, bn: `${m}.1` }), `${m}.2`);
  };
  let y = convBnRelu6(x, `${f}.0`, 2, 1);
  taps.set('features.0', y);
  let idx = 1;
  let width = 32;
  for (const [t, c, n, s] of SETTINGS) {
    for (let i = 0; i < n; i++, idx++) {
      const m = `${f}.${idx}.conv`;
      const stride = i === 0 ? s : 1;
      const hidden = width * t;
      let k = 0;
      let h = t === 1 ? y : convBnRelu6(y, `${m}.${k++}`, 1, 1);
      h = convBnRelu6(h, `${m}.${k++}`, stride, hidden);
      h = g.conv(h, `${m}.${k}`, { bn: `${m}.${k + 1}` });
      y = stride === 1 && width === c ? g.add(y, h, `${f}.${idx}.add`) : h;
      taps.set(`features.${idx}`, y);
      width = c;
    }
  }
  y = convBnRelu6(y, `${f}.${idx}`, 1, 1);
  taps.set(`features.${idx}`, y);
  return taps;
}

export const mobilenetV2: Family<MobileNetArch> = {
  native: 'mobilenet_v2',
  archs: MOBILENET_ARCHS,
  stageOf(name) {
    const m = /^features\.(\d+)\./.exec(name);
    if (m) {
      const i = Number(m[1]);
      if (i === 0) return { stage: 'stem', index: 0 };
      const s = i <= 3 ? 1 : i <= 6 ? 2 : i <= 13 ? 3 : 4;
      return { stage: `stage${s}`, index: s };
    }
    return HEAD;
  },
  classifier: 'classifier.1',
  camLayer: 'features.18',
  stride8Layer: 'features.6',
  // Not in the paper; its ResNet ranges are the ones tried with it here.
  paperPreset: 'paper-resnet',
  traditional: { lr: 1e-3, momentum: 0.99 },
  // timm's mobilenetv2_100 uses its own module names (conv_stem, blocks.N): not read.
  timmLayout: false,
  inferenceChannelsLast: true,
  onnxBlocks,
  // Dropout before the classifier is the identity in eval mode.
  onnxHead: (g, features) => g.poolLinear(features, 'classifier.1'),
  fromStateNames(names) {
    for (const n of names) if (/(?:^|\.)features\.18\.0\.weight$/.test(n)) return 'mobilenet_v2';
    return null;
  },
  pretrained: [
    {
      arch: 'mobilenet_v2',
      source:
        'mobilenet_v2-imagenet-ptq.safetensors, an ImageNet MobileNetV2 converted from TFLite ' +
        '(BatchNorm folded: unfolded before training)',
      normalisation: IMAGENET,
    },
    {
      arch: 'mobilenet_v2',
      source: 'torchvision mobilenet_v2 IMAGENET1K_V1 (.pth, read safely)',
      normalisation: IMAGENET,
    },
  ],
};
