// End to end with a real Orthanc (Debian's orthanc + orthanc-dicomweb, started here on a free
// port with its own storage): a chest radiograph uploaded to Orthanc is picked up from the
// change log, screened, and an SR and a Grad-CAM secondary capture appear in its study; the
// SR holds the probability the REST API gives for the same bytes; non-chest instances are
// skipped with the reason; screening again stores nothing new; Orthanc going away, and
// cxrtune restarting meanwhile, loses nothing (the retry queue and cursor live in SQLite).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { ServedModel } from '../../src/app/serve/servedModel.js';
import { buildServer, type Server } from '../../src/app/serve/server.js';
import { readDicomFile, str, type Dataset } from '../../src/app/pacs/dicomFile.js';
import { srProbability, SR_DISCLAIMER } from '../../src/app/pacs/screeningSr.js';
import { resultUids } from '../../src/app/pacs/resultUids.js';
import { buildMultipart } from '../../src/app/pacs/multipartRelated.js';
import type { WorklistItem } from '../../src/app/pacs/worklistStore.js';
import { cxrDicom } from './cxrDicom.js';
import { type Orthanc, orthancSkip, pacsFixture, type PacsFixture } from './orthanc.js';
import { waitFor } from '../helpers/waitFor.js';

const skip = orthancSkip;
let tmp: string;
let served: ServedModel;
let orthanc: Orthanc;

let fixture: PacsFixture | undefined;

before(async () => {
  if (skip) return;
  fixture = await pacsFixture('cxrtune-pacs-e2e-');
  ({ tmp, served, orthanc } = fixture);
});
after(() => fixture?.dispose());

const start = (worklist: string, extra: { fromStart?: boolean; url?: string } = {}) =>
  buildServer(served, {
    db: join(tmp, 'audit.sqlite'),
    port: 0,
    pacs: {
      url: extra.url ?? orthanc.url,
      worklist: join(tmp, worklist),
      pollMs: 100,
      maxBackoffMs: 300,
      ...(extra.fromStart ? { fromStart: true } : {}),
    },
  });

/** Polls the worklist until `done` holds (or fails after HANG_MS, showing the worklist). */
function waitForItems(srv: Server, done: (items: WorklistItem[]) => boolean, what: string): Promise<WorklistItem[]> {
  const items = () => srv.pacs!.store.list();
  return waitFor(
    () => {
      const it = items();
      return done(it) ? it : undefined;
    },
    () => `${what}: ${JSON.stringify(items().map((i) => [i.status, i.reason]))}`,
    { everyMs: 100 },
  );
}

const bySop = (items: WorklistItem[], sop: string) => items.find((i) => i.sopUid === sop);

