// The pieces of the PACS link without a PACS: result UIDs (2.25 scheme, deterministic),
// the chest filter, the SR and the secondary capture as dcmjs writes and reads them, the
// SR dump, multipart/related, and the SQLite worklist (idempotent, cursor saved with items).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nameUid, uuidToUid, randomUid } from '../../src/app/pacs/dicomUid.js';
import { skipReason } from '../../src/app/pacs/chestFilter.js';
import { readDicomFile, writeDicomFile, str, type Dataset } from '../../src/app/pacs/dicomFile.js';
import { buildScreeningSr, srProbability, SR_DISCLAIMER } from '../../src/app/pacs/screeningSr.js';
import { buildOverlaySc, renderOverlay } from '../../src/app/pacs/overlaySc.js';
import { resultUids } from '../../src/app/pacs/resultUids.js';
import { readSourceHeader } from '../../src/app/pacs/sourceHeader.js';
import { dumpSr } from '../../src/app/pacs/srDump.js';
import { boundaryOf, buildMultipart, parseMultipart } from '../../src/app/pacs/multipartRelated.js';
import { packFiles, unpackFiles } from '../../src/app/pacs/outbox.js';
import { WorklistStore } from '../../src/app/pacs/worklistStore.js';
import { taskFor } from '../../src/data/task.js';
import { cxrDicom } from './cxrDicom.js';

test('UIDs: 2.25 + the UUID as an integer; name-based ones are stable and distinct', () => {
  // The example of ISO/IEC 9834-8 / PS3.5 B.2.
  assert.equal(uuidToUid('f81d4fae-7dec-11d0-a765-00a0c91e6bf6'), '2.25.329800735698586629295641978511506172918');
  assert.equal(uuidToUid('00000000-0000-0000-0000-000000000001'), '2.25.1');
  const a = nameUid('sr', '1.2.3', 'abc');
  assert.equal(a, nameUid('sr', '1.2.3', 'abc'));
  assert.notEqual(a, nameUid('sc', '1.2.3', 'abc'));
  assert.notEqual(a, nameUid('sr', '1.2.3', 'abd'));
  for (const u of [a, randomUid()]) {
    assert.match(u, /^2\.25\.[1-9]\d*$/);
    assert.ok(u.length <= 64);
  }
  // Version 8 and the RFC 9562 variant are set in the 128 bits.
  const hex = BigInt(a.slice(5)).toString(16).padStart(32, '0');
  assert.equal(hex[12], '8');
  assert.ok(['8', '9', 'a', 'b'].includes(hex[16]!));
});

test('chest filter: frontal CR/DX chest only, each refusal says why', () => {
  const ok = { modality: 'CR', bodyPart: 'CHEST', view: 'PA', imageType: ['ORIGINAL', 'PRIMARY'] };
  assert.equal(skipReason(ok), null);
  assert.equal(skipReason({ ...ok, modality: 'DX', view: 'AP', bodyPart: 'thorax' }), null);
  assert.equal(skipReason({ ...ok, modality: 'CT' }), 'modality CT is not CR or DX');
  assert.equal(skipReason({ ...ok, bodyPart: '' }), 'BodyPartExamined is missing (need CHEST)');
  assert.equal(skipReason({ ...ok, bodyPart: 'KNEE' }), 'BodyPartExamined KNEE is not CHEST');
  assert.equal(skipReason({ ...ok, view: 'LL' }), 'ViewPosition LL is not a frontal view (PA or AP)');
  assert.equal(skipReason({ ...ok, view: '' }), 'ViewPosition is missing (need PA or AP)');
  assert.match(skipReason({ ...ok, imageType: ['DERIVED', 'SECONDARY'] })!, /SECONDARY/);
  assert.equal(skipReason({ ...ok, imageType: ['ORIGINAL', 'PRIMARY', 'LOCALIZER'] }), 'ImageType is LOCALIZER');
});

const MODEL = {
  arch: 'mobilenet_v2',
  version: '2026-11-26T10:00:00Z',
  sha256: 'ab'.repeat(32),
  software: 'cxrtune 0.1.0',
};

