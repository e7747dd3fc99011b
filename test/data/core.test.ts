import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, hashSeed } from '../../src/util/rng.js';
import { parseCsv, parseCsvRows, formatCsv, requireColumns } from '../../src/data/csv.js';
import { patientIdRule } from '../../src/data/patientId.js';
import { assignSplits, findPatientLeaks, parseSplit } from '../../src/data/split.js';
import { drawEven, oversample, undersample, countBy } from '../../src/data/balance.js';
import { LabelMap, LABEL_MAP_PRESETS } from '../../src/data/labelMap.js';
import { defaultClasses, formatManifest, manifestPathFor } from '../../src/data/manifest.js';
import { parseSourceSpec } from '../../src/data/sources/sourceSpec.js';
import { summarise } from '../../src/data/summary.js';

test('Rng: seeded, reproducible, uniform-ish', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const xs = Array.from({ length: 1000 }, () => a.next());
  assert.deepEqual(
    xs,
    Array.from({ length: 1000 }, () => b.next()),
  );
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.03);
  assert.notEqual(new Rng(1).next(), new Rng(2).next());
  assert.equal(hashSeed('a', 1), hashSeed('a', 1));
  assert.notEqual(hashSeed('a', 1), hashSeed('a1'));
  assert.deepEqual(new Rng(3).shuffle([1, 2, 3, 4, 5]).sort(), [1, 2, 3, 4, 5]);
});

test('CSV: quotes, commas, newlines, BOM; round trip', () => {
  const rows = parseCsvRows('\ufeffa,b\n"x, y","he said ""hi"""\n"multi\nline",2\n');
  assert.deepEqual(rows, [
    ['a', 'b'],
    ['x, y', 'he said "hi"'],
    ['multi\nline', '2'],
  ]);
  const text = formatCsv(['a', 'b'], [{ a: 'x, y', b: 'q"q' }]);
  assert.equal(text, 'a,b\n"x, y","q""q"\n');
  const t = parseCsv(text, 'f.csv');
  assert.equal(t.records[0].values.b, 'q"q');
  assert.equal(t.records[0].line, 2);
  assert.throws(
    () => requireColumns(t, ['a', 'label'], 'f.csv'),
    /^Error: f\.csv: missing column 'label' \(has: a, b\)$/,
  );
});

test('patient-id rules: Kermany and NIH namings', () => {
  const k = patientIdRule('kermany');
  assert.equal(k('person123_bacteria_456.jpeg'), 'person123');
  assert.equal(k('person1_virus_8_2.jpeg'), 'person1');
  assert.equal(k('IM-0115-0001.jpeg'), 'IM-0115');
  assert.equal(k('IM-0115-0001-0002.jpeg'), 'IM-0115');
  assert.equal(k('NORMAL2-IM-1427-0001.jpeg'), 'NORMAL2-IM-1427');
  assert.equal(k('random.png'), null);
  const n = patientIdRule('nih');
  assert.equal(n('00001280_004.jpg'), '00001280');
  assert.equal(n('00001280.jpg'), null);
  assert.equal(patientIdRule('regex:^(P\\d+)-')('P17-scan2.png'), 'P17');
  assert.equal(patientIdRule('stem')('x/y/abc.png'), 'abc');
  assert.throws(() => patientIdRule('bogus'), /unknown patient-id rule 'bogus'/);
});

test('split: hand case — patients never straddle, fractions per label', () => {
  // 10 patients of label a with 1 image, 1 patient of label a with 4 images, 10 of label b.
  const rows = [
    ...Array.from({ length: 10 }, (_, i) => ({ label: 'a', patientId: `a${i}` })),
    ...Array.from({ length: 4 }, () => ({ label: 'a', patientId: 'big' })),
    ...Array.from({ length: 10 }, (_, i) => ({ label: 'b', patientId: `b${i}` })),
  ];
  const spec = parseSplit('0.7,0.3');
  assert.deepEqual(spec.names, ['train', 'valid']);
  const s = assignSplits(rows, spec, 5);
  const withSplit = rows.map((r, i) => ({ ...r, split: s[i] }));
  assert.deepEqual(findPatientLeaks(withSplit), []);
  const big = new Set(withSplit.filter((r) => r.patientId === 'big').map((r) => r.split));
  assert.equal(big.size, 1);
  // label a: 14 images → target 9.8 / 4.2; label b: 10 → 7 / 3 exactly.
  assert.equal(withSplit.filter((r) => r.label === 'b' && r.split === 'train').length, 7);
  const aTrain = withSplit.filter((r) => r.label === 'a' && r.split === 'train').length;
  assert.ok(aTrain === 10 || aTrain === 9, `a train ${aTrain}`);
  assert.deepEqual(assignSplits(rows, spec, 5), s, 'same seed → same split');
  assert.notDeepEqual(assignSplits(rows, spec, 6), s, 'other seed → other split');
  const three = parseSplit('0.6,0.2,0.2');
  assert.deepEqual(three.names, ['train', 'valid', 'test']);
  const s3 = assignSplits(
    rows.filter((r) => r.label === 'b'),
    three,
    1,
  );
  assert.deepEqual(
    countBy(s3, (x) => x),
    { train: 6, valid: 2, test: 2 },
  );
  assert.throws(() => parseSplit('0.7,abc'), /invalid split/);
  assert.deepEqual(
    findPatientLeaks([
      { patientId: 'p', split: 'train' },
      { patientId: 'p', split: 'valid' },
    ]),
    [{ patientId: 'p', splits: ['train', 'valid'] }],
  );
});

