// STOW-RS on cxrtune's API and the worklist routes, without a PACS (--stow): pushed chest
// images are screened and listed, bad bodies get the STOW-RS answers, the page is served
// with the strict CSP and no inline script, and the token guards the API like any other.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadServedModel, type ServedModel } from '../../src/app/serve/servedModel.js';
import { buildServer, type Server } from '../../src/app/serve/server.js';
import { buildMultipart } from '../../src/app/pacs/multipartRelated.js';
import { makeCheckpoint } from '../serve/fixture.js';
import { cxrDicom } from './cxrDicom.js';
import { waitFor } from '../helpers/waitFor.js';

const TOKEN = 'test-token-0123456789abcdef';
let tmp: string;
let ckpt: string;
let served: ServedModel;
let srv: Server;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cxrtune-stow-'));
  ckpt = await makeCheckpoint();
  served = await loadServedModel(ckpt);
  srv = await buildServer(served, {
    db: join(tmp, 'audit.sqlite'),
    port: 0,
    token: TOKEN,
    pacs: { worklist: join(tmp, 'w.sqlite') },
  });
});
after(async () => {
  await srv?.close();
  rmSync(tmp, { recursive: true, force: true });
  rmSync(ckpt, { recursive: true, force: true });
});

const auth = { authorization: `Bearer ${TOKEN}` };
const stow = (parts: Buffer[], url = '/api/v1/studies', boundary = 'b0undary') =>
  srv.app.inject({
    method: 'POST',
    url,
    payload: buildMultipart(
      parts.map((body) => ({ type: 'application/dicom', body })),
      boundary,
    ),
    headers: { ...auth, 'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}` },
  });

test('STOW-RS push without a PACS: stored answer in DICOM JSON, screened, kept in the worklist', async () => {
  const a = cxrDicom({ seed: 3 });
  const knee = cxrDicom({ bodyPart: 'KNEE' });
  const res = await stow([a.bytes, knee.bytes]);
  assert.equal(res.statusCode, 200, res.body);
  assert.match(String(res.headers['content-type']), /application\/dicom\+json/);
  const stored = JSON.parse(res.body)['00081199'].Value.map(
    (v: Record<string, { Value: string[] }>) => v['00081155']!.Value[0],
  );
  assert.deepEqual(stored, [a.sopUid, knee.sopUid]);
  type Item = { id: string; status: string; reason: string; probability: number };
  const list = async (): Promise<Item[]> =>
    (await srv.app.inject({ url: '/api/v1/worklist', headers: auth })).json().items;
  const items = await waitFor(
    async () => {
      const it = await list();
      return it.some((i) => i.status === 'received') ? undefined : it;
    },
    'both instances to leave status received',
    { everyMs: 100 },
  );
  assert.equal(items[0].status, 'screened');
  assert.equal(items[0].reason, 'results kept here: no PACS configured to send them to');
  assert.ok(items[0].probability > 0 && items[0].probability < 1);
  assert.equal(items[1].status, 'skipped');
  assert.equal(items[1].reason, 'BodyPartExamined KNEE is not CHEST');
  const detail = await srv.app.inject({ url: `/api/v1/worklist/${items[0].id}`, headers: auth });
  assert.equal(detail.json().probability, items[0].probability);
  assert.equal((await srv.app.inject({ url: '/api/v1/worklist/zzz', headers: auth })).statusCode, 404);
});

test(
  'STOW-RS refusals: not multipart (415), no boundary (400), not DICOM (409 + FailedSOPSequence), wrong study ' +
    '(409, A900)',
  async () => {
    const plain = await srv.app.inject({
      method: 'POST',
      url: '/api/v1/studies',
      payload: cxrDicom().bytes,
      headers: { ...auth, 'content-type': 'application/dicom' },
    });
    assert.equal(plain.statusCode, 415);
    assert.equal(plain.json().error, 'unsupported_media_type');
    const noB = await srv.app.inject({
      method: 'POST',
      url: '/api/v1/studies',
      payload: 'x',
      headers: { ...auth, 'content-type': 'multipart/related; type="application/dicom"' },
    });
    assert.equal(noB.statusCode, 400);
    const junk = await stow([Buffer.from('not a dicom file at all')]);
    assert.equal(junk.statusCode, 409);
    assert.equal(JSON.parse(junk.body)['00081198'].Value[0]['00081197'].Value[0], 0x0110);
    const d = cxrDicom();
    const other = await stow([d.bytes], '/api/v1/studies/1.2.3.4');
    assert.equal(other.statusCode, 409);
    assert.equal(JSON.parse(other.body)['00081198'].Value[0]['00081197'].Value[0], 0xa900);
    const right = await stow([d.bytes], `/api/v1/studies/${d.studyUid}`);
    assert.equal(right.statusCode, 200);
  },
);

test('the API needs the token; the page and its script are static with a strict CSP', async () => {
  assert.equal((await srv.app.inject({ url: '/api/v1/worklist' })).statusCode, 401);
  assert.equal(
    (
      await srv.app.inject({
        method: 'POST',
        url: '/api/v1/studies',
        payload: 'x',
        headers: { 'content-type': 'multipart/related; boundary=x' },
      })
    ).statusCode,
    401,
  );
  const page = await srv.app.inject({ url: '/worklist' });
  assert.equal(page.statusCode, 200);
  assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
  assert.doesNotMatch(page.body, /<script>|<script [^>]*>[^<]/); // no inline script
  assert.match(page.body, /src="\/assets\/worklist\.js"/);
  const doc = (await srv.app.inject({ url: '/api/v1/openapi.json', headers: auth })).json();
  for (const p of [
    '/api/v1/studies',
    '/api/v1/studies/{study}',
    '/api/v1/worklist',
    '/api/v1/worklist/{id}',
    '/api/v1/worklist/{id}/overlay.png',
    '/api/v1/screen',
  ]) {
    assert.ok(doc.paths[p], `OpenAPI lists ${p}`);
  }
  const js = await srv.app.inject({ url: '/assets/worklist.js' });
  assert.equal(js.statusCode, 200);
  assert.match(String(js.headers['content-type']), /javascript/);
  assert.match(js.body, /\/api\/v1\/worklist/);
});
