// `data build --preset adult-mixed`: the TB-screening reader (Montgomery/Shenzhen layout,
// label from the `_0`/`_1` suffix, lung masks carried), the label map (tuberculosis out), and
// sources kept in proportion across the patient split. A small fixture checks the logic
// exactly; the real-data case (../shared/data, skipped with the reason when absent) checks
// the preset's sources, adults only, no Kermany, and the location split.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { adultMixedPreset, buildDataset } from '../../src/data/build.js';
import { loadLabelMap } from '../../src/data/labelMap.js';
import { readTbScreening, tbLabelOf } from '../../src/data/sources/tbScreening.js';
import { parseSourceSpec, readSource, type SourceSpec } from '../../src/data/sources/sourceSpec.js';

const DATA = process.env.CXR_DATA ?? resolve(fileURLToPath(import.meta.url), '../../../../shared/data');
const need = [
  'covid-chestxray/metadata.csv',
  'nih/No_findings',
  'nih/Pneumonia',
  'lungs/montgomery/images',
  'lungs/shenzhen/images',
];
const missing = need.filter((p) => !existsSync(join(DATA, p)));
const skip = missing.length
  ? `real data not found: ${missing.map((p) => join(DATA, p)).join(', ')} (see ../shared/data/README.md or ` +
    `set CXR_DATA)`
  : false;

async function png(file: string, v: number): Promise<void> {
  await sharp(Buffer.alloc(32 * 32, v), { raw: { width: 32, height: 32, channels: 1 } })
    .png()
    .toFile(file);
}

/** A TB-screening folder: images/<stem>.png (+ masks/ for some) — `n0` normals and `n1` TB. */
async function tbFolder(root: string, prefix: string, n0: number, n1: number): Promise<string> {
  mkdirSync(join(root, 'images'), { recursive: true });
  mkdirSync(join(root, 'masks'), { recursive: true });
  for (let i = 0; i < n0 + n1; i++) {
    const stem = `${prefix}_${String(i).padStart(4, '0')}_${i < n0 ? 0 : 1}`;
    await png(join(root, 'images', `${stem}.png`), 40 + i);
    if (i % 2 === 0) await png(join(root, 'masks', `${stem}.png`), 255);
  }
  return root;
}

test('tb-screening reader: label from the file name, one patient per image, lung masks carried', async () => {
  assert.equal(tbLabelOf('MCUCXR_0001_0'), 'normal');
  assert.equal(tbLabelOf('CHNCXR_0327_1'), 'tuberculosis');
  assert.equal(tbLabelOf('scan_2'), null);
  const dir = await tbFolder(join(mkdtempSync(join(tmpdir(), 'cxr-tb-')), 'montgomery'), 'MCUCXR', 3, 2);
  writeFileSync(join(dir, 'images', 'odd_name.png'), 'x');
  const r = readTbScreening(dir);
  assert.deepEqual(
    r.rows.map((x) => x.rawLabel),
    ['normal', 'normal', 'normal', 'tuberculosis', 'tuberculosis'],
  );
  assert.ok(
    r.rows.every((x) => x.source === 'montgomery' && x.patientId.startsWith('montgomery:MCUCXR_') && x.view === 'PA'),
  );
  assert.deepEqual(
    r.rows.map((x) => Boolean(x.extra.lung_mask)),
    [true, false, true, false, true],
  );
  assert.equal(r.problems.length, 1);
  assert.match(r.problems[0]!.message, /does not end in _0 \(normal\) or _1 \(tuberculosis\)/);
  assert.deepEqual(parseSourceSpec(`tb-screening:${dir}:name=mc`), {
    kind: 'tb-screening',
    path: dir,
    options: { name: 'mc' },
  });
  assert.throws(() => readTbScreening(join(dir, 'nope')), /folder not found/);
  assert.throws(
    () => readSource(parseSourceSpec(`covid-chestxray:${dir}:minage=old`)),
    /minage=old: expected an age in years/,
  );
});

test('adult-mixed label map: COVID-19 positive, tuberculosis left out, every other finding negative', () => {
  const m = loadLabelMap('adult-mixed');
  assert.equal(m.map('COVID-19, ARDS'), 'covid');
  assert.equal(m.map('tuberculosis'), null);
  for (const raw of ['normal', 'No_findings', 'Pneumonia', 'SARS', 'No Finding', 'NORMAL'])
    assert.equal(m.map(raw), 'non-covid', raw);
});

