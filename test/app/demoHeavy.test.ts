// The full phantom demo (minutes): run only with CXRTUNE_HEAVY=1 node scripts/test.mjs demoHeavy.
// Checks the figures the demo is for: validation accuracy / AUC, and that Grad-CAM points at
// the lesions (pointing game >= 0.8; its chance level is the lesion area share, ~5 %).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDemo } from '../../src/app/demo/demo.js';
import { autoPretrained } from '../../src/app/demo/demoContext.js';

const heavy = process.env.CXRTUNE_HEAVY === '1';
const weights = autoPretrained();
const skip = !heavy
  ? 'set CXRTUNE_HEAVY=1'
  : !weights
    ? 'ImageNet weights not found (../shared/pretrained or $CXRTUNE_PRETRAINED)'
    : false;

test('phantom demo end to end: accurate, and Grad-CAM looks at the lesions', {
  skip,
  timeout: 20 * 60_000,
}, async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'cxrtune-demo-')), 'demo');
  const r = await runDemo({ out, log: (l) => process.stderr.write(`${l}\n`) });
  const m = r.evaluation.metrics;
  process.stderr.write(
    `demo ${r.seconds.toFixed(0)} s; accuracy ${m.accuracy.value}, AUC ${m.auc.value}; pointing ` +
      `${r.gradcam?.pointing.rate} (chance ${r.gradcam?.pointing.chance}), lesion mass ` +
      `${r.gradcam?.lesionMass.mean}\n`,
  );
  assert.ok(existsSync(r.report));
  assert.ok(m.accuracy.value >= 0.9, `accuracy ${m.accuracy.value}`);
  assert.ok(m.auc.value >= 0.95, `AUC ${m.auc.value}`);
  const g = r.gradcam!;
  assert.ok(g.pointing.n >= 50);
  // Pointing game at the demo's stride-8 layer (see demo.ts: the last block is too coarse).
  assert.ok(g.pointing.rate >= 0.8, `pointing game ${g.pointing.rate} at ${g.layer} (chance ${g.pointing.chance})`);
  assert.ok(
    g.lesionMass.mean >= 3 * g.lesionMass.chance,
    `lesion mass ${g.lesionMass.mean} vs area ${g.lesionMass.chance}`,
  );
});
