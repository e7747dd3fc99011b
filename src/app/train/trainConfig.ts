// A training run's configuration: plain JSON, everything needed to rerun it (config.json in
// the run folder is exactly this). Resolution order: defaults < preset < --config file <
// command-line flags. validateTrainConfig names the offending field in every error.
import {
  CROP_MODES,
  EQUALIZE_MODES,
  FITS,
  STANDARDIZE_MODES,
  type Crop,
  type Equalize,
  type Fit,
  type ImagePreprocessing,
  type Standardize,
} from '../../engine/preprocessing.js';
import { ARCHS, type Arch, type BatchNormMode, type OptimizerKind, type Precision } from '../../engine/types.js';
import { SCHEDULE_KINDS, type MomentumMode, type ScheduleKind } from '../../recipe/schedules.js';
import type { GroupMode, Spacing } from '../../recipe/discriminative.js';
import { TRANSFER_MODES, type TransferMode } from '../../recipe/transfer.js';
import { MONITORS, type Monitor } from '../../recipe/validationMetrics.js';
import { parseThresholdRule, THRESHOLD_FORMS, type ThresholdRule } from '../../recipe/threshold.js';
import { PRESETS, presetValues, type PresetName } from './presets.js';
import { parseAug } from '../../data/augmentMode.js';

export interface TrainConfig {
  manifest: string;
  arch: Arch;
  /** Pretrained weights (safetensors file or HF cache folder), or null for random init. */
  pretrained: string | null;
  preset: PresetName | null;
  schedule: ScheduleKind;
  lrMin: number;
  lrMax: number;
  momMin: number;
  momMax: number;
  momentumMode: MomentumMode;
  /** Warm-up fraction; null = the schedule's default (paperCycle: drawn from the seed). */
  pct: number | null;
  groups: GroupMode;
  spacing: Spacing;
  /** false = one LR for all groups (traditional transfer learning). */
  discriminative: boolean;
  optimizer: OptimizerKind;
  wd: number;
  mode: TransferMode;
  batchNorm: BatchNormMode;
  /**
   * Data parallel: SyncBatchNorm — training-mode BatchNorm normalises with the statistics of the
   * global batch (all workers) instead of each worker's own. No effect with one process or with
   * BatchNorm eval/frozen (a note says so; not an error, so a run resumes with any world size).
   */
  syncBn: boolean;
  /** BatchNorm unfolding of a folded checkpoint: auto = when every BN looks folded. */
  unfoldBn: 'auto' | 'on' | 'off';
  epochs: number;
  batch: number;
  size: number;
  /** How a non-square image reaches size×size (the preprocessing record in model.json). */
  fit: Fit;
  /** Contrast equalisation after resizing. */
  equalize: Equalize;
  /** 'lungs': cut each image to its lung mask's box first (needs a lung_mask column). */
  crop: Crop;
  /** Margin around the lung box, a fraction of its width/height. */
  cropMargin: number;
  /** 'image': per-image intensity standardisation. */
  standardize: Standardize;
  precision: Precision;
  /**
   * 'none', 'online' (Table 1 on the fly), 'robust' (robustAugment.ts), 'online+robust' or an
   * offline-augmented manifest.
   */
  aug: string;
  seed: number;
  monitor: Monitor;
  patience: number;
  /** 'none', 'auto' (inverse class frequency) or one weight per class. */
  classWeights: 'none' | 'auto' | number[];
  /** Class-balanced sampler for the training set. */
  balanced: boolean;
  /** Class order; null = the manifest's (negatives first). */
  classes: string[] | null;
  /** Positive class label for sensitivity/specificity/AUC; null = class 1. */
  positive: string | null;
  /**
   * Decision threshold: a fixed number (default 0.5), or a rule chosen at every checkpoint on
   * its validation predictions — 'youden', 'sensitivity:X' or 'specificity:X' (recipe/threshold.ts).
   */
  threshold: number | string;
  trainSplit: string;
  validSplit: string;
  device: string;
  /** null = physical cores. */
  threads: number | null;
  out: string;
}

