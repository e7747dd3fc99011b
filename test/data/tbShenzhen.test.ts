// `data build --preset tb-shenzhen`: Shenzhen's normal and tuberculosis images split by patient
// (no patient on both sides, each class near 80/20), every row with its lung mask, the task record
// in summary.json; Montgomery County as the external set. Needs ../shared/data/lungs (skipped with
// the reason when absent).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDataset, DATA_PRESETS, tbMontgomeryExternal, tbShenzhenPreset } from '../../src/data/build.js';
import { manifestTask } from '../../src/data/task.js';

const DATA = process.env.CXR_DATA ?? resolve(fileURLToPath(import.meta.url), '../../../../shared/data');
const need = ['lungs/shenzhen/images', 'lungs/montgomery/images'];
const missing = need.filter((p) => !existsSync(join(DATA, p)));
const skip = missing.length
  ? `real data not found: ${missing.map((p) => join(DATA, p)).join(', ')} (the NLM TB sets; set CXR_DATA)`
  : false;

test('tb-shenzhen is a preset; its declaration is the TB task with a patient-level 80/20 split', () => {
  assert.ok((DATA_PRESETS as readonly string[]).includes('tb-shenzhen'));
  const p = tbShenzhenPreset('/data');
  assert.deepEqual(p.sources, [{ kind: 'tb-screening', path: '/data/lungs/shenzhen', options: {} }]);
  assert.equal(p.split, '0.8,0.2');
  assert.equal(p.task?.positive, 'tuberculosis');
  assert.equal(tbMontgomeryExternal('/data').external, true);
});

test('Shenzhen split by patient, Montgomery external: counts, no shared patient, masks, task', { skip }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'cxrtune-tb-'));
  try {
    const b = await buildDataset({ ...tbShenzhenPreset(DATA), out: join(out, 'shz'), seed: 1, verify: 'header' });
    assert.deepEqual(b.summary.labels, { normal: 279, tuberculosis: 287 });
    assert.equal(b.summary.sharedPatients, 0);
    assert.match(b.summary.notes[0]!, /patient-level split .*INTERNAL/);
    // One image per patient: the stem is the id, so the split has as many patients as images.
    assert.equal(new Set(b.rows.map((r) => r.patientId)).size, 566);
    for (const l of ['normal', 'tuberculosis']) {
      const rows = b.rows.filter((r) => r.label === l);
      const valid = rows.filter((r) => r.split === 'valid').length / rows.length;
      assert.ok(Math.abs(valid - 0.2) < 0.01, `${l}: ${valid}`);
    }
    assert.ok(b.rows.every((r) => r.extra.lung_mask && r.source === 'shenzhen'));
    assert.ok(b.rows.every((r) => (r.label === 'tuberculosis') === /_1\.(jpg|png)$/.test(r.path)));
    assert.equal(manifestTask(b.manifestFile)?.finding, 'tuberculosis');
    const s = JSON.parse(readFileSync(b.summaryFile, 'utf8'));
    assert.equal(s.splitBy, 'patient');
    const ext = await buildDataset({ ...tbMontgomeryExternal(DATA), out: join(out, 'mcu'), seed: 1, verify: 'header' });
    assert.deepEqual(ext.summary.labels, { normal: 80, tuberculosis: 58 });
    assert.deepEqual(ext.summary.imagesPerSplit, { test: 138 });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
