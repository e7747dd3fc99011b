// A training run's configuration: plain JSON, everything needed to rerun it (config.json in
// the run folder is exactly this), nested by concern; its preprocessing part is the engine's
// record. Resolution order: defaults < preset < --config file < command-line flags, each given
// nested or flat (the flags' names, and config.json as runs wrote it before the nesting):
// nestTrainConfig converts. validateTrainConfig names the offending setting by its flat name.
import {
  CROP_MODES,
  EQUALIZE_MODES,
  FITS,
  IMAGE_DEFAULTS,
  STANDARDIZE_MODES,
  type ImagePreprocessing,
} from '../../engine/preprocessing.js';
import { ARCHS, type Arch, type BatchNormMode, type OptimizerKind, type Precision } from '../../engine/types.js';
import { SCHEDULE_KINDS, type MomentumMode, type ScheduleKind } from '../../recipe/schedules.js';
import type { GroupMode, Spacing } from '../../recipe/discriminative.js';
import { TRANSFER_MODES, type TransferMode } from '../../recipe/transfer.js';
import { MONITORS, type Monitor } from '../../recipe/validationMetrics.js';
import { parseThresholdRule, THRESHOLD_FORMS, type ThresholdRule } from '../../recipe/threshold.js';
import { PRESETS, presetValues, type PresetName } from './presets.js';
import { parseAug } from '../../data/augmentMode.js';
import type { RunDataOptions } from './dataSource.js';

/** How an image becomes the network's input: the engine's record (training feeds grey, 1 channel). */
export type TrainPreprocessing = ImagePreprocessing;

/** The per-iteration LR/momentum schedule over the whole run. */
export interface ScheduleSettings {
  kind: ScheduleKind;
  epochs: number;
  lrMin: number;
  lrMax: number;
  momMin: number;
  momMax: number;
  momentumMode: MomentumMode;
  /** Warm-up fraction; null = the schedule's default (paperCycle: drawn from the seed). */
  pct: number | null;
}

export interface OptimizerSettings {
  kind: OptimizerKind;
  wd: number;
}

/** What of the network trains, and how its layer groups share the LR. */
export interface TransferSettings {
  mode: TransferMode;
  batchNorm: BatchNormMode;
  /** BatchNorm unfolding of a folded checkpoint: auto = when every BN looks folded. */
  unfoldBn: 'auto' | 'on' | 'off';
  groups: GroupMode;
  spacing: Spacing;
  /** false = one LR for all groups (traditional transfer learning). */
  discriminative: boolean;
}

/** Which rows train and validate, in what batches, with which labels and weights. */
export interface DataSettings {
  batch: number;
  /** 'none', 'online' (Table 1 on the fly), 'robust' (robustAugment.ts), 'online+robust' or an offline manifest. */
  aug: string;
  /** Class-balanced sampler for the training set. */
  balanced: boolean;
  /** 'none', 'auto' (inverse class frequency) or one weight per class. */
  classWeights: 'none' | 'auto' | number[];
  /** Class order; null = the manifest's (negatives first). */
  classes: string[] | null;
  /** Positive class label for sensitivity/specificity/AUC; null = class 1. */
  positive: string | null;
  trainSplit: string;
  validSplit: string;
}

/** What is chosen on the validation split: the best checkpoint, early stopping, the decision threshold. */
export interface ValidationSettings {
  monitor: Monitor;
  patience: number;
  /**
   * Decision threshold: a fixed number (default 0.5), or a rule chosen at every checkpoint on
   * its validation predictions — 'youden', 'sensitivity:X' or 'specificity:X' (recipe/threshold.ts).
   */
  threshold: number | string;
}

export interface ComputeSettings {
  precision: Precision;
  device: string;
  /** null = physical cores. */
  threads: number | null;
}

export interface DistributedSettings {
  /**
   * SyncBatchNorm — training-mode BatchNorm normalises with the statistics of the global batch
   * (all workers) instead of each worker's own. No effect with one process or with BatchNorm
   * eval/frozen (a note says so; not an error, so a run resumes with any world size).
   */
  syncBn: boolean;
}

