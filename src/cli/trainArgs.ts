// Flag parsing shared by `cxrtune train` and `cxrtune lr-find`: both build a model the same
// way (app/learner.ts), so they read the same TrainConfig keys from flags and --config files.
import { existsSync, readFileSync } from 'node:fs';
import { InvalidArgumentError, Option } from 'commander';
import type { TrainConfig } from '../app/train/trainConfig.js';

export const num = (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`'${v}' is not a number`);
  return n;
};
export const int = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`'${v}' is not a non-negative integer`);
  return n;
};
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
export const choice = (flags: string, desc: string, xs: readonly string[]) =>
  new Option(flags, desc).choices(xs as string[]);

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

/** Commander's option names → TrainConfig keys (only those given). */
export function flagsToConfig(o: Record<string, unknown>): Partial<TrainConfig> {
  const map: Record<string, keyof TrainConfig> = {
    manifest: 'manifest',
    arch: 'arch',
    pretrained: 'pretrained',
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
  return c as Partial<TrainConfig>;
}