test('balance: drawEven spreads over groups; undersample/oversample counts', () => {
  const items = [...Array(10).fill('x'), ...Array(3).fill('y'), ...Array(10).fill('z')].map((g, i) => ({ g, i }));
  const d = drawEven(items, 9, (t) => t.g, new Rng(1));
  assert.deepEqual(
    countBy(d, (t) => t.g),
    { x: 3, y: 3, z: 3 },
  );
  const d2 = drawEven(items, 13, (t) => t.g, new Rng(1));
  // y has only 3: the other 10 split 5/5.
  assert.deepEqual(
    countBy(d2, (t) => t.g),
    { x: 5, y: 3, z: 5 },
  );
  const rows = [...Array(4).fill('pos'), ...Array(10).fill('neg')].map((label, i) => ({ label, i }));
  assert.deepEqual(
    countBy(undersample(rows, 1), (r) => r.label),
    { pos: 4, neg: 4 },
  );
  const over = oversample(rows, 1);
  assert.deepEqual(
    countBy(over, (r) => r.label),
    { pos: 10, neg: 10 },
  );
  assert.ok(over.slice(14).every((r) => r.label === 'pos' && r.i < 4));
});

test('label map: first match wins, null drops, unknown is undefined', () => {
  const m = new LabelMap([
    { pattern: 'COVID-19*', target: 'covid' },
    { pattern: 'No Finding', target: 'normal' },
    { pattern: 'SARS', target: null },
  ]);
  assert.equal(m.map('COVID-19, ARDS'), 'covid');
  assert.equal(m.map('no finding'), 'normal');
  assert.equal(m.map('SARS'), null);
  assert.equal(m.map('Legionella'), undefined);
  const id = new LabelMap(LABEL_MAP_PRESETS.identity);
  assert.equal(id.map('No_findings'), 'no-findings');
});

test('manifest helpers: class order, paths, serialisation, source specs', () => {
  assert.deepEqual(defaultClasses(['covid', 'normal', 'covid']), ['normal', 'covid']);
  assert.deepEqual(defaultClasses(['b', 'a', 'non-covid']), ['non-covid', 'a', 'b']);
  assert.equal(manifestPathFor('/d/out', '/d/out/images/x.png'), 'images/x.png');
  assert.equal(manifestPathFor('/d/out', '/data/x.png'), '/data/x.png');
  const text = formatManifest([
    { path: 'a.png', label: 'covid', patientId: 'p1', source: 's', view: 'PA', split: 'train', extra: { note: 'x,y' } },
  ]);
  assert.equal(text, 'path,label,patient_id,source,view,split,note\na.png,covid,p1,s,PA,train,"x,y"\n');
  assert.deepEqual(parseSourceSpec('folder:/data/kermany:rule=kermany,classes=NORMAL|PNEUMONIA'), {
    kind: 'folder',
    path: '/data/kermany',
    options: { rule: 'kermany', classes: 'NORMAL|PNEUMONIA' },
  });
  assert.deepEqual(parseSourceSpec('covid-chestxray:/x'), { kind: 'covid-chestxray', path: '/x', options: {} });
  assert.throws(() => parseSourceSpec('zip:/x'), /unknown kind 'zip'/);
  assert.throws(() => parseSourceSpec('folder:/x:colour=red'), /unknown option 'colour' for folder/);
  const s = summarise([
    { path: 'a', label: 'covid', patientId: 'p1', source: 's1', view: '', split: 'train', extra: {} },
    { path: 'b', label: 'covid', patientId: 'p1', source: 's1', view: '', split: 'train', extra: {} },
    { path: 'c', label: 'normal', patientId: 'p2', source: 's2', view: '', split: 'valid', extra: {} },
  ]);
  assert.deepEqual(s.counts, { covid: { s1: { train: 2 } }, normal: { s2: { valid: 1 } } });
  assert.deepEqual(s.patientsPerSplit, { train: 1, valid: 1 });
  assert.equal(s.sharedPatients, 0);
});
