// The shortcut audit on real data (minutes): CXRTUNE_HEAVY=1 node scripts/test.mjs auditHeavy.
// The paper's D_A (paper-da) puts COVID-19 and negatives in different sources, so a model
// trained on it must be flagged — the honest baseline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDataset, paperDaPreset } from '../../src/data/build.js';
import { setThreads } from '../../src/engine/runtime.js';
import { trainRun } from '../../src/app/train/experiment.js';
import { resolveTrainConfig } from '../../src/app/train/trainConfig.js';
import { audit } from '../../src/app/interpret/audit.js';
import { autoPretrained } from '../../src/app/demo/demoContext.js';

const DATA = process.env.CXR_DATA ?? resolve(fileURLToPath(import.meta.url), '../../../../shared/data');
const weights = autoPretrained();
const skip =
  process.env.CXRTUNE_HEAVY !== '1'
    ? 'set CXRTUNE_HEAVY=1'
    : !existsSync(join(DATA, 'covid-chestxray'))
      ? `real data not found in ${DATA}`
      : !weights
        ? 'ImageNet weights not found'
        : false;

test('paper-da: a MobileNetV2 fine-tuned on it is flagged (it separates the classes without the lungs)', {
  skip,
  timeout: 30 * 60_000,
}, async () => {
  setThreads(2);
  const dir = mkdtempSync(join(tmpdir(), 'cxrtune-audit-real-'));
  const data = await buildDataset({ ...paperDaPreset(DATA), out: join(dir, 'data'), verify: 'header' });
  const cfg = resolveTrainConfig(
    {},
    {
      manifest: data.manifestFile,
      arch: 'mobilenet_v2',
      pretrained: weights!,
      out: join(dir, 'run'),
      size: 128,
      batch: 16,
      epochs: 1,
      lrMin: 1e-4,
      lrMax: 3e-3,
      precision: 'bf16',
      threads: 2,
    },
  );
  const s = await trainRun(cfg);
  assert.equal(s.status, 'completed');
  const a = await audit({ model: s.runDir, manifest: data.manifestFile, split: 'valid', bootstrap: 1000 });
  process.stderr.write(`${a.findings.map((f) => f.text).join('\n')}\n`);
  assert.ok(a.full.auc.value > 0.9);
  assert.equal(a.frameOnly.verdict, 'flag');
  assert.equal(a.perSource.verdict, 'flag', 'every paper-da source holds one class');
  assert.equal(a.metadata.verdict, 'flag', 'format, channels and borders give the source away');
  assert.deepEqual(
    a.sourceProbe.labels.map((l) => l.label),
    ['non-covid'],
  );
  assert.equal(a.verdict, 'flag');
});
