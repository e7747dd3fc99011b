// The cxnet source (COVID-CXNet layout: metadata.csv + images/) and `data build --split-by
// collection`. A small fixture written here checks ids, site, location, the pediatric and
// view filters, and that the held-out collection lands whole in validation; the real-data
// case (../shared/data/cxnet, skipped with the reason when absent) checks the README's counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { adultMixedPreset, buildDataset, collectionSplit } from '../../src/data/build.js';
import { parseSplit } from '../../src/data/split.js';
import { cxnetSite, readCxnet } from '../../src/data/sources/cxnet.js';
import { parseSourceSpec, readSource, type SourceSpec } from '../../src/data/sources/sourceSpec.js';
import { decideProtocol } from '../../src/app/evaluate/protocol.js';

const DATA = process.env.CXR_DATA ?? resolve(fileURLToPath(import.meta.url), '../../../../shared/data');
const realMeta = join(DATA, 'cxnet', 'metadata.csv');
const skipReal = existsSync(realMeta)
  ? false
  : `real data not found: ${realMeta} (see ../shared/data/README.md or set CXR_DATA)`;

async function png(file: string, v: number): Promise<void> {
  await sharp(Buffer.alloc(32 * 32, v), { raw: { width: 32, height: 32, channels: 1 } })
    .png()
    .toFile(file);
}

const HEADER =
  'filename,patientid,patient_id_known,finding,no_visible_abnormality,pediatric,view,sex,age,pcr_test,location,url';
// Two images of known patient cxnet-7, two of unknown patients that happen to share an id,
// a pediatric row, a child not marked pediatric, a lateral view, an unrecorded view.
const ROWS = [
  'a.png,cxnet-7,yes,COVID-19,no,no,AP,male,60,positive,Spain,https://www.eurorad.org/case/1',
  'b.png,cxnet-7,yes,COVID-19,yes,no,PA,male,60,positive,Spain,https://twitter.com/ChestImaging/status/1',
  'c.png,cxnet-img-c,no,COVID-19,no,no,,,,,,',
  'd.png,cxnet-img-c,no,COVID-19,no,no,,female,40,,Italy,https://dx.doi.org/10.1/x',
  'e.png,cxnet-9,yes,COVID-19,no,yes,AP,female,7,positive,Korea,https://radiopaedia.org/cases/e',
  'f.png,cxnet-10,yes,COVID-19,no,no,AP,male,10,,Jordan,https://radiopaedia.org/cases/f',
  'g.png,cxnet-11,yes,COVID-19,no,no,L,male,50,,UK,not a url',
  'h.png,cxnet-12,yes,COVID-19,no,no,PA,male,50,,UK,',
];

/** A cxnet folder with the rows above (+ extra known-patient rows); every image but h.png exists. */
async function cxnetFolder(root: string, extra = 0): Promise<string> {
  mkdirSync(join(root, 'images'), { recursive: true });
  const rows = [...ROWS];
  for (let i = 0; i < extra; i++) rows.push(`x${i}.png,cxnet-x${i},yes,COVID-19,no,no,PA,,,,US,https://nejm.org/${i}`);
  writeFileSync(join(root, 'metadata.csv'), `${HEADER}\n${rows.join('\n')}\n`);
  for (const [k, r] of rows.entries()) {
    const file = r.split(',')[0]!;
    if (file !== 'h.png') await png(join(root, 'images', file), 30 + k);
  }
  return root;
}

test('cxnetSite: the host of the URL, without www. (dx.doi.org is doi.org); empty without a URL', () => {
  assert.equal(cxnetSite('https://www.eurorad.org/case/16709'), 'eurorad.org');
  assert.equal(cxnetSite('https://radiopaedia.org/cases/x'), 'radiopaedia.org');
  assert.equal(cxnetSite('https://twitter.com/ChestImaging/status/1'), 'twitter.com');
  assert.equal(cxnetSite('https://dx.doi.org/10.1/x'), 'doi.org');
  assert.equal(cxnetSite(''), '');
  assert.equal(cxnetSite('not a url'), '');
});