test(
  'SR: written by dcmjs, read back: probability exact, ' + 'decision, model, disclaimer, references, patient copied',
  () => {
    const src = readSourceHeader(cxrDicom({ patientName: 'Doe^Jane', patientId: 'MRN-1' }).bytes);
    const p = 0.7306720018386841; // a float32 probability as the engine returns it
    const uids = resultUids(src.studyUid, src.sopUid, MODEL.sha256);
    const task = taskFor(['normal', 'covid'], 1);
    const f = { probability: p, threshold: 0.5, positive: true, label: 'covid', positiveClass: 'covid', task };
    const sr = readDicomFile(writeDicomFile(buildScreeningSr(src, f, MODEL, uids)));
    assert.equal(srProbability(sr), p);
    assert.equal(str(sr, 'SOPInstanceUID'), uids.srSop);
    assert.equal(str(sr, 'StudyInstanceUID'), src.studyUid);
    assert.equal(str(sr, 'PatientName'), 'Doe^Jane');
    assert.equal(str(sr, 'PatientID'), 'MRN-1');
    assert.equal(str(sr, 'Modality'), 'SR');
    assert.equal(str(sr, 'VerificationFlag'), 'UNVERIFIED');
    const content = sr.ContentSequence as Dataset[];
    const num = content.find((c) => c.ValueType === 'NUM')!;
    const mv = (num.MeasuredValueSequence as Dataset[])[0]!;
    assert.equal(Number(mv.NumericValue), 0.7306720018); // DS: 10 significant digits
    const texts = content.filter((c) => c.ValueType === 'TEXT').map((c) => c.TextValue);
    assert.deepEqual(texts, [
      'cxrtune',
      'cxrtune',
      'mobilenet_v2',
      'cxrtune mobilenet_v2',
      MODEL.version,
      MODEL.sha256,
      'positive: COVID-19 pneumonia (probability 0.731 >= threshold 0.5)',
      SR_DISCLAIMER,
    ]);
    const evidence = (sr.CurrentRequestedProcedureEvidenceSequence as Dataset[])[0]!;
    const refs = (evidence.ReferencedSeriesSequence as Dataset[]).map(
      (s) => (s.ReferencedSOPSequence as Dataset[])[0]!.ReferencedSOPInstanceUID,
    );
    assert.deepEqual(refs, [src.sopUid, uids.scSop]);
    const dump = dumpSr(sr);
    assert.match(
      dump,
      new RegExp(
        /CONTAINS NUM \(probability, 99CXRTUNE, "Probability of COVID-19 pneumonia"\) = /.source +
          /0\.7306720018 \[FD 0\.7306720018386841\]/.source,
      ),
    );
    assert.match(
      dump,
      new RegExp(
        `INFERRED FROM IMAGE \\(121112, DCM, "Source of Measurement"\\) = SOP class ` +
          `1\\.2\\.840\\.10008\\.5\\.1\\.4\\.1\\.1\\.1, instance ${src.sopUid.replace(/\./g, '\\.')}`,
      ),
    );
    // Negative side of the threshold.
    const neg = readDicomFile(
      writeDicomFile(buildScreeningSr(src, { ...f, probability: 0.2, positive: false, label: 'normal' }, MODEL, uids)),
    );
    assert.ok(
      (neg.ContentSequence as Dataset[]).some(
        (c) => c.TextValue === 'negative: normal (probability of COVID-19 pneumonia 0.200 < threshold 0.5)',
      ),
    );
  },
);

