// Source-held-out splits (`data build --split-by source|location|KEY`) and the figure1
// external-set reader. Hand-made rows check the unit logic exactly; the real-data cases (on
// ../shared/data, skipped with the reason when absent) check that no hospital or source is
// on both sides of the paper-da split and that figure1 reads as its README says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assignSplits, groupUnits, parseSplit } from '../../src/data/split.js';
import { buildDataset, paperDaPreset } from '../../src/data/build.js';
import { figure1Patient, readFigure1 } from '../../src/data/sources/figure1.js';
import { parseSourceSpec } from '../../src/data/sources/sourceSpec.js';

const DATA = process.env.CXR_DATA ?? resolve(fileURLToPath(import.meta.url), '../../../../shared/data');
const missing = ['covid-chestxray/metadata.csv', 'kermany/NORMAL', 'nih/No_findings', 'figure1/metadata.csv'].filter(
  (p) => !existsSync(join(DATA, p)),
);
const skip = missing.length
  ? `real data not found: ${missing.map((p) => join(DATA, p)).join(', ')} (see ../shared/data/README.md or ` +
    `set CXR_DATA)`
  : false;

test(
  'groupUnits: a group is one unit; a patient in two groups joins them; ' + 'unit names do not depend on row order',
  () => {
    const rows = [
      { label: 'a', patientId: 'p1', g: 'H1' },
      { label: 'a', patientId: 'p2', g: 'H1' },
      { label: 'a', patientId: 'p3', g: 'H2' },
      { label: 'b', patientId: 'p3', g: 'H3' }, // p3 joins H2 and H3
      { label: 'b', patientId: 'p4', g: 'H4' },
    ];
    const u = groupUnits(rows, (i) => rows[i]!.g);
    assert.deepEqual(u, ['H1', 'H1', 'H2', 'H2', 'H4']);
    const rev = [...rows].reverse();
    assert.deepEqual(
      groupUnits(rev, (i) => rev[i]!.g),
      [...u].reverse(),
    );
  },
);

test('split by group: no group and no patient on two sides, seeded and reproducible', () => {
  const rows = Array.from({ length: 200 }, (_, i) => ({
    label: i % 2 ? 'pos' : 'neg',
    patientId: `p${i % 39}`,
    site: `site${i % 13}`,
  }));
  const units = groupUnits(rows, (i) => rows[i]!.site);
  const s1 = assignSplits(
    rows.map((r, i) => ({ label: r.label, patientId: units[i]! })),
    parseSplit('0.7,0.3'),
    4,
  );
  const s2 = assignSplits(
    rows.map((r, i) => ({ label: r.label, patientId: units[i]! })),
    parseSplit('0.7,0.3'),
    4,
  );
  assert.deepEqual(s1, s2);
  const sideOf = (key: (i: number) => string) => {
    const m = new Map<string, Set<string>>();
    rows.forEach((_, i) => {
      m.set(key(i), (m.get(key(i)) ?? new Set()).add(s1[i]!));
    });
    return [...m.values()].every((s) => s.size === 1);
  };
  assert.ok(
    sideOf((i) => rows[i]!.site),
    'each site on one side',
  );
  assert.ok(
    sideOf((i) => rows[i]!.patientId),
    'each patient on one side',
  );
  assert.ok(s1.includes('valid') && s1.includes('train'));
});

test('figure1 ids: COVID-00003a and COVID-00003b are one patient', () => {
  assert.equal(figure1Patient('COVID-00003a'), 'COVID-00003');
  assert.equal(figure1Patient('COVID-00003b'), 'COVID-00003');
  assert.equal(figure1Patient('COVID-00012'), 'COVID-00012');
  assert.deepEqual(parseSourceSpec('figure1:/data/figure1:views=PA|AP'), {
    kind: 'figure1',
    path: '/data/figure1',
    options: { views: 'PA|AP' },
  });
});

test('figure1 reader on ../shared/data: 40 labelled images (35 COVID-19, 3 No finding, 2 Pneumonia), unlabelled ' +
  'rows left out', {
  skip,
}, () => {
  const r = readFigure1(join(DATA, 'figure1'));
  assert.deepEqual(r.problems, []);
  const count = (f: string) => r.rows.filter((x) => x.rawLabel === f).length;
  assert.deepEqual([count('COVID-19'), count('No finding'), count('Pneumonia')], [35, 3, 2]);
  assert.equal(r.rows.length, 40);
  assert.ok(r.rows.every((x) => x.patientId.startsWith('figure1:') && existsSync(x.path)));
});

test('paper-da --split-by location: no hospital, city or source on both sides; zero shared patients', {
  skip,
}, async () => {
  const out = mkdtempSync(join(tmpdir(), 'cxr-pda-loc-'));
  const r = await buildDataset({ ...paperDaPreset(DATA), out, seed: 1, splitBy: 'location', verify: 'none' });
  assert.equal(r.summary.sharedPatients, 0);
  const sides = new Map<string, Set<string>>();
  for (const x of r.rows) {
    const g = x.extra.location || `${x.source} (no location)`;
    sides.set(g, (sides.get(g) ?? new Set()).add(x.split));
  }
  assert.ok(
    [...sides.values()].every((s) => s.size === 1),
    'every location group on one side',
  );
  // Negatives come from two sources; with whole sources held out, each lands on one side.
  for (const src of ['kermany', 'nih'])
    assert.equal(new Set(r.rows.filter((x) => x.source === src).map((x) => x.split)).size, 1, src);
  assert.ok(
    r.rows.some((x) => x.split === 'valid' && x.label === 'covid') &&
      r.rows.some((x) => x.split === 'valid' && x.label === 'non-covid'),
  );
  assert.ok(r.summary.notes.some((n) => /split by location: .*no location group is on two sides/.test(n)));
});