export interface TrainConfig {
  manifest: string;
  arch: Arch;
  /** Pretrained weights (safetensors file or HF cache folder), or null for random init. */
  pretrained: string | null;
  /**
   * The lung segmenter (a `cxrtune lungs train` folder) that made the manifest's lung_mask column:
   * copied into the run so the model carries it (lungs/carriedSegmenter.ts); null = none.
   */
  lungs: string | null;
  preset: PresetName | null;
  /** Seeds init, order, augmentation and dropout. */
  seed: number;
  out: string;
  preprocessing: TrainPreprocessing;
  schedule: ScheduleSettings;
  optimizer: OptimizerSettings;
  transfer: TransferSettings;
  data: DataSettings;
  validation: ValidationSettings;
  compute: ComputeSettings;
  distributed: DistributedSettings;
}

type TopKey = 'manifest' | 'arch' | 'pretrained' | 'lungs' | 'preset' | 'seed' | 'out';
type Groups = Omit<TrainConfig, TopKey>;
type GroupName = keyof Groups;

/** A nested partial: what a --config file, the flags or a preset may give. */
export type TrainConfigPatch = Partial<Pick<TrainConfig, TopKey>> & { [G in GroupName]?: Partial<Groups[G]> };

/**
 * The flat form's keys (the command line's vocabulary, and config.json as runs wrote it before
 * the nesting) and where each lives in the nested config.
 */
const FLAT = {
  manifest: [null, 'manifest'],
  arch: [null, 'arch'],
  pretrained: [null, 'pretrained'],
  lungs: [null, 'lungs'],
  preset: [null, 'preset'],
  seed: [null, 'seed'],
  out: [null, 'out'],
  size: ['preprocessing', 'size'],
  fit: ['preprocessing', 'fit'],
  equalize: ['preprocessing', 'equalize'],
  crop: ['preprocessing', 'crop'],
  cropMargin: ['preprocessing', 'cropMargin'],
  standardize: ['preprocessing', 'standardize'],
  schedule: ['schedule', 'kind'],
  epochs: ['schedule', 'epochs'],
  lrMin: ['schedule', 'lrMin'],
  lrMax: ['schedule', 'lrMax'],
  momMin: ['schedule', 'momMin'],
  momMax: ['schedule', 'momMax'],
  momentumMode: ['schedule', 'momentumMode'],
  pct: ['schedule', 'pct'],
  optimizer: ['optimizer', 'kind'],
  wd: ['optimizer', 'wd'],
  mode: ['transfer', 'mode'],
  batchNorm: ['transfer', 'batchNorm'],
  unfoldBn: ['transfer', 'unfoldBn'],
  groups: ['transfer', 'groups'],
  spacing: ['transfer', 'spacing'],
  discriminative: ['transfer', 'discriminative'],
  batch: ['data', 'batch'],
  aug: ['data', 'aug'],
  balanced: ['data', 'balanced'],
  classWeights: ['data', 'classWeights'],
  classes: ['data', 'classes'],
  positive: ['data', 'positive'],
  trainSplit: ['data', 'trainSplit'],
  validSplit: ['data', 'validSplit'],
  monitor: ['validation', 'monitor'],
  patience: ['validation', 'patience'],
  threshold: ['validation', 'threshold'],
  precision: ['compute', 'precision'],
  device: ['compute', 'device'],
  threads: ['compute', 'threads'],
  syncBn: ['distributed', 'syncBn'],
} as const satisfies Record<string, readonly [GroupName | null, string]>;

type ValueAt<P> = P extends readonly [null, infer K extends keyof TrainConfig]
  ? TrainConfig[K]
  : P extends readonly [infer G extends GroupName, infer K]
    ? K extends keyof Groups[G]
      ? Groups[G][K]
      : never
    : never;

/** The flat form of a TrainConfig: one key per setting, named as its flag (camelCase). */
export type FlatTrainConfig = { [K in keyof typeof FLAT]: ValueAt<(typeof FLAT)[K]> };

/** What resolveTrainConfig reads: the nested form, the flat form, or whole groups beside flat keys. */
export type TrainConfigInput = TrainConfigPatch | Partial<FlatTrainConfig>;

