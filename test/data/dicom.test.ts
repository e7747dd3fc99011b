import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeDicom, hashPatientId } from '../../src/data/dicom.js';
import { decodeImage } from '../../src/data/image.js';
import { readDicomSource } from '../../src/data/sources/dicom.js';
import { encodeDicom } from './helpers/dicomWriter.js';

test('16-bit MONOCHROME2 without window: min–max to 0..255', async () => {
  const d = await decodeDicom(encodeDicom({ rows: 2, columns: 2, values: [0, 100, 200, 300] }));
  assert.deepEqual([...d.pixels], [0, 85, 170, 255]);
  assert.equal(d.patientId, 'PAT001');
  assert.equal(d.view, 'PA');
});

test('MONOCHROME1 is inverted', async () => {
  const d = await decodeDicom(
    encodeDicom({ rows: 1, columns: 4, values: [0, 100, 200, 300], photometric: 'MONOCHROME1' }),
  );
  assert.deepEqual([...d.pixels], [255, 170, 85, 0]);
});

test('8-bit, rescale slope/intercept and VOI window (hand-computed, PS3.3 C.11.2.1.2)', async () => {
  // stored 0,10,20,30,40 → ×2 −10 → −10,10,30,50,70; window c=30.5 w=41 → lo=10, hi=50:
  // y = ((x − 30)/40 + 0.5)·255 → x=10: 0 (≤ lo), 30: 127.5→128, 50: 255, 70: 255, −10: 0
  const d = await decodeDicom(
    encodeDicom({
      rows: 1,
      columns: 5,
      bitsAllocated: 8,
      values: [0, 10, 20, 30, 40],
      slope: 2,
      intercept: -10,
      windowCenter: 30.5,
      windowWidth: 41,
    }),
  );
  assert.deepEqual([...d.pixels], [0, 0, 128, 255, 255]);
});

test('signed 12-bit data is sign-extended before rescale', async () => {
  // bitsStored 12: 0x800 = −2048, 0xFFF = −1, 0x7FF = 2047 → (−1+2048)/4095·255 = 127.47
  const d = await decodeDicom(
    encodeDicom({ rows: 1, columns: 3, values: [0x800, 0xfff, 0x7ff], bitsStored: 12, signed: true }),
  );
  assert.deepEqual([...d.pixels], [0, 127, 255]);
});

test('JPEG baseline encapsulated frame decodes via sharp', async () => {
  const raw = new Uint8Array(16 * 16).map((_, i) => (i % 16 < 8 ? 40 : 200));
  const jpg = await sharp(raw, { raw: { width: 16, height: 16, channels: 1 } })
    .jpeg({ quality: 100 })
    .toBuffer();
  const d = await decodeDicom(encodeDicom({ rows: 16, columns: 16, bitsAllocated: 8, frame: jpg }));
  assert.equal(d.transferSyntax, '1.2.840.10008.1.2.4.50');
  assert.ok(Math.abs(d.pixels[16 * 8 + 2] - 40) <= 4, `left ${d.pixels[16 * 8 + 2]}`);
  assert.ok(Math.abs(d.pixels[16 * 8 + 13] - 200) <= 4, `right ${d.pixels[16 * 8 + 13]}`);
});

test('unsupported transfer syntax names the UID and the syntax', async () => {
  const buf = encodeDicom({
    rows: 16,
    columns: 16,
    frame: new Uint8Array([0xff, 0x4f, 0xff, 0x51]),
    transferSyntax: '1.2.840.10008.1.2.4.90',
  });
  await assert.rejects(
    decodeDicom(buf, 'scan.dcm'),
    /scan\.dcm: unsupported DICOM transfer syntax 1\.2\.840\.10008\.1\.2\.4\.90 \(JPEG 2000 Lossless\)/,
  );
});

test('truncated DICOM gives one clear error naming the file', async () => {
  const buf = encodeDicom({ rows: 32, columns: 32, truncate: 600 });
  await assert.rejects(
    decodeDicom(buf, 'cut.dcm'),
    (e: Error) =>
      e.message.startsWith('cut.dcm: ') && /truncated|not a readable/.test(e.message) && !e.message.includes('\n'),
  );
});

test('decodeImage handles DICOM files and resizes them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cxr-dcm-'));
  const f = join(dir, 'a.dcm');
  writeFileSync(
    f,
    encodeDicom({ rows: 20, columns: 20, values: Array.from({ length: 400 }, (_, i) => (i % 20 < 10 ? 0 : 1000)) }),
  );
  const img = await decodeImage(f, { size: 10, fit: 'stretch' });
  assert.equal(img.width, 10);
  assert.equal(img.pixels[0], 0);
  assert.equal(img.pixels[9], 255);
});

test('DICOM source: labels by file or PatientID, ids hashed, problems listed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cxr-dcmsrc-'));
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'a.dcm'), encodeDicom({ rows: 16, columns: 16, patientId: 'ALICE' }));
  writeFileSync(join(dir, 'sub', 'b.dcm'), encodeDicom({ rows: 16, columns: 16, patientId: 'BOB', view: 'AP' }));
  writeFileSync(
    join(dir, 'c.dcm'),
    encodeDicom({ rows: 16, columns: 16, transferSyntax: '1.2.840.10008.1.2.4.91', frame: new Uint8Array(4) }),
  );
  writeFileSync(join(dir, 'labels.csv'), 'file,patient_id,label\na.dcm,,covid\n,BOB,normal\nc.dcm,,normal\n');
  const r = readDicomSource(dir, { labels: join(dir, 'labels.csv'), name: 'dcm' });
  assert.deepEqual(
    r.rows.map((x) => [x.rawLabel, x.patientId, x.view]),
    [
      ['covid', `dcm:${hashPatientId('ALICE')}`, 'PA'],
      ['normal', `dcm:${hashPatientId('BOB')}`, 'AP'],
    ],
  );
  assert.equal(r.problems.length, 1);
  assert.match(r.problems[0].message, /unsupported DICOM transfer syntax 1\.2\.840\.10008\.1\.2\.4\.91 \(JPEG 2000\)/);
  assert.ok(!r.rows.some((x) => x.patientId.includes('ALICE')));
});
