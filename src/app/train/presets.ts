// Training presets: the paper's settings (Adedigba et al., Table 2) and its "traditional
// transfer learning" baseline (Table 3). A preset only fills fields; anything given in a
// --config file or on the command line overrides it.
//
// Choices:
// - The paper trains with fastai's Adam, whose weight decay is decoupled (fastai's default
//   true_wd), so "Adam, wd 0.01" is `adamw` with weight decay 0.01 here.
// - The paper's schedule is its Algorithm 1 → `paperCycle` (linear up for pct·T, pct drawn
//   from [0.5, 1) by the seed, then linear down), momentum inverse to the LR.
// - Discriminative groups are the network's stages, geometric spacing (fastai's `slice`).
// - `traditional`: one constant LR and momentum for every layer; its values depend on the
//   architecture family (DenseNet vs the rest).
// - Precision is not part of a preset: fp16 needs CUDA and bf16 is only fast on some CPUs,
//   so it stays the user's (or the default fp32).
import type { Arch } from '../../engine/types.js';
import { familyOf } from '../../engine/models/registry.js';
import type { TrainConfig } from './trainConfig.js';

export const PRESETS = ['paper-resnet', 'paper-densenet', 'traditional'] as const;
export type PresetName = (typeof PRESETS)[number];

const PAPER_COMMON: Partial<TrainConfig> = {
  schedule: 'paperCycle',
  momentumMode: 'inverse',
  optimizer: 'adamw',
  wd: 0.01,
  epochs: 20,
  mode: 'finetune',
  groups: 'stage',
  spacing: 'geometric',
  discriminative: true,
};

/** The fields a preset sets (the arch decides `traditional`'s values). */
export function presetValues(name: PresetName, arch: Arch | string): Partial<TrainConfig> {
  switch (name) {
    case 'paper-resnet':
      return { ...PAPER_COMMON, lrMin: 1e-3, lrMax: 1e-1, momMin: 0.8, momMax: 0.99 };
    case 'paper-densenet':
      return { ...PAPER_COMMON, lrMin: 1e-4, lrMax: 1e-2, momMin: 0.79, momMax: 0.9 };
    case 'traditional': {
      const { lr, momentum: mom } = familyOf(arch).traditional;
      return {
        schedule: 'constant',
        lrMin: lr,
        lrMax: lr,
        momMin: mom,
        momMax: mom,
        optimizer: 'adamw',
        wd: 0.01,
        epochs: 20,
        mode: 'finetune',
        discriminative: false,
      };
    }
    default:
      throw new Error(`unknown preset '${name as string}' (one of: ${PRESETS.join(', ')})`);
  }
}