test('SR of a tuberculosis model: the coded finding is pulmonary TB (SNOMED CT), the words never COVID-19', () => {
  const src = readSourceHeader(cxrDicom().bytes);
  const uids = resultUids(src.studyUid, src.sopUid, MODEL.sha256);
  const task = taskFor(['normal', 'tuberculosis'], 1);
  const f = {
    probability: 0.81,
    threshold: 0.32,
    positive: true,
    label: 'tuberculosis',
    positiveClass: 'tuberculosis',
  };
  const sr = readDicomFile(writeDicomFile(buildScreeningSr(src, { ...f, task }, MODEL, uids)));
  const content = sr.ContentSequence as Dataset[];
  const first = (v: unknown) => (Array.isArray(v) ? v[0] : v) as Dataset;
  const coded = content.filter((c) => c.ValueType === 'CODE').map((c) => [first(c.ConceptNameCodeSequence), c]);
  const screened = coded.find(([n]) => n.CodeValue === 'screened-for');
  assert.ok(screened, 'a CODE item names the finding screened for');
  const [name, it] = screened;
  assert.equal(name.CodingSchemeDesignator, '99CXRTUNE');
  const value = first(it.ConceptCodeSequence);
  assert.deepEqual(
    [value.CodeValue, value.CodingSchemeDesignator, value.CodeMeaning],
    ['154283005', 'SCT', 'Pulmonary tuberculosis'],
  );
  const numName = first(content.find((c) => c.ValueType === 'NUM')!.ConceptNameCodeSequence);
  assert.equal(numName.CodeMeaning, 'Probability of tuberculosis');
  assert.ok(content.some((c) => c.TextValue === 'positive: tuberculosis (probability 0.810 >= threshold 0.32)'));
  const dump = dumpSr(sr);
  assert.match(
    dump,
    /CONTAINS CODE \(screened-for, 99CXRTUNE, "Finding screened for"\) = \(154283005, SCT, "Pulmonary tuberculosis"\)/,
  );
  assert.doesNotMatch(dump, /covid/i);
  // The COVID-19 model's SR carries its own code (SNOMED CT 840539006).
  const covid = dumpSr(
    readDicomFile(
      writeDicomFile(
        buildScreeningSr(
          src,
          { ...f, positiveClass: 'covid', label: 'covid', task: taskFor(['normal', 'covid'], 1) },
          MODEL,
          uids,
        ),
      ),
    ),
  );
  assert.match(covid, /= \(840539006, SCT, "COVID-19"\)/);
  assert.doesNotMatch(covid, /tuberculosis/i);
});

test('secondary capture: RGB overlay; where heat is 0 the pixels are the grey input', async () => {
  const src = readSourceHeader(cxrDicom().bytes);
  const S = 64;
  const pixels = new Uint8Array(S * S).map((_, i) => i % 256);
  const heat = new Float32Array(S * S);
  heat[0] = 1;
  const ov = await renderOverlay({ width: S, height: S, pixels }, heat);
  assert.equal(ov.width, 512); // 64 × 8
  const uids = resultUids(src.studyUid, src.sopUid, MODEL.sha256);
  const sc = readDicomFile(
    writeDicomFile(
      buildOverlaySc(
        src,
        {
          probability: 0.4,
          threshold: 0.5,
          positive: false,
          label: 'normal',
          positiveClass: 'tuberculosis',
          task: taskFor(['normal', 'tuberculosis'], 1),
        },
        MODEL,
        uids,
        ov,
      ),
    ),
  );
  assert.equal(str(sc, 'PhotometricInterpretation'), 'RGB');
  assert.equal(str(sc, 'SOPClassUID'), '1.2.840.10008.5.1.4.1.1.7');
  assert.equal(sc.Rows, 512);
  const px = new Uint8Array((sc.PixelData as ArrayBuffer[])[0]!);
  assert.equal(px.length, 512 * 512 * 3);
  // A pixel far from the hot one: grey (R = G = B).
  const i = (400 * 512 + 400) * 3;
  assert.equal(px[i], px[i + 1]);
  assert.equal(px[i + 1], px[i + 2]);
  // The hot corner is coloured (turbo at 1 is dark red: R > B).
  assert.ok(px[0]! > px[2]!);
});

