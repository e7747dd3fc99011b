// Presets and config resolution: exact values, precedence, and named errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { presetValues } from '../../src/app/train/presets.js';
import { resolveTrainConfig, DEFAULTS } from '../../src/app/train/trainConfig.js';

const base = { manifest: 'm.csv', out: 'run' };

test('paper-resnet: α 1e-3..1e-1, m 0.8–0.99, Adam(W) wd 0.01, 20 epochs, paperCycle, discriminative', () => {
  const c = resolveTrainConfig({}, { ...base, arch: 'resnet50', preset: 'paper-resnet' });
  assert.deepEqual(
    [
      c.schedule.lrMin,
      c.schedule.lrMax,
      c.schedule.momMin,
      c.schedule.momMax,
      c.optimizer.kind,
      c.optimizer.wd,
      c.schedule.epochs,
      c.schedule.kind,
      c.transfer.discriminative,
      c.transfer.mode,
    ],
    [1e-3, 1e-1, 0.8, 0.99, 'adamw', 0.01, 20, 'paperCycle', true, 'finetune'],
  );
});

test('paper-densenet: α 1e-4..1e-2, m 0.79–0.9', () => {
  const c = resolveTrainConfig({}, { ...base, arch: 'densenet121', preset: 'paper-densenet' });
  assert.deepEqual(
    [
      c.schedule.lrMin,
      c.schedule.lrMax,
      c.schedule.momMin,
      c.schedule.momMax,
      c.optimizer.kind,
      c.optimizer.wd,
      c.schedule.epochs,
    ],
    [1e-4, 1e-2, 0.79, 0.9, 'adamw', 0.01, 20],
  );
});

test('traditional: constant α/m per family (1e-3/0.99 ResNet, 1e-4/0.9 DenseNet), one LR for all layers', () => {
  const r = presetValues('traditional', 'resnet18');
  assert.deepEqual(
    [
      r.schedule.kind,
      r.schedule.lrMax,
      r.schedule.momMax,
      r.transfer.discriminative,
      r.optimizer.wd,
      r.schedule.epochs,
    ],
    ['constant', 1e-3, 0.99, false, 0.01, 20],
  );
  const d = presetValues('traditional', 'densenet169');
  assert.deepEqual(
    [d.schedule.kind, d.schedule.lrMax, d.schedule.momMax, d.transfer.discriminative],
    ['constant', 1e-4, 0.9, false],
  );
});

test('precedence: defaults < preset < config file < flags', () => {
  const c = resolveTrainConfig(
    { preset: 'paper-resnet', lrMax: 0.05, epochs: 7 },
    { ...base, arch: 'resnet18', epochs: 3 },
  );
  assert.equal(c.schedule.lrMin, 1e-3); // preset
  assert.equal(c.schedule.lrMax, 0.05); // file over preset
  assert.equal(c.schedule.epochs, 3); // flag over file
  assert.equal(c.data.batch, DEFAULTS.data.batch); // default
  assert.equal(c.preset, 'paper-resnet');
});

test('bad settings fail with the field named', () => {
  assert.throws(
    () => resolveTrainConfig({}, { ...base, arch: 'resnet18', lrMin: 0.1, lrMax: 0.01 }),
    /invalid lrMin: must be <= lrMax/,
  );
  assert.throws(
    () => resolveTrainConfig({}, { ...base, arch: 'vgg16' as never }),
    /invalid arch: "vgg16" is not one of/,
  );
  assert.throws(
    () => resolveTrainConfig({ syncBn: 'yes' as never }, { ...base, arch: 'resnet18' }),
    /invalid syncBn: must be true or false/,
  );
  assert.equal(resolveTrainConfig({}, { ...base, arch: 'resnet18' }).distributed.syncBn, false);
  assert.throws(
    () => resolveTrainConfig({}, { ...base, arch: 'resnet18', precision: 'fp16' }),
    /fp16 needs a CUDA device/,
  );
  assert.throws(
    () => resolveTrainConfig({ lrmax: 1 } as never, { ...base, arch: 'resnet18' }),
    /unknown setting 'lrmax'/,
  );
  assert.throws(() => resolveTrainConfig({}, { out: 'x', arch: 'resnet18' }), /manifest/);
  assert.throws(() => resolveTrainConfig({}, { ...base, arch: 'resnet18', momMax: 1 }), /invalid momMax/);
});