export const DEFAULTS: Omit<TrainConfig, 'manifest' | 'arch' | 'out'> = {
  pretrained: null,
  preset: null,
  schedule: 'oneCycle',
  lrMin: 1e-4,
  lrMax: 1e-2,
  momMin: 0.85,
  momMax: 0.95,
  momentumMode: 'inverse',
  pct: null,
  groups: 'stage',
  spacing: 'geometric',
  discriminative: true,
  optimizer: 'adamw',
  wd: 0.01,
  mode: 'finetune',
  batchNorm: 'train',
  syncBn: false,
  unfoldBn: 'auto',
  epochs: 5,
  batch: 16,
  size: 224,
  fit: 'letterbox',
  equalize: 'none',
  crop: 'none',
  cropMargin: 0.1,
  standardize: 'none',
  precision: 'fp32',
  aug: 'none',
  seed: 0,
  monitor: 'valid_loss',
  patience: 0,
  classWeights: 'none',
  balanced: false,
  classes: null,
  positive: null,
  threshold: 0.5,
  trainSplit: 'train',
  validSplit: 'valid',
  device: 'cpu',
  threads: null,
};

const KEYS = new Set<string>([...Object.keys(DEFAULTS), 'manifest', 'arch', 'out']);

/** Merges defaults < preset < file < flags and validates the result. */
export function resolveTrainConfig(file: Partial<TrainConfig>, flags: Partial<TrainConfig>): TrainConfig {
  for (const src of [file, flags]) {
    for (const k of Object.keys(src))
      if (!KEYS.has(k)) throw new Error(`unknown setting '${k}' (known: ${[...KEYS].sort().join(', ')})`);
  }
  const presetName = flags.preset ?? file.preset ?? null;
  const arch = flags.arch ?? file.arch;
  const preset = presetName ? presetValues(presetName, arch ?? 'resnet18') : {};
  const merged = {
    ...DEFAULTS,
    ...preset,
    ...stripUndefined(file),
    ...stripUndefined(flags),
    preset: presetName,
  } as TrainConfig;
  validateTrainConfig(merged);
  return merged;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function validateTrainConfig(c: TrainConfig): void {
  const bad = (k: string, why: string): never => {
    throw new Error(`invalid ${k}: ${why}`);
  };
  const oneOf = <T extends string>(k: string, v: unknown, xs: readonly T[]) => {
    if (!xs.includes(v as T)) bad(k, `${JSON.stringify(v)} is not one of ${xs.join(', ')}`);
  };
  const posInt = (k: string, v: unknown) => {
    if (!Number.isInteger(v) || (v as number) < 1) bad(k, `must be a positive integer (got ${JSON.stringify(v)})`);
  };
  const inRange = (k: string, v: unknown, lo: number, hi: number, hiOpen = false) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || (hiOpen ? v >= hi : v > hi))
      bad(k, `must be a number in [${lo}, ${hi}${hiOpen ? ')' : ']'} (got ${JSON.stringify(v)})`);
  };
  if (!c.manifest || typeof c.manifest !== 'string') bad('manifest', 'a manifest CSV is required (--manifest)');
  if (!c.arch) bad('arch', `an architecture is required (--arch: ${ARCHS.join(', ')})`);
  oneOf('arch', c.arch, ARCHS);
  if (!c.out || typeof c.out !== 'string') bad('out', 'a run folder is required (--out)');
  if (c.preset !== null) oneOf('preset', c.preset, PRESETS);
  oneOf('schedule', c.schedule, SCHEDULE_KINDS);
  inRange('lrMin', c.lrMin, 0, 1e6);
  inRange('lrMax', c.lrMax, 0, 1e6);
  if (!(c.lrMax > 0)) bad('lrMax', 'must be > 0');
  if (c.lrMin > c.lrMax) bad('lrMin', `must be <= lrMax (${c.lrMin} > ${c.lrMax})`);
  if (c.discriminative && c.spacing === 'geometric' && !(c.lrMin > 0) && c.schedule !== 'constant')
    bad('lrMin', 'must be > 0 for geometric spacing');
  inRange('momMin', c.momMin, 0, 1, true);
  inRange('momMax', c.momMax, 0, 1, true);
  if (c.momMin > c.momMax) bad('momMin', `must be <= momMax (${c.momMin} > ${c.momMax})`);
  oneOf('momentumMode', c.momentumMode, ['inverse', 'with'] as const);
  if (c.pct !== null) {
    inRange('pct', c.pct, 0, 1, true);
    if (!(c.pct > 0)) bad('pct', 'must be in (0, 1)');
  }
  if (c.groups !== 'layer' && c.groups !== 'stage' && !(Number.isInteger(c.groups) && (c.groups as number) >= 1)) {
    bad('groups', `must be layer, stage or a positive integer (got ${JSON.stringify(c.groups)})`);
  }
  oneOf('spacing', c.spacing, ['geometric', 'linear'] as const);
  if (typeof c.discriminative !== 'boolean') bad('discriminative', 'must be true or false');
  oneOf('optimizer', c.optimizer, ['sgd', 'adam', 'adamw'] as const);
  inRange('wd', c.wd, 0, 10);
  oneOf('mode', c.mode, TRANSFER_MODES);
  oneOf('batchNorm', c.batchNorm, ['train', 'eval', 'frozen'] as const);
  if (typeof c.syncBn !== 'boolean') bad('syncBn', 'must be true or false');
  oneOf('unfoldBn', c.unfoldBn, ['auto', 'on', 'off'] as const);
  posInt('epochs', c.epochs);
  posInt('batch', c.batch);
  posInt('size', c.size);
  if (c.size < 32 || c.size > 1024) bad('size', `must be in [32, 1024] pixels (got ${c.size})`);
  oneOf('fit', c.fit, FITS);
  oneOf('equalize', c.equalize, EQUALIZE_MODES);
  oneOf('crop', c.crop, CROP_MODES);
  inRange('cropMargin', c.cropMargin, 0, 1);
  oneOf('standardize', c.standardize, STANDARDIZE_MODES);
  oneOf('precision', c.precision, ['fp32', 'bf16', 'fp16'] as const);
  parseAug(c.aug); // names a bad value in one line
  if (!Number.isInteger(c.seed) || c.seed < 0)
    bad('seed', `must be a non-negative integer (got ${JSON.stringify(c.seed)})`);
  oneOf('monitor', c.monitor, MONITORS);
  if (!Number.isInteger(c.patience) || c.patience < 0)
    bad('patience', `must be a non-negative integer (got ${JSON.stringify(c.patience)})`);
  if (c.classWeights !== 'none' && c.classWeights !== 'auto') {
    if (
      !Array.isArray(c.classWeights) ||
      !c.classWeights.every((w) => typeof w === 'number' && Number.isFinite(w) && w > 0)
    ) {
      bad('classWeights', 'must be none, auto or a list of positive numbers (one per class)');
    }
  }
  if (typeof c.balanced !== 'boolean') bad('balanced', 'must be true or false');
  if (c.classes !== null && (!Array.isArray(c.classes) || c.classes.length < 2))
    bad('classes', 'must list at least two class labels');
  if (typeof c.threshold === 'string') trainThresholdRule(c);
  else inRange('threshold', c.threshold, 0, 1);
  if (c.threads !== null) posInt('threads', c.threads);
  if (c.precision === 'fp16' && !c.device.startsWith('cuda'))
    bad('precision', 'fp16 needs a CUDA device (--device cuda:0); on CPU use bf16 or fp32');
}