test('multipart/related: binary parts round-trip; quoted boundary; outbox packing', () => {
  const a = Buffer.from([0, 13, 10, 45, 45, 1, 2, 255]);
  const b = Buffer.from('--not-the-boundary\r\n\r\nstill data');
  const body = buildMultipart(
    [
      { type: 'application/dicom', body: a },
      { type: 'application/dicom', body: b },
    ],
    'XyZ',
  );
  const parts = parseMultipart(body, boundaryOf('multipart/related; type="application/dicom"; boundary="XyZ"')!);
  assert.equal(parts.length, 2);
  assert.deepEqual(parts[0]!.body, a);
  assert.deepEqual(parts[1]!.body, b);
  assert.equal(parts[0]!.headers['content-type'], 'application/dicom');
  assert.throws(() => parseMultipart(body.subarray(0, body.length - 10), 'XyZ'), /closing boundary/);
  assert.deepEqual(unpackFiles(packFiles([a, b])), [a, b]);
});

test(
  'worklist store: an instance is kept once per model; ' + 'the cursor moves with the items; order by probability',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'cxrtune-worklist-'));
    try {
      const s = new WorklistStore(join(dir, 'w.sqlite'));
      assert.equal(s.cursor(), null);
      const added = s.addReceived(
        [
          { source: 'pacs', sopUid: '1.2.1' },
          { source: 'pacs', sopUid: '1.2.2' },
          { source: 'pacs', sopUid: '1.2.3' },
        ],
        'm1',
        { name: 'orthanc', seq: 7 },
      );
      assert.equal(added.length, 3);
      assert.deepEqual(s.addReceived([{ source: 'pacs', sopUid: '1.2.1' }], 'm1', { name: 'orthanc', seq: 9 }), []);
      assert.equal(
        s.addReceived([{ source: 'pacs', sopUid: '1.2.1' }], 'm2').length,
        1,
        'another model screens it again',
      );
      assert.equal(s.cursor(), 9);
      s.update(added[0]!, { status: 'sent', probability: 0.2 });
      s.update(added[1]!, { status: 'screened', probability: 0.9, srUid: '2.25.5' });
      assert.deepEqual(
        s.list({ modelSha256: 'm1' }).map((i) => i.probability),
        [0.9, 0.2, null],
      );
      assert.ok(s.isResult('2.25.5'));
      assert.equal(s.due(Date.now(), 10, new Set()).length, 3); // screened + two received (m1, m2)
      s.close();
      const again = new WorklistStore(join(dir, 'w.sqlite'));
      assert.equal(again.cursor(), 9);
      assert.deepEqual(again.counts(), { received: 2, skipped: 0, screened: 1, sent: 1, failed: 0 });
      again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('SR of a three-class model: one NUM per class, the decision names the class called', () => {
  const src = readSourceHeader(cxrDicom().bytes);
  const uids = resultUids(src.studyUid, src.sopUid, MODEL.sha256);
  const task = taskFor(['covid', 'pneumonia', 'normal'], 0);
  const f = {
    probability: 0.2,
    threshold: 0.5,
    positive: false,
    label: 'pneumonia',
    positiveClass: 'covid',
    task,
    probabilities: { covid: 0.2, pneumonia: 0.7, normal: 0.1 },
  };
  const sr = readDicomFile(writeDicomFile(buildScreeningSr(src, f, MODEL, uids)));
  const content = sr.ContentSequence as Dataset[];
  const first = (v: unknown) => (Array.isArray(v) ? v[0] : v) as Dataset;
  const nums = content
    .filter((c) => c.ValueType === 'NUM')
    .map((c) => [first(c.ConceptNameCodeSequence).CodeValue, first(c.MeasuredValueSequence).FloatingPointValue]);
  assert.deepEqual(nums, [
    ['probability', 0.2],
    ['probability-pneumonia', 0.7],
    ['probability-normal', 0.1],
    ['threshold', 0.5],
  ]);
  assert.equal(srProbability(sr), 0.2); // the positive class's, as before
  const decision = content.find((c) => first(c.ConceptNameCodeSequence).CodeValue === 'decision')!.TextValue;
  assert.match(String(decision), /^negative: Pneumonia/i);
  // Two classes: no per-class items.
  const two = buildScreeningSr(src, { ...f, probabilities: { normal: 0.8, covid: 0.2 } }, MODEL, uids);
  assert.equal((two.ContentSequence as Dataset[]).filter((c) => c.ValueType === 'NUM').length, 2);
});