const FLAT_PATHS = FLAT as Record<string, readonly [GroupName | null, string]>;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export const DEFAULTS: Omit<TrainConfig, 'manifest' | 'arch' | 'out'> = {
  pretrained: null,
  lungs: null,
  preset: null,
  seed: 0,
  preprocessing: {
    size: 224,
    fit: IMAGE_DEFAULTS.fit,
    equalize: IMAGE_DEFAULTS.equalize,
    crop: IMAGE_DEFAULTS.crop,
    cropMargin: IMAGE_DEFAULTS.cropMargin,
    standardize: IMAGE_DEFAULTS.standardize,
    channels: 1,
  },
  schedule: {
    kind: 'oneCycle',
    epochs: 5,
    lrMin: 1e-4,
    lrMax: 1e-2,
    momMin: 0.85,
    momMax: 0.95,
    momentumMode: 'inverse',
    pct: null,
  },
  optimizer: { kind: 'adamw', wd: 0.01 },
  transfer: {
    mode: 'finetune',
    batchNorm: 'train',
    unfoldBn: 'auto',
    groups: 'stage',
    spacing: 'geometric',
    discriminative: true,
  },
  data: {
    batch: 16,
    aug: 'none',
    balanced: false,
    classWeights: 'none',
    classes: null,
    positive: null,
    trainSplit: 'train',
    validSplit: 'valid',
  },
  validation: { monitor: 'valid_loss', patience: 0, threshold: 0.5 },
  compute: { precision: 'fp32', device: 'cpu', threads: null },
  distributed: { syncBn: false },
};

const GROUP_NAMES = Object.keys(DEFAULTS).filter((k) => isRecord(DEFAULTS[k as keyof typeof DEFAULTS])) as GroupName[];
const isGroup = (k: string): k is GroupName => (GROUP_NAMES as string[]).includes(k);

/**
 * The nested patch of an input in either form (so a run folder's config.json from before the
 * nesting reads as it ran). Unknown keys fail with the key named; undefined values are dropped.
 */
export function nestTrainConfig(input: object, o: { lenient?: boolean } = {}): TrainConfigPatch {
  const out: Record<string, unknown> = {};
  const group = (g: GroupName) => {
    out[g] ??= {};
    return out[g] as Record<string, unknown>;
  };
  for (const [k, v] of Object.entries(input)) {
    if (v === undefined) continue;
    if (isGroup(k) && isRecord(v)) {
      const keys = Object.keys(DEFAULTS[k]);
      for (const [kk, vv] of Object.entries(v)) {
        if (!keys.includes(kk)) {
          if (o.lenient) continue;
          throw new Error(`unknown setting '${k}.${kk}' (known: ${keys.join(', ')})`);
        }
        if (vv !== undefined) group(k)[kk] = vv;
      }
      continue;
    }
    const at = FLAT_PATHS[k];
    if (!at) {
      if (o.lenient) continue;
      const known = [...new Set([...Object.keys(FLAT), ...GROUP_NAMES])].sort().join(', ');
      throw new Error(`unknown setting '${k}' (known: ${known})`);
    }
    const [g, key] = at;
    if (g === null) out[key] = v;
    else group(g)[key] = v;
  }
  return out as TrainConfigPatch;
}

/**
 * The flat form of a stored config in either form (reports and comparisons read settings by
 * flag name); keys it does not know (the manifest's hash beside the settings) are left out.
 */
export function flattenTrainConfig(input: object): Partial<FlatTrainConfig> {
  const nested = nestTrainConfig(input, { lenient: true }) as Record<string, Record<string, unknown> | unknown>;
  const flat: Record<string, unknown> = {};
  for (const [k, [g, key]] of Object.entries(FLAT_PATHS)) {
    const v = g === null ? nested[key] : (nested[g] as Record<string, unknown> | undefined)?.[key];
    if (v !== undefined) flat[k] = v;
  }
  return flat as Partial<FlatTrainConfig>;
}

/** The training config a checkpoint records (model.json training.config) by flag name, in whichever form. */
export function recordedTrainConfig(meta: { training?: unknown }): Partial<FlatTrainConfig> {
  const cfg = (meta.training as { config?: unknown } | undefined)?.config;
  return isRecord(cfg) ? flattenTrainConfig(cfg) : {};
}

