// REST API of `cxrtune serve`: the happy path (raw, multipart, DICOM), every bad input the
// issue lists (empty body, a text file, a truncated PNG, huge dimensions, a wrong token, no
// token off loopback) and the safety limits (body size, queue full → 503, timeout), plus
// what the audit log keeps and what it must never keep.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadServedModel, type ServedModel } from '../../src/app/serve/servedModel.js';
import { buildServer, type Server } from '../../src/app/serve/server.js';
import { generatePhantom } from '../../src/data/phantom.js';
import { encodeDicom } from '../data/helpers/dicomWriter.js';
import { makeCheckpoint, phantomPng } from './fixture.js';
import { waitFor } from '../helpers/waitFor.js';

const TOKEN = 'test-token-0123456789abcdef';
let ckpt: string;
let tmp: string;
let served: ServedModel;
let srv: Server;
let png: Buffer;

before(async () => {
  ckpt = await makeCheckpoint();
  tmp = mkdtempSync(join(tmpdir(), 'cxrtune-serve-api-'));
  served = await loadServedModel(ckpt);
  srv = await buildServer(served, { db: join(tmp, 'audit.sqlite'), port: 0 });
  png = await phantomPng(512);
});
after(async () => {
  await srv?.close();
  rmSync(ckpt, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
});

const screen = (
  s: Server,
  payload: Buffer | string,
  headers: Record<string, string> = { 'content-type': 'application/octet-stream' },
) => s.app.inject({ method: 'POST', url: '/api/v1/screen', payload, headers });

function multipart(file: Buffer, filename: string): { payload: Buffer; headers: Record<string, string> } {
  const b = '----cxrtune-test';
  const payload = Buffer.concat([
    Buffer.from(
      `--${b}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: ` +
        `application/octet-stream\r\n\r\n`,
    ),
    file,
    Buffer.from(`\r\n--${b}--\r\n`),
  ]);
  return { payload, headers: { 'content-type': `multipart/form-data; boundary=${b}` } };
}

function assertError(
  res: { statusCode: number; json(): unknown; headers: Record<string, unknown> },
  status: number,
  code: string,
): void {
  assert.equal(res.statusCode, status);
  assert.match(String(res.headers['content-type']), /application\/json/);
  const body = res.json() as { error: string; detail: string };
  assert.equal(body.error, code);
  assert.ok(typeof body.detail === 'string' && body.detail.length > 5, 'a detail sentence');
}

test('happy path: raw PNG → probability, decision, threshold, heatmap, model, timings; audit row', async () => {
  const res = await screen(srv, png);
  assert.equal(res.statusCode, 200, res.body);
  const r = res.json();
  assert.ok(r.probability >= 0 && r.probability <= 1);
  assert.equal(r.threshold, 0.5);
  assert.equal(r.decision, r.probability >= 0.5 ? 'positive' : 'negative');
  assert.equal(r.label, r.probability >= 0.5 ? 'covid' : 'normal');
  assert.equal(r.positiveClass, 'covid');
  // Two fp32 softmax outputs, a few ulp (2^-24 ≈ 6e-8) each.
  assert.ok(Math.abs(r.probabilities.covid + r.probabilities.normal - 1) < 1e-6);
  assert.equal(r.format, 'png');
  assert.deepEqual(r.model, { arch: 'mobilenet_v2', version: served.version, sha256: served.sha256 });
  assert.match(r.model.sha256, /^[0-9a-f]{64}$/);
  for (const k of ['decodeMs', 'queueMs', 'inferMs', 'renderMs', 'totalMs']) assert.ok(r.timings[k] >= 0, k);
  // The heatmap is an RGBA PNG the size of the image as the model saw it.
  assert.match(r.heatmap, /^data:image\/png;base64,/);
  const heat = await sharp(Buffer.from(r.heatmap.split(',')[1], 'base64')).metadata();
  const img = await sharp(Buffer.from(r.image.split(',')[1], 'base64')).metadata();
  assert.deepEqual([heat.width, heat.height, heat.channels], [224, 224, 4]);
  assert.deepEqual([img.width, img.height], [224, 224]);
  const row = srv.audit.recent(10).find((x) => x.id === r.id);
  assert.ok(row, 'an audit row with the response id');
  assert.equal(row.status, 200);
  assert.equal(row.image_sha256, r.sha256);
  assert.equal(row.size_bytes, png.length);
  assert.equal(row.model_sha256, served.sha256);
  assert.equal(row.probability, r.probability);
  assert.equal(row.label, r.label);
  assert.ok((row.latency_ms as number) > 0);
  assert.equal(row.error, null);
});

test('multipart upload and a JPEG are accepted; the format comes from the bytes, not the name', async () => {
  const jpeg = await sharp(png).jpeg({ quality: 90 }).toBuffer();
  const mp = multipart(jpeg, 'lookslike.png');
  const res = await screen(srv, mp.payload, mp.headers);
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(res.json().format, 'jpeg');
});

test('DICOM is accepted; the audit log never holds patient tags or file names', async () => {
  const p = generatePhantom(5, 1, { size: 256, label: 'covid' });
  const dcm = encodeDicom({
    rows: 256,
    columns: 256,
    bitsAllocated: 8,
    values: p.pixels,
    patientId: 'DOE^JANE^0451977',
  });
  const mp = multipart(dcm, 'Jane_Doe_chest.dcm');
  const res = await screen(srv, mp.payload, mp.headers);
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(res.json().format, 'dicom');
  // Neither the patient id nor the file name nor any pixel blob reaches the database file.
  const db = Buffer.concat([
    readFileSync(join(tmp, 'audit.sqlite')),
    readFileSync(join(tmp, 'audit.sqlite-wal')),
  ]).toString('latin1');
  assert.ok(!db.includes('DOE^JANE'), 'no DICOM patient id in the audit log');
  assert.ok(!db.includes('Jane_Doe'), 'no file name in the audit log');
  const cols = Object.keys(srv.audit.recent(1)[0]!);
  assert.deepEqual(cols, [
    'id',
    'time',
    'client',
    'method',
    'route',
    'status',
    'image_sha256',
    'size_bytes',
    'format',
    'probability',
    'label',
    'threshold',
    'model_sha256',
    'latency_ms',
    'error',
    'count',
  ]);
});

test('empty body → 400 empty_body (raw and multipart)', async () => {
  assertError(await screen(srv, ''), 400, 'empty_body');
  assertError(await srv.app.inject({ method: 'POST', url: '/api/v1/screen' }), 400, 'empty_body');
  const mp = multipart(Buffer.alloc(0), 'x.png');
  assertError(await screen(srv, mp.payload, mp.headers), 400, 'empty_body');
});

test('a text file → 415, whatever its declared type or name', async () => {
  assertError(
    await screen(srv, 'Patient: John Smith\nfindings: none\n', { 'content-type': 'text/plain' }),
    415,
    'unsupported_media_type',
  );
  assertError(
    await screen(srv, 'not an image at all, though it says so', { 'content-type': 'image/png' }),
    415,
    'unsupported_media_type',
  );
  const mp = multipart(Buffer.from('hello'), 'scan.png');
  assertError(await screen(srv, mp.payload, mp.headers), 415, 'unsupported_media_type');
  const row = srv.audit.recent(1)[0]!;
  assert.equal(row.status, 415);
  assert.match(String(row.error), /unsupported_media_type/);
});

test('a truncated PNG → 422 corrupt_image', async () => {
  assertError(await screen(srv, png.subarray(0, Math.floor(png.length / 2))), 422, 'corrupt_image');
  assertError(await screen(srv, png.subarray(0, 40)), 422, 'corrupt_image');
});

test('huge dimensions → 413 image_too_large (PNG header and DICOM rows × columns, before decoding)', async () => {
  const huge = Buffer.from(png);
  huge.writeUInt32BE(60000, 16); // IHDR width
  huge.writeUInt32BE(60000, 20); // IHDR height
  assertError(await screen(srv, huge), 413, 'image_too_large');
  // A small DICOM whose Rows and Columns then claim 60000 each.
  const dcm = encodeDicom({ rows: 16, columns: 16, bitsAllocated: 8, values: new Uint8Array(256) });
  for (const el of [0x10, 0x11]) {
    const at = dcm.indexOf(Buffer.from([0x28, 0x00, el, 0x00, 0x55, 0x53]));
    assert.ok(at > 0);
    dcm.writeUInt16LE(60000, at + 8);
  }
  assertError(await screen(srv, dcm), 413, 'image_too_large');
});

test('a body over the limit → 413 payload_too_large (raw and multipart)', async () => {
  const s = await buildServer(served, { db: ':memory:', port: 0, bodyLimit: 64 * 1024 });
  try {
    assertError(await screen(s, png), 413, 'payload_too_large');
    const mp = multipart(png, 'a.png');
    assertError(await screen(s, mp.payload, mp.headers), 413, 'payload_too_large');
    assert.equal(s.audit.recent(1)[0]!.status, 413);
  } finally {
    await s.close();
  }
});

test('token: missing or wrong → 401 with WWW-Authenticate; right → 200; the page and /healthz stay open', async () => {
  const s = await buildServer(served, { db: ':memory:', port: 0, token: TOKEN });
  try {
    const none = await screen(s, png);
    assertError(none, 401, 'unauthorized');
    assert.match(String(none.headers['www-authenticate']), /^Bearer/);
    assertError(
      await screen(s, png, {
        'content-type': 'application/octet-stream',
        authorization: 'Bearer wrong-token-0123456789abc',
      }),
      401,
      'unauthorized',
    );
    assertError(
      await s.app.inject({ url: '/api/v1/model', headers: { authorization: `Basic ${TOKEN}` } }),
      401,
      'unauthorized',
    );
    const ok = await screen(s, png, { 'content-type': 'application/octet-stream', authorization: `Bearer ${TOKEN}` });
    assert.equal(ok.statusCode, 200);
    assert.equal((await s.app.inject({ url: '/healthz' })).statusCode, 200);
    assert.equal((await s.app.inject({ url: '/' })).statusCode, 200);
    const rows = s.audit.recent(10);
    assert.ok(
      rows.some((r) => r.status === 401),
      '401s are audited',
    );
    assert.ok(!JSON.stringify(rows).includes(TOKEN), 'the token is never logged');
  } finally {
    await s.close();
  }
});

test('no token off loopback: the server refuses to start; weak tokens are refused', async () => {
  await assert.rejects(
    buildServer(served, { db: ':memory:', host: '0.0.0.0' }),
    /refusing to listen on 0\.0\.0\.0 without a token/,
  );
  await assert.rejects(buildServer(served, { db: ':memory:', host: '192.168.1.20' }), /without a token/);
  await assert.rejects(
    buildServer(served, { db: ':memory:', host: '0.0.0.0', token: 'short' }),
    /at least 16 characters/,
  );
  const s = await buildServer(served, { db: ':memory:', host: '0.0.0.0', token: TOKEN });
  await s.close();
  for (const host of ['127.0.0.1', 'localhost', '::1'])
    await (await buildServer(served, { db: ':memory:', host })).close();
});

test('queue full → 503 busy with Retry-After; the admitted ones succeed', async () => {
  // Held before the engine (queue.pause()), the two admitted studies keep their slots until
  // resume(), so the other three find the queue full however fast the machine. The timeout is
  // long so that a slow one cannot end the held requests first.
  const s = await buildServer(served, {
    db: ':memory:',
    port: 0,
    queue: { capacity: 2, maxBatch: 1 },
    timeoutMs: 600_000,
  });
  try {
    s.queue.pause();
    let answered = 0;
    const requests = Array.from({ length: 5 }, () => screen(s, png).finally(() => answered++));
    // Each request is either admitted (in flight, held) or answered (refused) once it reached the queue.
    await waitFor(
      () => s.queue.stats().inFlight + answered === 5,
      () => `the 5 requests to reach the queue (${answered} answered, ${s.queue.stats().inFlight} in flight)`,
    );
    assert.equal(s.queue.stats().inFlight, 2);
    s.queue.resume();
    const rs = await Promise.all(requests);
    const codes = rs.map((r) => r.statusCode).sort();
    assert.deepEqual(codes, [200, 200, 503, 503, 503]);
    for (const b of rs.filter((r) => r.statusCode === 503)) {
      assertError(b, 503, 'busy');
      assert.ok(Number(b.headers['retry-after']) >= 1);
    }
  } finally {
    s.queue.resume(); // when an assertion failed early: the held studies finish, and the server closes
    await s.close();
  }
});

test('per-request timeout → 504 timeout; a study that has not reached the engine gives its slot back', async () => {
  // Held before the engine, a study times out whatever the machine's speed.
  const s = await buildServer(served, { db: ':memory:', port: 0, timeoutMs: 100, queue: { capacity: 1 } });
  try {
    s.queue.pause();
    assertError(await screen(s, png), 504, 'timeout');
    await waitFor(() => s.queue.stats().inFlight === 0, 'the timed-out study to leave the queue');
    assert.equal(s.queue.stats().waitingForEngine, 0);
    // Its slot is free: with a capacity of 1 the next study is admitted (and times out), not refused as busy.
    assertError(await screen(s, png), 504, 'timeout');
    assert.equal((await s.app.inject({ url: '/healthz' })).statusCode, 200);
  } finally {
    await s.close();
  }
});

test('GET /api/v1/model (model card), /api/v1/openapi.json, /healthz; unknown routes → JSON 404', async () => {
  const card = (await srv.app.inject({ url: '/api/v1/model' })).json();
  assert.equal(card.arch, 'mobilenet_v2');
  assert.equal(card.positiveClass, 'covid');
  assert.equal(card.threshold, 0.5);
  assert.match(card.disclaimer, /Decision support, not a diagnosis/);
  assert.ok(card.intendedUse.length > 20);
  const acc = card.validation.metrics.find((m: { name: string }) => m.name === 'accuracy');
  assert.ok(acc.ci[0] < 0.9 && acc.ci[1] > 0.9, 'accuracy gets a Wilson interval from n');
  assert.deepEqual(card.validation.metrics.find((m: { name: string }) => m.name === 'sensitivity').ci, [0.81, 0.97]);
  const doc = (await srv.app.inject({ url: '/api/v1/openapi.json' })).json();
  assert.equal(doc.openapi, '3.1.0');
  assert.ok(doc.paths['/api/v1/screen'].post.responses['503']);
  assert.deepEqual((await srv.app.inject({ url: '/healthz' })).json().status, 'ok');
  assertError(await srv.app.inject({ url: '/api/v1/nope' }), 404, 'not_found');
  const page = await srv.app.inject({ url: '/' });
  assert.match(String(page.headers['content-security-policy']), /default-src 'none'/);
  assert.ok(!/https?:\/\//.test(page.body), 'the page loads nothing from elsewhere');
});