/** The image side of the preprocessing record a run with this config writes into model.json. */
export function imageRecordOf(
  c: Pick<TrainConfig, 'size' | 'fit' | 'equalize' | 'crop' | 'cropMargin' | 'standardize'>,
): ImagePreprocessing {
  return {
    size: c.size,
    fit: c.fit,
    equalize: c.equalize,
    crop: c.crop,
    cropMargin: c.cropMargin,
    standardize: c.standardize,
    channels: 1,
  };
}

/**
 * The run's threshold rule: fixed (a number), or youden / sensitivity:X / specificity:X chosen
 * on the validation split. keep and mapped belong to `cxrtune calibrate` (they need an earlier threshold).
 */
export function trainThresholdRule(c: Pick<TrainConfig, 'threshold'>): ThresholdRule {
  if (typeof c.threshold === 'number') return { kind: 'fixed', value: c.threshold };
  try {
    return parseThresholdRule(String(c.threshold), THRESHOLD_FORMS.train, 'train');
  } catch (e) {
    throw new Error(`invalid threshold: ${(e as Error).message}`);
  }
}

/** The threshold a checkpoint carries before (or without) a choice on validation: the fixed one, else 0.5. */
export function provisionalThreshold(c: Pick<TrainConfig, 'threshold'>): number {
  const r = trainThresholdRule(c);
  return r.kind === 'fixed' ? r.value : 0.5;
}
