import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCsv, parseCsvRows } from '../../src/data/csv.js';

test('CSV: a quote that never closes is an error naming the line it opens on', () => {
  // Line 3 opens a quote; without the error the rest of the file would become one field.
  const text = 'path,label\na.png,covid\n"b.png,normal\nc.png,covid\nd.png,normal\n';
  assert.throws(() => parseCsv(text, 'm.csv'), /^Error: m\.csv: line 3: a quoted field never closes/);
  // The quote opens on line 4 inside a record that starts on line 2 (its first field spans lines).
  const later = 'path,note\n"a\nb\n.png","ok\nc.png,x\n';
  assert.throws(() => parseCsv(later, 'n.csv'), /^Error: n\.csv: line 4: a quoted field never closes/);
  assert.throws(() => parseCsvRows('a,b\n"x'), /^Error: CSV: line 2: a quoted field never closes/);
});

test('CSV: line numbers count the lines inside quoted fields', () => {
  const text = 'path,note\na.png,"two\nlines"\nb.png,plain\n\n"c\r\n.png",x\nd.png,y\n';
  const t = parseCsv(text, 'f.csv');
  assert.deepEqual(
    t.records.map((r) => [r.line, r.values.path]),
    [
      [2, 'a.png'],
      [4, 'b.png'],
      [6, 'c\r\n.png'],
      [8, 'd.png'],
    ],
  );
  // Windows line ends: the same numbering.
  const crlf = parseCsv('a,b\r\n"x\r\ny",1\r\nz,2\r\n', 'w.csv');
  assert.deepEqual(
    crlf.records.map((r) => [r.line, r.values.a]),
    [
      [2, 'x\r\ny'],
      [4, 'z'],
    ],
  );
});

test('CSV: any line end ends a record, as before, in a file that mixes them too', () => {
  assert.deepEqual(parseCsvRows('a,b\nx,y\r\nz,w\rq,"1\r\n2"\n'), [
    ['a', 'b'],
    ['x', 'y'],
    ['z', 'w'],
    ['q', '1\r\n2'],
  ]);
  assert.throws(
    () => parseCsv('a,b\r\n1,2\r\n\r\nx,"abc\r\n\r\ndef\r\n', 'w.csv'),
    /^Error: w\.csv: line 4: a quoted field never closes/,
  );
});

test('CSV: short rows read as empty fields; blank lines are not records', () => {
  const t = parseCsv('a,b,c\n1\n\n2,3\n', 'f.csv');
  assert.deepEqual(
    t.records.map((r) => [r.line, r.values]),
    [
      [2, { a: '1', b: '', c: '' }],
      [4, { a: '2', b: '3', c: '' }],
    ],
  );
});
