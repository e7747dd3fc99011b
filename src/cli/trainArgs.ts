// Flag parsing shared by `cxrtune train` and `cxrtune lr-find`: both build a model the same
// way (app/learner.ts), so they read the same TrainConfig keys from flags and --config files.
import { existsSync, readFileSync } from 'node:fs';
import { InvalidArgumentError, Option } from 'commander';
import { CROP_MODES, EQUALIZE_MODES, FITS, STANDARDIZE_MODES } from '../engine/preprocessing.js';
import { TRANSFER_MODES } from '../recipe/transfer.js';
import { FLAT_DEFAULTS, type FlatTrainConfig } from '../app/train/trainConfig.js';
import {
  archOption,
  batchOption,
  choiceOption,
  deviceOption,
  numOption,
  precisionOption,
  seedOption,
  sizeOption,
  threadsOption,
} from './options.js';

const OPTIMIZERS = ['sgd', 'adam', 'adamw'];
const BATCH_NORM_MODES = ['train', 'eval', 'frozen'];

export const groupsArg = (v: string): 'layer' | 'stage' | number => {
  if (v === 'layer' || v === 'stage') return v;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`'${v}' is not layer, stage or a positive integer`);
  return n;
};
export const classWeightsArg = (v: string): 'none' | 'auto' | number[] => {
  if (v === 'none' || v === 'auto') return v;
  const ws = v.split(',').map(Number);
  if (!ws.length || !ws.every((w) => Number.isFinite(w) && w > 0))
    throw new InvalidArgumentError(`'${v}' is not none, auto or comma-separated positive weights`);
  return ws;
};
/** The options train and lr-find share (both build and feed a model the same way), declared once. */
export function sharedTrainOptions(d = FLAT_DEFAULTS) {
  return {
    arch: () => archOption(),
    pretrained: () =>
      new Option(
        '--pretrained <file|dir|hub-id>',
        'pretrained weights: safetensors, a PyTorch .pth (read safely, never unpickled into code), a folder holding ' +
          'one, or a Hugging Face id in the local cache (e.g. timm/resnet50.tv_in1k; see cxrtune weights); ' +
          'default random init',
      ),
    optimizer: () =>
      choiceOption('--optimizer <kind>', `optimizer; momentum ↦ β1 for Adam (default ${d.optimizer})`, OPTIMIZERS),
    wd: () => numOption('--wd <w>', `weight decay (default ${d.wd})`),
    mode: () =>
      choiceOption(
        '--mode <m>',
        'feature (frozen backbone) | gradual (unfreeze a stage per epoch) | finetune (default)',
        TRANSFER_MODES,
      ),
    bn: () =>
      choiceOption('--bn <mode>', 'BatchNorm: train | eval | frozen statistics (default train)', BATCH_NORM_MODES),
    unfoldBn: () =>
      choiceOption(
        '--unfold-bn <when>',
        'unfold folded BatchNorm on training images first (default auto: when every BN is folded)',
        ['auto', 'on', 'off'],
      ),
    batch: () => batchOption(`batch size (default ${d.batch})`),
    size: () => sizeOption(`image side (default ${d.size})`),
    fit: () =>
      choiceOption(
        '--fit <mode>',
        'how a non-square image becomes size×size: letterbox (pad) | crop (centre) | stretch ' +
          `(default ${d.fit}); recorded in model.json`,
        FITS,
      ),
    equalize: () =>
      choiceOption(
        '--equalize <mode>',
        `contrast after resizing: none | hist | clahe (default ${d.equalize}); recorded in model.json`,
        EQUALIZE_MODES,
      ),
    crop: () =>
      choiceOption(
        '--crop <mode>',
        "none | lungs: cut each image to its lung field's box first; needs a lung_mask column " +
          `(cxrtune lungs predict --manifest) (default ${d.crop}); recorded in model.json; with --lungs the ` +
          'model carries the segmenter',
        CROP_MODES,
      ),
    cropMargin: () =>
      numOption(
        '--crop-margin <f>',
        `margin around the lung box, a fraction of its width/height (default ${d.cropMargin})`,
      ),
    standardize: () =>
      choiceOption(
        '--standardize <mode>',
        "none | image: each image to its own mean and std (removes a hospital's brightness/contrast signature) " +
          `(default ${d.standardize}); recorded in model.json`,
        STANDARDIZE_MODES,
      ),
    precision: () =>
      precisionOption('fp32 | bf16 (CPU/CUDA autocast) | fp16 (CUDA, dynamic loss scaling) (default fp32)'),
    aug: () =>
      new Option(
        '--aug <what>',
        'none | online (Table 1 on the fly) | robust (provenance-blind: crop, blur, noise, gamma, contrast, JPEG) | ' +
          'online+robust | OFFLINE_MANIFEST (from cxrtune augment) (default none); recorded in model.json',
      ),
    balanced: () => new Option('--balanced', 'class-balanced sampler (with replacement) for the training set'),
    seed: () => seedOption(`seed for init, order, augmentation, dropout (default ${d.seed})`),
    device: () => deviceOption('cpu or cuda:N (default cpu)'),
    threads: (o: { workers?: boolean } = {}) => threadsOption(o),
  };
}

export function readConfigFile(file: string): Record<string, unknown> {
  if (!existsSync(file)) throw new Error(`config file not found: ${file}`);
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`config file ${file} is not valid JSON (${(e as Error).message})`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`config file ${file} must hold a JSON object`);
  const { manifestSha256: _ignored, ...rest } = v as Record<string, unknown>;
  return rest;
}

/** Commander's option names → the flat TrainConfig keys (only those given). */
export function flagsToConfig(o: Record<string, unknown>): Partial<FlatTrainConfig> {
  const map: Record<string, keyof FlatTrainConfig> = {
    manifest: 'manifest',
    arch: 'arch',
    pretrained: 'pretrained',
    lungs: 'lungs',
    preset: 'preset',
    schedule: 'schedule',
    lrMin: 'lrMin',
    lrMax: 'lrMax',
    momMin: 'momMin',
    momMax: 'momMax',
    momentumMode: 'momentumMode',
    pct: 'pct',
    groups: 'groups',
    spacing: 'spacing',
    discriminative: 'discriminative',
    optimizer: 'optimizer',
    wd: 'wd',
    mode: 'mode',
    bn: 'batchNorm',
    syncBn: 'syncBn',
    unfoldBn: 'unfoldBn',
    epochs: 'epochs',
    batch: 'batch',
    size: 'size',
    fit: 'fit',
    equalize: 'equalize',
    crop: 'crop',
    cropMargin: 'cropMargin',
    standardize: 'standardize',
    precision: 'precision',
    aug: 'aug',
    seed: 'seed',
    monitor: 'monitor',
    patience: 'patience',
    classWeights: 'classWeights',
    balanced: 'balanced',
    classes: 'classes',
    positive: 'positive',
    threshold: 'threshold',
    trainSplit: 'trainSplit',
    validSplit: 'validSplit',
    device: 'device',
    threads: 'threads',
    out: 'out',
  };
  const c: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined && map[k]) c[map[k]!] = v;
  if (typeof c.discriminative === 'string') c.discriminative = c.discriminative === 'on';
  if (typeof c.classes === 'string')
    c.classes = (c.classes as string)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  return c as Partial<FlatTrainConfig>;
}
