// The paper's Table 3 as ablations: its method and the two halves of it, each against the
// traditional baseline, trained with the same data, seeds, epochs and preprocessing.
//
// Choices:
// - Every arm but the baseline trains over the task's LR range [α_min, α_max] (the recipe's, or
//   the LR finder's): the arms differ only in how the rate moves and whether groups differ.
// - `paper`: one-cycle LR and inverse momentum per iteration (the paper's cyclical schedule), one
//   group per stage spaced geometrically from α_min (stem) to the schedule's rate (head).
// - `cyclical`: the same schedule, one group: every layer follows α_t.
// - `discriminative`: the same groups at a constant rate (α_max at the head, α_min at the stem),
//   constant momentum (the schedule's rest momentum, m_max).
// - `traditional`: the family's constant LR and momentum for every layer (presets.ts's
//   `traditional`, the paper's baseline), whatever the task's range.
import type { Arch } from '../../engine/types.js';
import { presetValues } from '../train/presets.js';
import type { FlatTrainConfig } from '../train/trainConfig.js';

export const ARMS = ['paper', 'cyclical', 'discriminative', 'traditional'] as const;
export type Arm = (typeof ARMS)[number];

/** The baseline the others are compared with (paired by seed). */
export const BASELINE: Arm = 'traditional';

export const ARM_LABEL: Record<Arm, string> = {
  paper: 'discriminative + cyclical LR and momentum (the paper)',
  cyclical: 'cyclical LR and momentum, one group',
  discriminative: 'discriminative groups at a constant rate',
  traditional: 'traditional: one constant LR and momentum',
};

/** The training flags an arm sets over the task's recipe. */
export function armFlags(arm: Arm, arch: Arch, lr: { lrMin: number; lrMax: number }): Partial<FlatTrainConfig> {
  const range = { lrMin: lr.lrMin, lrMax: lr.lrMax };
  switch (arm) {
    case 'paper':
      return { ...range, schedule: 'oneCycle', discriminative: true, groups: 'stage', spacing: 'geometric' };
    case 'cyclical':
      return { ...range, schedule: 'oneCycle', discriminative: false };
    case 'discriminative':
      return { ...range, schedule: 'constant', discriminative: true, groups: 'stage', spacing: 'geometric' };
    case 'traditional': {
      const t = presetValues('traditional', arch).schedule;
      return {
        schedule: 'constant',
        discriminative: false,
        lrMin: t.lrMin,
        lrMax: t.lrMax,
        momMin: t.momMin,
        momMax: t.momMax,
      };
    }
    default:
      throw new Error(`unknown arm '${arm as string}' (${ARMS.join(', ')})`);
  }
}

/** Parses --arms: a comma list of ARMS (the baseline is always added, it is what the others are read against). */
export function parseArms(list: string | undefined): Arm[] {
  if (!list) return [...ARMS];
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names)
    if (!(ARMS as readonly string[]).includes(n)) throw new Error(`unknown arm '${n}' (${ARMS.join(', ')})`);
  const arms = names as Arm[];
  return arms.includes(BASELINE) ? arms : [...arms, BASELINE];
}
