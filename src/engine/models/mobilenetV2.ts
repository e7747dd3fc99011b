// MobileNetV2 (torchvision.models.mobilenet_v2): features.0 = stem; stages split where the
// resolution halves (features.2, .4, .7, .14): stage1 = 1–3, stage2 = 4–6, stage3 = 7–13,
// stage4 = 14–18; classifier (Dropout, Linear) = head. Native: native/src/mobilenet_v2.cc.
import { HEAD, IMAGENET, type Family } from './family.js';

export const MOBILENET_ARCHS = ['mobilenet_v2'] as const;
type MobileNetArch = (typeof MOBILENET_ARCHS)[number];

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
