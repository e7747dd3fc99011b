// TrainConfig is nested by concern; a flat record (the flags' names, and config.json as runs
// wrote it before the nesting) converts to it field for field, and back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULTS,
  FLAT_DEFAULTS,
  type FlatTrainConfig,
  flattenTrainConfig,
  nestTrainConfig,
  recordedTrainConfig,
  resolveTrainConfig,
} from '../../src/app/train/trainConfig.js';

// A config.json as runs wrote it before the nesting: every one of its 43 flat fields, and lungs added since.
const OLD_FLAT: FlatTrainConfig = {
  manifest: '/data/m.csv',
  arch: 'densenet121',
  pretrained: '/w/densenet121.safetensors',
  lungs: '/seg/lungs',
  preset: 'paper-densenet',
  schedule: 'paperCycle',
  lrMin: 1e-4,
  lrMax: 1e-2,
  momMin: 0.79,
  momMax: 0.9,
  momentumMode: 'inverse',
  pct: 0.6,
  groups: 3,
  spacing: 'linear',
  discriminative: true,
  optimizer: 'sgd',
  wd: 0.02,
  mode: 'gradual',
  batchNorm: 'eval',
  syncBn: true,
  unfoldBn: 'off',
  epochs: 7,
  batch: 12,
  size: 192,
  fit: 'crop',
  equalize: 'clahe',
  crop: 'lungs',
  cropMargin: 0.15,
  standardize: 'image',
  precision: 'bf16',
  aug: 'online+robust',
  seed: 11,
  monitor: 'valid_auc',
  patience: 3,
  classWeights: [1, 2.5],
  balanced: true,
  classes: ['normal', 'covid'],
  positive: 'covid',
  threshold: 'sensitivity:0.9',
  trainSplit: 'tr',
  validSplit: 'va',
  device: 'cpu',
  threads: 2,
  out: '/runs/old',
};

test('an old flat config.json converts to the nested TrainConfig with equal fields', () => {
  assert.equal(Object.keys(OLD_FLAT).length, 44);
  const c = resolveTrainConfig(OLD_FLAT, {});
  assert.deepEqual(c, {
    manifest: '/data/m.csv',
    arch: 'densenet121',
    pretrained: '/w/densenet121.safetensors',
    lungs: '/seg/lungs',
    preset: 'paper-densenet',
    seed: 11,
    out: '/runs/old',
    preprocessing: {
      size: 192,
      fit: 'crop',
      equalize: 'clahe',
      crop: 'lungs',
      cropMargin: 0.15,
      standardize: 'image',
      channels: 1,
    },
    schedule: {
      kind: 'paperCycle',
      epochs: 7,
      lrMin: 1e-4,
      lrMax: 1e-2,
      momMin: 0.79,
      momMax: 0.9,
      momentumMode: 'inverse',
      pct: 0.6,
    },
    optimizer: { kind: 'sgd', wd: 0.02 },
    transfer: {
      mode: 'gradual',
      batchNorm: 'eval',
      unfoldBn: 'off',
      groups: 3,
      spacing: 'linear',
      discriminative: true,
    },
    data: {
      batch: 12,
      aug: 'online+robust',
      balanced: true,
      classWeights: [1, 2.5],
      classes: ['normal', 'covid'],
      positive: 'covid',
      trainSplit: 'tr',
      validSplit: 'va',
    },
    validation: { monitor: 'valid_auc', patience: 3, threshold: 'sensitivity:0.9' },
    compute: { precision: 'bf16', device: 'cpu', threads: 2 },
    distributed: { syncBn: true },
  });
  // … and back: the flat view of the nested config is the old record, field for field.
  assert.deepEqual(flattenTrainConfig(c), OLD_FLAT);
  // The nested form reads as itself (a new run's config.json given to --config).
  assert.deepEqual(resolveTrainConfig(JSON.parse(JSON.stringify(c)), {}), c);
});

test('an old flat config without the settings added later takes their defaults', () => {
  const { fit, equalize, crop, cropMargin, standardize, syncBn, lungs, ...older } = OLD_FLAT;
  const c = resolveTrainConfig({ ...older, preset: null }, {});
  assert.deepEqual(c.preprocessing, { ...DEFAULTS.preprocessing, size: 192 });
  assert.equal(c.distributed.syncBn, false);
  assert.equal(c.lungs, null);
});

test('flags (flat) override a nested file group by group, keeping its other fields', () => {
  const file = nestTrainConfig({ ...OLD_FLAT, preset: null });
  const c = resolveTrainConfig(file, { optimizer: 'adamw', size: 256 });
  assert.deepEqual(c.optimizer, { kind: 'adamw', wd: 0.02 });
  assert.deepEqual(c.preprocessing, {
    size: 256,
    fit: 'crop',
    equalize: 'clahe',
    crop: 'lungs',
    cropMargin: 0.15,
    standardize: 'image',
    channels: 1,
  });
});

test('unknown settings are named, flat or nested', () => {
  assert.throws(() => nestTrainConfig({ lrmax: 1 }), /unknown setting 'lrmax'/);
  assert.throws(() => nestTrainConfig({ schedule: { lrmax: 1 } }), /unknown setting 'schedule\.lrmax'/);
  // A stored config's view skips what it does not know (the manifest's hash beside the settings).
  assert.deepEqual(flattenTrainConfig({ manifestSha256: 'ab', batch: 4 }), { batch: 4 });
});

test('the flat defaults are the nested defaults by flag name', () => {
  assert.equal(FLAT_DEFAULTS.batch, 16);
  assert.equal(FLAT_DEFAULTS.size, 224);
  assert.equal(FLAT_DEFAULTS.schedule, 'oneCycle');
  assert.equal(FLAT_DEFAULTS.optimizer, 'adamw');
  assert.equal(FLAT_DEFAULTS.lrMax, 1e-2);
  assert.equal(FLAT_DEFAULTS.threads, null);
  assert.equal(Object.keys(FLAT_DEFAULTS).length, 41); // 44 less manifest, arch, out
});

test("a checkpoint's recorded config reads by flag name, flat (older model.json) or nested", () => {
  const nested = resolveTrainConfig(OLD_FLAT, {});
  const fromNew = recordedTrainConfig({ training: { config: nested } });
  const fromOld = recordedTrainConfig({ training: { config: { ...OLD_FLAT, manifestSha256: 'ab' } } });
  assert.deepEqual(fromNew, OLD_FLAT);
  assert.deepEqual(fromOld, OLD_FLAT);
  assert.equal(fromNew.trainSplit, 'tr');
  assert.equal(fromNew.validSplit, 'va');
  assert.deepEqual(recordedTrainConfig({}), {});
});
