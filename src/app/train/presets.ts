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
import type { Arch, OptimizerKind } from '../../engine/types.js';
import { familyOf } from '../../engine/models/registry.js';
import type { GroupMode, Spacing } from '../../recipe/discriminative.js';
import type { MomentumMode, ScheduleKind } from '../../recipe/schedules.js';
import type { TransferMode } from '../../recipe/transfer.js';

export const PRESETS = ['paper-resnet', 'paper-densenet', 'traditional'] as const;
export type PresetName = (typeof PRESETS)[number];

/** The settings a preset fills, in TrainConfig's groups (trainConfig.ts lays them over its defaults). */
export interface PresetValues {
  schedule: {
    kind: ScheduleKind;
    epochs: number;
    lrMin: number;
    lrMax: number;
    momMin: number;
    momMax: number;
    momentumMode?: MomentumMode;
  };
  optimizer: { kind: OptimizerKind; wd: number };
  transfer: { mode: TransferMode; discriminative: boolean; groups?: GroupMode; spacing?: Spacing };
}

const PAPER = {
  optimizer: { kind: 'adamw', wd: 0.01 },
  transfer: { mode: 'finetune', groups: 'stage', spacing: 'geometric', discriminative: true },
} as const;

/** The fields a preset sets (the arch decides `traditional`'s values). */
export function presetValues(name: PresetName, arch: Arch | string): PresetValues {
  const paper = (lrMin: number, lrMax: number, momMin: number, momMax: number): PresetValues => ({
    ...PAPER,
    schedule: { kind: 'paperCycle', momentumMode: 'inverse', epochs: 20, lrMin, lrMax, momMin, momMax },
  });
  switch (name) {
    case 'paper-resnet':
      return paper(1e-3, 1e-1, 0.8, 0.99);
    case 'paper-densenet':
      return paper(1e-4, 1e-2, 0.79, 0.9);
    case 'traditional': {
      const { lr, momentum: mom } = familyOf(arch).traditional;
      return {
        schedule: { kind: 'constant', epochs: 20, lrMin: lr, lrMax: lr, momMin: mom, momMax: mom },
        optimizer: { kind: 'adamw', wd: 0.01 },
        transfer: { mode: 'finetune', discriminative: false },
      };
    }
    default:
      throw new Error(`unknown preset '${name as string}' (one of: ${PRESETS.join(', ')})`);
  }
}