test('cxnet reader: known patient ids shared, one id per image otherwise; site, location, flags kept', async () => {
  const dir = await cxnetFolder(join(mkdtempSync(join(tmpdir(), 'cxr-cxnet-')), 'cxnet'));
  const r = readCxnet(dir);
  assert.deepEqual(
    r.rows.map((x) => x.patientId),
    [
      'cxnet:cxnet-7',
      'cxnet:cxnet-7',
      'cxnet:image:c.png',
      'cxnet:image:d.png',
      'cxnet:cxnet-9',
      'cxnet:cxnet-10',
      'cxnet:cxnet-11',
    ],
  );
  assert.equal(r.problems.length, 1, 'h.png is missing');
  assert.match(r.problems[0]!.message, /line 9 is missing/);
  const by = (f: string) => r.rows.find((x) => x.path.endsWith(`/${f}`))!;
  assert.equal(by('a.png').extra.site, 'eurorad.org');
  assert.equal(by('b.png').extra.site, 'twitter.com');
  assert.equal(by('d.png').extra.site, 'doi.org');
  assert.equal(by('c.png').extra.site, undefined);
  assert.equal(by('g.png').extra.site, undefined, 'an unparsable url names no site');
  assert.deepEqual(
    ['a.png', 'd.png', 'e.png', 'c.png'].map((f) => by(f).extra.location),
    ['Spain', 'Italy', 'Korea', undefined],
  );
  assert.equal(by('b.png').extra.no_visible_abnormality, 'yes');
  assert.equal(by('a.png').extra.no_visible_abnormality, 'no');
  assert.equal(by('c.png').extra.patient_id_known, 'no');
  assert.ok(r.rows.every((x) => x.source === 'cxnet' && x.rawLabel === 'COVID-19'));

  // Adults: pediatric = yes out, and (with minAge) a known child not marked pediatric too.
  const adults = readCxnet(dir, { adults: true });
  assert.ok(!adults.rows.some((x) => x.path.endsWith('/e.png')));
  assert.ok(adults.rows.some((x) => x.path.endsWith('/f.png')));
  const grown = readCxnet(dir, { adults: true, minAge: 18 });
  assert.ok(!grown.rows.some((x) => x.path.endsWith('/e.png') || x.path.endsWith('/f.png')));
  assert.equal(grown.rows.length, 5);

  // Frontal only where the view is recorded: the lateral goes, the unrecorded views stay.
  const frontal = readSource(parseSourceSpec(`cxnet:${dir}:adults=yes,minage=18`), ['PA', 'AP']);
  assert.deepEqual(
    frontal.rows.map((x) => x.path.slice(x.path.lastIndexOf('/') + 1)),
    ['a.png', 'b.png', 'c.png', 'd.png'],
  );
  assert.deepEqual(parseSourceSpec(`cxnet:${dir}:adults=yes`), {
    kind: 'cxnet',
    path: dir,
    options: { adults: 'yes' },
  });
  assert.throws(() => readSource(parseSourceSpec(`cxnet:${dir}:adults=maybe`)), /adults=maybe: expected yes or no/);
  assert.throws(() => parseSourceSpec(`cxnet:${dir}:findings=x`), /unknown option 'findings' for cxnet/);
  assert.throws(() => readCxnet(join(dir, 'nope')), /folder not found/);
});

/** Negatives: a TB-screening folder of `n` normals named `prefix`. */
async function normals(root: string, prefix: string, n: number): Promise<string> {
  mkdirSync(join(root, 'images'), { recursive: true });
  for (let i = 0; i < n; i++) await png(join(root, 'images', `${prefix}_${String(i).padStart(4, '0')}_0.png`), 60 + i);
  return root;
}