test("stratifyBySource keeps each source's share in every split (fixture, patient split)", async () => {
  const root = mkdtempSync(join(tmpdir(), 'cxr-am-'));
  const a = await tbFolder(join(root, 'siteA'), 'A', 20, 0);
  const b = await tbFolder(join(root, 'siteB'), 'B', 10, 0);
  const pos = join(root, 'pos', 'covid');
  mkdirSync(pos, { recursive: true });
  for (let i = 0; i < 30; i++) await png(join(pos, `c${i}.png`), 100 + i);
  const sources: SourceSpec[] = [
    { kind: 'tb-screening', path: a, options: {} },
    { kind: 'tb-screening', path: b, options: {} },
    { kind: 'folder', path: join(root, 'pos'), options: { rule: 'stem' } },
  ];
  writeFileSync(join(root, 'map.json'), JSON.stringify({ covid: 'covid', '*': 'non-covid' }));
  const r = await buildDataset({
    sources,
    labelMap: join(root, 'map.json'),
    split: '0.7,0.3',
    stratifyBySource: true,
    seed: 3,
    out: join(root, 'out'),
    verify: 'none',
  });
  const count = (src: string, split: string) => r.rows.filter((x) => x.source === src && x.split === split).length;
  assert.deepEqual([count('siteA', 'train'), count('siteA', 'valid')], [14, 6]);
  assert.deepEqual([count('siteB', 'train'), count('siteB', 'valid')], [7, 3]);
  assert.deepEqual([count('pos', 'train'), count('pos', 'valid')], [21, 9]);
  assert.equal(r.summary.sharedPatients, 0);
});

test('adult-mixed on ../shared/data: adult sources only, balanced, no Kermany; --split-by location holds groups out', {
  skip,
}, async () => {
  const p = adultMixedPreset(DATA);
  assert.ok(
    !p.sources.some((s) => typeof s !== 'string' && /kermany/.test(s.path)),
    'no paediatric Kermany by default',
  );
  assert.ok(
    adultMixedPreset(DATA, { kermany: true }).sources.some((s) => typeof s !== 'string' && /kermany/.test(s.path)),
  );
  const r = await buildDataset({ ...p, out: mkdtempSync(join(tmpdir(), 'cxr-am-real-')), seed: 1, verify: 'none' });
  const labels = (l: string) => r.rows.filter((x) => x.label === l);
  assert.equal(labels('covid').length, labels('non-covid').length, 'balanced');
  // cxnet's positives join covid-chestxray's only when asked (--with-cxnet).
  assert.deepEqual([...new Set(labels('covid').map((x) => x.source))].sort(), ['covid-chestxray']);
  assert.ok(
    r.rows.every((x) => x.extra.pediatric !== 'yes'),
    'no cxnet row marked pediatric',
  );
  assert.deepEqual([...new Set(labels('non-covid').map((x) => x.source))].sort(), [
    'covid-chestxray',
    'montgomery',
    'nih',
    'shenzhen',
  ]);
  assert.ok(r.rows.every((x) => x.extra.raw_label !== 'tuberculosis'));
  assert.ok(
    r.rows.every((x) => !x.extra.age || !(Number(x.extra.age) < 18)),
    'no known child',
  );
  // Each source's share of the training split is within 3 points of its share of validation.
  for (const src of ['covid-chestxray', 'montgomery', 'nih', 'shenzhen']) {
    const share = (split: string) =>
      r.rows.filter((x) => x.split === split && x.source === src).length /
      r.rows.filter((x) => x.split === split).length;
    assert.ok(Math.abs(share('train') - share('valid')) < 0.03, `${src}: ${share('train')} vs ${share('valid')}`);
  }
  assert.ok(
    r.rows.filter((x) => x.source === 'montgomery').every((x) => x.extra.lung_mask && existsSync(x.extra.lung_mask)),
    'Montgomery masks carried',
  );
  const loc = await buildDataset({
    ...p,
    splitBy: 'location',
    out: mkdtempSync(join(tmpdir(), 'cxr-am-loc-')),
    seed: 1,
    verify: 'none',
  });
  const sides = new Map<string, Set<string>>();
  for (const x of loc.rows) {
    const g = x.extra.location || `${x.source} (no location)`;
    sides.set(g, (sides.get(g) ?? new Set()).add(x.split));
  }
  assert.ok(
    [...sides.values()].every((s) => s.size === 1),
    'every location group on one side',
  );
  assert.ok(
    loc.rows.some((x) => x.split === 'valid' && x.label === 'covid') &&
      loc.rows.some((x) => x.split === 'valid' && x.label === 'non-covid'),
  );
});