/** The defaults by flat (flag) name, for help texts. */
export const FLAT_DEFAULTS = flattenTrainConfig(DEFAULTS) as Omit<FlatTrainConfig, 'manifest' | 'arch' | 'out'>;

/** `base` with `patch` laid over it, group by group. */
function overlay<T extends object>(base: T, patch: TrainConfigPatch): T {
  const r = { ...base } as Record<string, unknown>;
  for (const [k, v] of Object.entries(patch)) r[k] = isGroup(k) ? { ...(r[k] as object), ...(v as object) } : v;
  return r as T;
}

/** The inputs (either form) laid over each other in order, as one nested patch. */
export function mergeTrainConfig(...inputs: TrainConfigInput[]): TrainConfigPatch {
  return inputs.reduce<TrainConfigPatch>((acc, x) => overlay(acc, nestTrainConfig(x)), {});
}

/** Defaults < `input` (either form), without a preset and unvalidated: lr-find's model settings. */
export function completeTrainConfig(
  input: object,
): Omit<TrainConfig, 'manifest' | 'arch' | 'out'> & Partial<Pick<TrainConfig, 'manifest' | 'arch' | 'out'>> {
  return overlay(DEFAULTS, nestTrainConfig(input));
}

/** Merges defaults < preset < file < flags (each in either form) and validates the result. */
export function resolveTrainConfig(file: TrainConfigInput, flags: TrainConfigInput): TrainConfig {
  const f = nestTrainConfig(file);
  const fl = nestTrainConfig(flags);
  const presetName = fl.preset ?? f.preset ?? null;
  const arch = fl.arch ?? f.arch;
  const preset: TrainConfigPatch = presetName ? presetValues(presetName, arch ?? 'resnet18') : {};
  const merged = { ...overlay(overlay(overlay(DEFAULTS, preset), f), fl), preset: presetName } as TrainConfig;
  validateTrainConfig(merged);
  return merged;
}