test('--split-by collection: the held-out collection and a negative source whole in valid, none in train', async () => {
  const root = mkdtempSync(join(tmpdir(), 'cxr-coll-'));
  const cx = await cxnetFolder(join(root, 'cxnet'), 6);
  const pos = join(root, 'other', 'COVID-19');
  mkdirSync(pos, { recursive: true });
  for (let i = 0; i < 14; i++) await png(join(pos, `o${i}.png`), 120 + i);
  const sources: SourceSpec[] = [
    { kind: 'cxnet', path: cx, options: { adults: 'yes', minage: '18' } },
    { kind: 'folder', path: join(root, 'other'), options: { rule: 'stem' } },
    { kind: 'tb-screening', path: await normals(join(root, 'siteA'), 'A', 14), options: {} },
    { kind: 'tb-screening', path: await normals(join(root, 'siteB'), 'B', 10), options: {} },
    { kind: 'tb-screening', path: await normals(join(root, 'siteC'), 'C', 4), options: {} },
  ];
  writeFileSync(join(root, 'map.json'), JSON.stringify({ 'COVID-19': 'covid', '*': 'non-covid' }));
  const base = { sources, labelMap: join(root, 'map.json'), views: ['PA', 'AP'], verify: 'none' as const, seed: 2 };
  const out = join(root, 'out');
  const r = await buildDataset({ ...base, splitBy: 'collection', out, onError: 'skip' });
  const cxRows = r.rows.filter((x) => x.source === 'cxnet');
  assert.equal(cxRows.length, 10, '4 fixture rows + 6 extra pass the filters');
  assert.ok(
    cxRows.every((x) => x.split === 'valid'),
    'every cxnet image in valid',
  );
  assert.equal(r.rows.filter((x) => x.split === 'train' && x.source === 'cxnet').length, 0);
  // 10 held-out positives: siteB (10 images) is the closest negative source in size.
  assert.deepEqual([...new Set(r.rows.filter((x) => x.split === 'valid').map((x) => x.source))].sort(), [
    'cxnet',
    'siteB',
  ]);
  assert.deepEqual([...new Set(r.rows.filter((x) => x.split === 'train').map((x) => x.source))].sort(), [
    'other',
    'siteA',
    'siteC',
  ]);
  const design = r.summary.notes[0]!;
  assert.match(design, /^validation design: split by collection/);
  assert.match(design, /train on the 'covid' images of other; validate on those of cxnet and the negatives of siteB/);
  assert.ok(
    r.summary.notes.some((n) => n.includes('split by collection: train 3 group(s), valid 2 group(s)')),
    r.summary.notes.join(' / '),
  );
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { splitBy: string };
  assert.equal(summary.splitBy, 'collection');
  const train = r.rows.filter((x) => x.split === 'train');
  const valid = r.rows.filter((x) => x.split === 'valid');
  const p = decideProtocol(valid, train, 'collection');
  assert.equal(p.protocol, 'source-held-out');
  assert.match(p.why, /cxnet, siteB/);
  // The same rows under a patient split would be internal: the sources fed training.
  assert.equal(decideProtocol(r.rows, train, 'patient').protocol, 'internal');

  // The other direction, and a chosen negative source.
  const back = await buildDataset({
    ...base,
    splitBy: 'collection',
    holdOut: 'other',
    holdOutNegatives: ['siteA'],
    out: join(root, 'back'),
    onError: 'skip',
  });
  assert.ok(back.rows.filter((x) => x.source === 'other' || x.source === 'siteA').every((x) => x.split === 'valid'));
  assert.ok(back.rows.filter((x) => x.source === 'cxnet').every((x) => x.split === 'train'));

  // A patient split says so.
  const pat = await buildDataset({ ...base, out: join(root, 'pat'), onError: 'skip' });
  assert.match(pat.summary.notes[0]!, /^validation design: patient-level split/);
  await assert.rejects(
    buildDataset({ ...base, splitBy: 'collection', holdOut: 'nope', out: join(root, 'x'), onError: 'skip' }),
    /no source 'nope' to hold out/,
  );
  await assert.rejects(
    buildDataset({ ...base, splitBy: 'collection', split: '0.6,0.2,0.2', out: join(root, 'y'), onError: 'skip' }),
    /makes two splits/,
  );
});

test('collectionSplit: positives of only one collection cannot be held out', () => {
  const rows = [
    { label: 'covid', source: 'cxnet' },
    { label: 'non-covid', source: 'nih' },
    { label: 'non-covid', source: 'shenzhen' },
  ];
  assert.throws(() => collectionSplit(rows, parseSplit('0.7,0.3'), {}), /only cxnet has 'covid' images/);
  assert.throws(
    () =>
      collectionSplit([...rows, { label: 'covid', source: 'cc' }], parseSplit('0.7,0.3'), {
        holdOutNegatives: ['nih', 'shenzhen'],
      }),
    /leaves none to train/,
  );
});

test('adult-mixed reads cxnet only when asked, and refuses a missing folder', () => {
  const empty = mkdtempSync(join(tmpdir(), 'cxr-am-none-'));
  const has = (d: string, o = {}) =>
    adultMixedPreset(d, o).sources.some((s) => typeof s !== 'string' && s.kind === 'cxnet');
  assert.equal(has(empty), false);
  assert.ok(adultMixedPreset(empty).notes!.some((n) => n.includes('every positive comes from one source')));
  assert.throws(() => adultMixedPreset(empty, { cxnet: true }), /cxnet.*metadata\.csv not found/);
  mkdirSync(join(empty, 'cxnet'));
  writeFileSync(join(empty, 'cxnet', 'metadata.csv'), `${HEADER}\n`);
  assert.equal(has(empty), false, 'off by default even when the folder is there');
  assert.equal(has(empty, { cxnet: true }), true);
  const notes = adultMixedPreset(empty, { cxnet: true }).notes!;
  assert.ok(notes.some((n) => /every other image counts as its own patient/.test(n)));
  assert.ok(notes.some((n) => /--split-by collection/.test(n)));
});

test('cxnet on ../shared/data: 508 images, 198 known patients, 12 pediatric', { skip: skipReal }, () => {
  const r = readCxnet(join(DATA, 'cxnet'));
  assert.deepEqual(r.problems, []);
  assert.equal(r.rows.length, 508);
  const known = r.rows.filter((x) => x.extra.patient_id_known === 'yes');
  assert.equal(new Set(known.map((x) => x.patientId)).size, 198);
  assert.equal(r.rows.filter((x) => x.extra.pediatric === 'yes').length, 12);
  assert.equal(r.rows.filter((x) => x.extra.no_visible_abnormality === 'yes').length, 34);
  assert.equal(readCxnet(join(DATA, 'cxnet'), { adults: true }).rows.length, 496);
});