test('chest CR into Orthanc → SR + secondary capture in its study; same probability as the API; non-chest skipped; ' +
  'idempotent', { skip, timeout: 600_000 }, async () => {
  const srv = await start('worklist-a.sqlite');
  const chest = cxrDicom({ seed: 3, patientName: 'Doe^Jane', patientId: 'MRN-4711' });
  try {
    await waitForItems(srv, () => srv.pacs!.store.cursor() !== null, 'the follower to start');
    const same = { studyUid: chest.studyUid, patientName: 'Doe^Jane', patientId: 'MRN-4711' };
    const hand = cxrDicom({ bodyPart: 'HAND', ...same });
    const lateral = cxrDicom({ view: 'LL', ...same });
    const mr = cxrDicom({ modality: 'MR' });
    for (const d of [chest, hand, lateral, mr]) assert.equal((await orthanc.upload(d.bytes)).status, 'Success');

    const items = await waitForItems(
      srv,
      (it) => it.length === 4 && it.every((i) => i.status === 'sent' || i.status === 'skipped'),
      'all four handled',
    );
    assert.equal(bySop(items, chest.sopUid)!.status, 'sent');
    assert.equal(bySop(items, hand.sopUid)!.reason, 'BodyPartExamined HAND is not CHEST');
    assert.equal(bySop(items, lateral.sopUid)!.reason, 'ViewPosition LL is not a frontal view (PA or AP)');
    assert.equal(bySop(items, mr.sopUid)!.reason, 'modality MR is not CR or DX');

    // In Orthanc: the study now holds the three sources plus exactly one SR and one SC.
    const inStudy = await orthanc.studyInstances(chest.studyUid);
    assert.deepEqual(inStudy.map((i) => i.Modality).sort(), ['CR', 'CR', 'CR', 'OT', 'SR']);
    const uids = resultUids(chest.studyUid, chest.sopUid, served.sha256);
    const srInst = inStudy.find((i) => i.Modality === 'SR')!;
    const scInst = inStudy.find((i) => i.Modality === 'OT')!;
    assert.equal(srInst.MainDicomTags.SOPInstanceUID, uids.srSop);
    assert.equal(scInst.MainDicomTags.SOPInstanceUID, uids.scSop);

    // The SR parses with dcmjs and holds the probability the REST API gives for the same bytes.
    const sr = readDicomFile(await orthanc.file(srInst.ID));
    const api = (
      await srv.app.inject({
        method: 'POST',
        url: '/api/v1/screen',
        payload: chest.bytes,
        headers: { 'content-type': 'application/dicom' },
      })
    ).json();
    const p = srProbability(sr)!;
    assert.equal(p, api.probability, 'the SR keeps the exact double the API returns');
    assert.equal(p, bySop(items, chest.sopUid)!.probability);
    assert.equal(str(sr, 'StudyInstanceUID'), chest.studyUid);
    assert.equal(str(sr, 'SOPClassUID'), '1.2.840.10008.5.1.4.1.1.88.33');
    assert.equal(str(sr, 'PatientID'), 'MRN-4711');
    const content = sr.ContentSequence as Dataset[];
    const texts = content.filter((c) => c.ValueType === 'TEXT').map((c) => String(c.TextValue));
    assert.ok(texts.includes(served.sha256), 'model sha256 in the SR');
    assert.ok(texts.includes(SR_DISCLAIMER));
    assert.ok(
      texts.some((t) => t.startsWith(api.decision === 'positive' ? 'positive' : 'negative')),
      texts.join(' | '),
    );
    const num = content.find((c) => c.ValueType === 'NUM')!;
    const source = ((num.ContentSequence as Dataset[])[0]!.ReferencedSOPSequence as Dataset[])[0]!;
    assert.equal(source.ReferencedSOPInstanceUID, chest.sopUid);

    // The secondary capture: RGB overlay, same study, referencing the source.
    const sc = readDicomFile(await orthanc.file(scInst.ID));
    assert.equal(str(sc, 'PhotometricInterpretation'), 'RGB');
    assert.equal(sc.SamplesPerPixel, 3);
    assert.equal(sc.Rows, 512); // the 224² model input upscaled to 512
    assert.equal(str(sc, 'StudyInstanceUID'), chest.studyUid);
    assert.equal((sc.SourceImageSequence as Dataset[])[0]!.ReferencedSOPInstanceUID, chest.sopUid);

    // The audit log has each step, and no patient attribute or UID.
    const audit = srv.audit.recent(200).filter((r) => String(r.route).startsWith('pacs/'));
    const steps = audit.map((r) => r.route).sort();
    assert.deepEqual(steps, [
      'pacs/received',
      'pacs/received',
      'pacs/received',
      'pacs/received',
      'pacs/screened',
      'pacs/sent',
      'pacs/skipped',
      'pacs/skipped',
      'pacs/skipped',
    ]);
    const dump = JSON.stringify(audit);
    for (const secret of ['Doe', 'MRN-4711', chest.studyUid, chest.sopUid, chest.seriesUid])
      assert.ok(!dump.includes(secret), `audit log leaks ${secret}`);

    // Worklist API: sorted by probability, status and the link to the overlay.
    const wl = (await srv.app.inject({ url: '/api/v1/worklist' })).json();
    assert.equal(wl.items[0].status, 'sent');
    assert.equal(wl.counts.sent, 1);
    assert.equal(wl.counts.skipped, 3);
    const png = await srv.app.inject({ url: wl.items[0].links.overlay });
    assert.equal(png.statusCode, 200);
    assert.equal(png.rawPayload.subarray(1, 4).toString(), 'PNG');
    assert.ok(!JSON.stringify(wl).includes(chest.sopUid), 'worklist API shows no UIDs');

    // Pushing the same instance again (STOW-RS) is recognised: nothing new.
    const b = 'cxrtune-test-boundary';
    const again = await srv.app.inject({
      method: 'POST',
      url: '/api/v1/studies',
      payload: buildMultipart([{ type: 'application/dicom', body: chest.bytes }], b),
      headers: { 'content-type': `multipart/related; type="application/dicom"; boundary=${b}` },
    });
    assert.equal(again.statusCode, 200, again.body);
    assert.equal(JSON.parse(again.body)['00081199'].Value[0]['00081155'].Value[0], chest.sopUid);
    assert.equal(srv.pacs!.store.list().length, 4);
  } finally {
    await srv.close();
  }

  // A fresh worklist replaying Orthanc's history screens the image again: same UIDs, so
  // Orthanc still holds one SR and one SC; its own results are skipped as not CR/DX.
  const replay = await start('worklist-replay.sqlite', { fromStart: true });
  try {
    await waitForItems(
      replay,
      (it) => it.some((i) => i.sopUid === chest.sopUid && i.status === 'sent'),
      'the replay to resend',
    );
    const inStudy = await orthanc.studyInstances(chest.studyUid);
    assert.deepEqual(inStudy.map((i) => i.Modality).sort(), ['CR', 'CR', 'CR', 'OT', 'SR']);
  } finally {
    await replay.close();
  }
});