/** Checks every setting; an error names the setting by its flat (flag) name. */
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
  for (const g of GROUP_NAMES) if (!isRecord(c[g])) bad(g, 'must be an object');
  const { preprocessing: p, schedule: s, optimizer: o, transfer: t, data: d, validation: v, compute } = c;
  if (!c.manifest || typeof c.manifest !== 'string') bad('manifest', 'a manifest CSV is required (--manifest)');
  if (!c.arch) bad('arch', `an architecture is required (--arch: ${ARCHS.join(', ')})`);
  oneOf('arch', c.arch, ARCHS);
  if (!c.out || typeof c.out !== 'string') bad('out', 'a run folder is required (--out)');
  if (c.preset !== null) oneOf('preset', c.preset, PRESETS);
  if (c.lungs !== null && (typeof c.lungs !== 'string' || !c.lungs))
    bad('lungs', 'must be a lung segmenter folder (cxrtune lungs train)');
  oneOf('schedule', s.kind, SCHEDULE_KINDS);
  inRange('lrMin', s.lrMin, 0, 1e6);
  inRange('lrMax', s.lrMax, 0, 1e6);
  if (!(s.lrMax > 0)) bad('lrMax', 'must be > 0');
  if (s.lrMin > s.lrMax) bad('lrMin', `must be <= lrMax (${s.lrMin} > ${s.lrMax})`);
  if (t.discriminative && t.spacing === 'geometric' && !(s.lrMin > 0) && s.kind !== 'constant')
    bad('lrMin', 'must be > 0 for geometric spacing');
  inRange('momMin', s.momMin, 0, 1, true);
  inRange('momMax', s.momMax, 0, 1, true);
  if (s.momMin > s.momMax) bad('momMin', `must be <= momMax (${s.momMin} > ${s.momMax})`);
  oneOf('momentumMode', s.momentumMode, ['inverse', 'with'] as const);
  if (s.pct !== null) {
    inRange('pct', s.pct, 0, 1, true);
    if (!(s.pct > 0)) bad('pct', 'must be in (0, 1)');
  }
  if (t.groups !== 'layer' && t.groups !== 'stage' && !(Number.isInteger(t.groups) && (t.groups as number) >= 1)) {
    bad('groups', `must be layer, stage or a positive integer (got ${JSON.stringify(t.groups)})`);
  }
  oneOf('spacing', t.spacing, ['geometric', 'linear'] as const);
  if (typeof t.discriminative !== 'boolean') bad('discriminative', 'must be true or false');
  oneOf('optimizer', o.kind, ['sgd', 'adam', 'adamw'] as const);
  inRange('wd', o.wd, 0, 10);
  oneOf('mode', t.mode, TRANSFER_MODES);
  oneOf('batchNorm', t.batchNorm, ['train', 'eval', 'frozen'] as const);
  if (typeof c.distributed.syncBn !== 'boolean') bad('syncBn', 'must be true or false');
  oneOf('unfoldBn', t.unfoldBn, ['auto', 'on', 'off'] as const);
  posInt('epochs', s.epochs);
  posInt('batch', d.batch);
  posInt('size', p.size);
  if (p.size < 32 || p.size > 1024) bad('size', `must be in [32, 1024] pixels (got ${p.size})`);
  oneOf('fit', p.fit, FITS);
  oneOf('equalize', p.equalize, EQUALIZE_MODES);
  oneOf('crop', p.crop, CROP_MODES);
  inRange('cropMargin', p.cropMargin, 0, 1);
  oneOf('standardize', p.standardize, STANDARDIZE_MODES);
  if (p.channels !== 1) bad('channels', `training feeds grey images: must be 1 (got ${JSON.stringify(p.channels)})`);
  oneOf('precision', compute.precision, ['fp32', 'bf16', 'fp16'] as const);
  parseAug(d.aug); // names a bad value in one line
  if (!Number.isInteger(c.seed) || c.seed < 0)
    bad('seed', `must be a non-negative integer (got ${JSON.stringify(c.seed)})`);
  oneOf('monitor', v.monitor, MONITORS);
  if (!Number.isInteger(v.patience) || v.patience < 0)
    bad('patience', `must be a non-negative integer (got ${JSON.stringify(v.patience)})`);
  if (d.classWeights !== 'none' && d.classWeights !== 'auto') {
    if (
      !Array.isArray(d.classWeights) ||
      !d.classWeights.every((w) => typeof w === 'number' && Number.isFinite(w) && w > 0)
    ) {
      bad('classWeights', 'must be none, auto or a list of positive numbers (one per class)');
    }
  }
  if (typeof d.balanced !== 'boolean') bad('balanced', 'must be true or false');
  if (d.classes !== null && (!Array.isArray(d.classes) || d.classes.length < 2))
    bad('classes', 'must list at least two class labels');
  if (typeof v.threshold === 'string') trainThresholdRule(v);
  else inRange('threshold', v.threshold, 0, 1);
  if (compute.threads !== null) posInt('threads', compute.threads);
  if (compute.precision === 'fp16' && !compute.device.startsWith('cuda'))
    bad('precision', 'fp16 needs a CUDA device (--device cuda:0); on CPU use bf16 or fp32');
}

/** The data source's options of a config (dataSource.ts): the manifest, preprocessing, data settings and seed. */
export function runDataOptionsOf(
  c: Pick<TrainConfig, 'manifest' | 'seed' | 'preprocessing' | 'data'>,
): Omit<RunDataOptions, 'needValid' | 'shard'> {
  const { channels: _grey, ...image } = c.preprocessing;
  return { manifest: c.manifest, seed: c.seed, ...image, ...c.data };
}

/**
 * The run's threshold rule: fixed (a number), or youden / sensitivity:X / specificity:X chosen
 * on the validation split. keep and mapped belong to `cxrtune calibrate` (they need an earlier threshold).
 */
export function trainThresholdRule(c: Pick<ValidationSettings, 'threshold'>): ThresholdRule {
  if (typeof c.threshold === 'number') return { kind: 'fixed', value: c.threshold };
  try {
    return parseThresholdRule(String(c.threshold), THRESHOLD_FORMS.train, 'train');
  } catch (e) {
    throw new Error(`invalid threshold: ${(e as Error).message}`);
  }
}

/** The threshold a checkpoint carries before (or without) a choice on validation: the fixed one, else 0.5. */
export function provisionalThreshold(c: Pick<ValidationSettings, 'threshold'>): number {
  const r = trainThresholdRule(c);
  return r.kind === 'fixed' ? r.value : 0.5;
}
