// Tests on ../shared/data (see its README). Skipped, with the reason, when it is absent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDataset, paperDaPreset } from '../../src/data/build.js';
import { readCovidChestxray } from '../../src/data/sources/covidChestxray.js';
import { readFolderSource } from '../../src/data/sources/folder.js';
import { patientIdRule } from '../../src/data/patientId.js';
import { findPatientLeaks } from '../../src/data/split.js';
import { readManifest } from '../../src/data/manifest.js';
import { BatchLoader } from '../../src/data/batchLoader.js';

const DATA = process.env.CXR_DATA ?? resolve(fileURLToPath(import.meta.url), '../../../../shared/data');
const missing = ['covid-chestxray/metadata.csv', 'kermany/NORMAL', 'kermany/PNEUMONIA', 'nih/No_findings'].filter(
  (p) => !existsSync(join(DATA, p)),
);
const skip = missing.length
  ? `real data not found: ${missing.map((p) => join(DATA, p)).join(', ')} (see ../shared/data/README.md or ` +
    `set CXR_DATA)`
  : false;

test('covid-chestxray: 427 frontal COVID-19 X-rays from 257 patients (README figures)', { skip }, () => {
  const r = readCovidChestxray(join(DATA, 'covid-chestxray'), { views: ['PA', 'AP'], findings: ['COVID-19*'] });
  assert.equal(r.problems.length, 0);
  assert.equal(r.rows.length, 427);
  assert.equal(new Set(r.rows.map((x) => x.patientId)).size, 257);
  assert.ok(r.rows.every((x) => x.view !== 'L'));
});

test('Kermany and NIH patient-id rules match every real file name', { skip }, () => {
  const k = patientIdRule('kermany');
  for (const cls of ['NORMAL', 'PNEUMONIA']) {
    for (const f of readdirSync(join(DATA, 'kermany', cls))) assert.ok(k(f), `kermany rule fails on ${f}`);
  }
  const n = patientIdRule('nih');
  for (const f of readdirSync(join(DATA, 'nih', 'No_findings'))) assert.equal(n(f), basename(f).slice(0, 8));
  const kr = readFolderSource(join(DATA, 'kermany'), { rule: 'kermany' });
  assert.equal(kr.problems.length, 0);
  assert.equal(kr.rows.length, 5856);
  // Multi-image patients exist: the rule must group them.
  assert.ok(new Set(kr.rows.map((r) => r.patientId)).size < kr.rows.length);
  const one = kr.rows.filter((r) => r.patientId === 'kermany:person1');
  assert.ok(one.length >= 2, 'person1 has several images');
});

test('data build --preset paper-da: balanced, zero patients shared between splits, reproducible', {
  skip,
}, async () => {
  const out = mkdtempSync(join(tmpdir(), 'cxr-pda-'));
  const r = await buildDataset({ ...paperDaPreset(DATA), out, seed: 1 });
  const s = r.summary;
  assert.deepEqual(s.labels, { covid: 427, 'non-covid': 427 });
  assert.equal(s.sharedPatients, 0);
  const m = readManifest(r.manifestFile);
  assert.deepEqual(findPatientLeaks(m.rows), []);
  // ~70/30 per label.
  for (const l of ['covid', 'non-covid']) {
    const tr = m.rows.filter((x) => x.label === l && x.split === 'train').length;
    assert.ok(Math.abs(tr / 427 - 0.7) < 0.02, `${l} train fraction ${tr / 427}`);
  }
  // Negatives drawn evenly over kermany NORMAL / PNEUMONIA / nih (142–143 each).
  const neg = m.rows.filter((x) => x.label === 'non-covid');
  const groups = new Map<string, number>();
  for (const x of neg)
    groups.set(`${x.source}/${x.extra.raw_label}`, (groups.get(`${x.source}/${x.extra.raw_label}`) ?? 0) + 1);
  assert.deepEqual([...groups.keys()].sort(), ['kermany/NORMAL', 'kermany/PNEUMONIA', 'nih/No_findings']);
  for (const v of groups.values()) assert.ok(v === 142 || v === 143);
  assert.ok(s.notes.some((n) => n.includes('Montgomery')));
  const again = await buildDataset({
    ...paperDaPreset(DATA),
    out: mkdtempSync(join(tmpdir(), 'cxr-pda2-')),
    seed: 1,
    verify: 'none',
  });
  assert.deepEqual(
    again.rows.map((x) => [x.path, x.split]),
    r.rows.map((x) => [x.path, x.split]),
  );
  // The loader serves it.
  const L = new BatchLoader(m, 'valid', { size: 64, batch: 32 });
  assert.deepEqual(L.classes, ['non-covid', 'covid']);
  const b = (await L.epoch(0).next()).value!;
  assert.deepEqual(b.shape, [32, 64, 64, 1]);
});