test('Orthanc away and back, cxrtune restarted meanwhile: nothing is lost', { skip, timeout: 600_000 }, async () => {
  // cxrtune follows Orthanc; Orthanc stops; a chest image is pushed to cxrtune by STOW-RS:
  // screened, waiting to send.
  let srv = await start('worklist-b.sqlite');
  const pushed = cxrDicom({ seed: 5 });
  try {
    await waitForItems(srv, () => srv.pacs!.store.cursor() !== null, 'the follower to start');
    await orthanc.stop();
    const b = 'cxrtune-b';
    const res = await srv.app.inject({
      method: 'POST',
      url: '/api/v1/studies',
      payload: buildMultipart([{ type: 'application/dicom', body: pushed.bytes }], b),
      headers: { 'content-type': `multipart/related; type="application/dicom"; boundary=${b}` },
    });
    assert.equal(res.statusCode, 200, res.body);
    const [it] = await waitForItems(
      srv,
      (i) => i.length === 1 && i[0]!.status === 'screened' && i[0]!.attempts >= 1,
      'the send to fail and wait',
    );
    assert.match(it!.reason!, /^waiting to send \(attempt \d+\): PACS http:\/\/127\.0\.0\.1:\d+ unreachable/);
  } finally {
    await srv.close();
  }
  // Orthanc comes back while cxrtune is down; a new image arrives in Orthanc meanwhile.
  await orthanc.start();
  const arrived = cxrDicom({ seed: 7 });
  await orthanc.upload(arrived.bytes);
  // cxrtune restarts: the pushed image's results reach Orthanc, and the new one is picked up
  // from the saved change-log cursor.
  srv = await start('worklist-b.sqlite');
  try {
    const items = await waitForItems(srv, (i) => i.length === 2 && i.every((x) => x.status === 'sent'), 'both sent');
    assert.equal(bySop(items, pushed.sopUid)!.source, 'stow');
    assert.equal(bySop(items, arrived.sopUid)!.source, 'pacs');
    for (const d of [pushed, arrived]) {
      const mods = (await orthanc.studyInstances(d.studyUid)).map((i) => i.Modality).sort();
      assert.deepEqual(mods, d === pushed ? ['OT', 'SR'] : ['CR', 'OT', 'SR']);
    }
  } finally {
    await srv.close();
  }
});
