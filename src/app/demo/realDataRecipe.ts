// What `cxrtune demo --data DIR` runs on real radiographs: a recipe is the data preset, how
// validation is held out, the preprocessing and augmentation, the architecture and schedule,
// and how the decision threshold is chosen. Two are named:
// - `recommended` (default): chosen on SOURCE-HELD-OUT validation from the experiments in
//   docs/generalisation-experiments.md (each row there has its command);
// - `paper`: the paper's protocol as published (paper-da, a patient-level 70/30 split, the paper
//   preset, 20 epochs at 224 px) — the honest baseline, whose validation figure is INTERNAL.
//
// Choices (each a departure from the paper, for the reason measured in the experiments doc):
// - Data: adult-mixed, not paper-da: paper-da's negatives are children (Kermany) and a US
//   clinic, its positives figures from publications, so age and provenance give the label away.
// - Validation held out by location (covid-chestxray's hospitals/cities, cxnet's countries; the
//   other sources whole): model choice never sees a figure inflated by provenance.
// - Lung crop: each image cut to its lung field's box (10 % margin) by the segmenter the demo
//   trains (or reuses) first; what lies outside the lungs — markers, text, borders, devices —
//   is mostly gone before the network sees the image.
// - 224 px, 8 epochs at α 3e-5..1e-3, keeping the epoch with the best source-held-out AUC: the
//   3-epoch runs at 160 px moved by 0.27 AUC between two seeds; this one was the steadiest and
//   the only one to pass both lung audits with the best AUC (experiments e6–e13).
// - The threshold is chosen by Youden's rule on the source-held-out validation split.
//
// A recipe serves a task (`--task`): covid (the default, above) or tb — tuberculosis screening
// trained in Shenzhen (tb-shenzhen, a patient-level split: both classes come from one hospital,
// so there is no other hospital to hold out and none that provenance could give away) and scored
// on Montgomery County as an EXTERNAL set; its recommended threshold is the WHO target product
// profile's sensitivity of 90 %, chosen on Shenzhen's validation split.
import type { Arch } from '../../engine/types.js';
import type { Crop, Equalize, Standardize } from '../../engine/preprocessing.js';
import type { DataPreset } from '../../data/build.js';
import type { Monitor } from '../../recipe/validationMetrics.js';

export const RECIPES = ['recommended', 'paper'] as const;
export type RecipeName = (typeof RECIPES)[number];

export const DEMO_TASKS = ['covid', 'tb'] as const;
export type DemoTaskName = (typeof DEMO_TASKS)[number];

export interface RealDataRecipe {
  name: RecipeName;
  /** The task it serves: its data, and the external set the demo scores (covid: figure1; tb: Montgomery). */
  task: DemoTaskName;
  /** One line for the log and the report. */
  summary: string;
  data: DataPreset;
  /** data build --split-by: patient, or a column such as location. */
  splitBy: string;
  arch: Arch;
  size: number;
  epochs: number;
  batch: number;
  crop: Crop;
  standardize: Standardize;
  equalize: Equalize;
  /** train --aug: none | online | robust | online+robust. */
  aug: string;
  /**
   * The paper's preset (schedule, LR, momentum), or a one-cycle range; the LR finder's proposal replaces a range when
   * `lr` is 'lr-find'.
   */
  schedule: { preset: 'paper' } | { oneCycle: { lrMin: number; lrMax: number } };
  lr: 'lr-find' | 'recipe';
  /** Which epoch is kept: on source-held-out validation its AUC, the figure model choice is about. */
  monitor: Monitor;
  /** train --threshold: a fixed number or a rule chosen on validation (youden, sensitivity:X). */
  threshold: number | string;
}

export const RECOMMENDED: RealDataRecipe = {
  name: 'recommended',
  task: 'covid',
  summary:
    'adult-mixed, validation on held-out hospitals/sources, lungs cropped by the segmenter, MobileNetV2 ' +
    '(ImageNet) 224 px, 8 epochs of discriminative one-cycle (α 3e-5..1e-3), the epoch with the best ' +
    'held-out AUC kept, Youden threshold',
  data: 'adult-mixed',
  splitBy: 'location',
  arch: 'mobilenet_v2',
  size: 224,
  epochs: 8,
  batch: 16,
  crop: 'lungs',
  standardize: 'none',
  equalize: 'none',
  aug: 'online',
  schedule: { oneCycle: { lrMin: 3e-5, lrMax: 1e-3 } },
  lr: 'recipe',
  monitor: 'valid_auc',
  threshold: 'youden',
};

const PAPER: RealDataRecipe = {
  name: 'paper',
  task: 'covid',
  summary:
    "the paper's protocol: paper-da, patient-level 70/30 split, the paper preset, 20 epochs at 224 px (an " +
    'INTERNAL figure)',
  data: 'paper-da',
  splitBy: 'patient',
  arch: 'mobilenet_v2',
  size: 224,
  epochs: 20,
  batch: 16,
  crop: 'none',
  standardize: 'none',
  equalize: 'none',
  aug: 'none',
  schedule: { preset: 'paper' },
  lr: 'lr-find',
  monitor: 'valid_loss',
  threshold: 0.5,
};

/**
 * The tuberculosis task's changes to a recipe: Shenzhen's data split by patient; the recommended
 * recipe's threshold is the WHO TPP's sensitivity (90 %) on that validation split, the paper's
 * stays its own. Training (crop, size, schedule, epochs) is the recipe's.
 */
function forTb(r: RealDataRecipe): RealDataRecipe {
  const clinic = r.name === 'recommended';
  return {
    ...r,
    task: 'tb',
    data: 'tb-shenzhen',
    splitBy: 'patient',
    ...(clinic ? { threshold: 'sensitivity:0.9' } : {}),
    summary:
      r.name === 'recommended'
        ? "tb-shenzhen (Shenzhen's normal vs tuberculosis, patient-level split), lungs cropped by the segmenter, " +
          'MobileNetV2 (ImageNet) 224 px, 8 epochs of discriminative one-cycle (α 3e-5..1e-3), the epoch with the ' +
          'best validation AUC kept, threshold at 90 % sensitivity (WHO TPP) on the validation split; Montgomery ' +
          'County scored as the external set'
        : "the paper's protocol on tb-shenzhen: patient-level 80/20 split, the paper preset, 20 epochs at 224 px; " +
          'Montgomery County scored as the external set',
  };
}

export function recipeNamed(name: string, task: DemoTaskName = 'covid'): RealDataRecipe {
  if (!(DEMO_TASKS as readonly string[]).includes(task))
    throw new Error(`unknown task '${task}' (${DEMO_TASKS.join(', ')})`);
  const r = name === 'recommended' ? RECOMMENDED : name === 'paper' ? PAPER : null;
  if (!r) throw new Error(`unknown recipe '${name}' (${RECIPES.join(', ')})`);
  return task === 'tb' ? forTb(r) : r;
}
