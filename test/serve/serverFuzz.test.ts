// Fuzzing the screening server with fast-check (seeded, so a failure replays): mutated
// PNG/JPEG/DICOM bytes, random bodies, random Content-Types and multipart framings, random
// methods, paths and headers, with and without the token. Every answer must be a refusal in
// the {error, detail} shape (or a real result for an input that is still a valid image, and
// only with the token), never a 500; afterwards the server is healthy and its memory stayed
// within budget.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import fc from 'fast-check';
import sharp from 'sharp';
import { loadServedModel, type ServedModel } from '../../src/app/serve/servedModel.js';
import { buildServer, type Server } from '../../src/app/serve/server.js';
import { generatePhantom } from '../../src/data/phantom.js';
import { encodeDicom } from '../data/helpers/dicomWriter.js';
import { makeCheckpoint, phantomPng } from './fixture.js';
import { adversarialCorpus } from '../fixtures/adversarial.js';

const TOKEN = 'fuzz-token-0123456789abcdef';
const SEED = 20261126;
let ckpt: string;
let served: ServedModel;
let srv: Server;
let seeds: Buffer[];

before(async () => {
  ckpt = await makeCheckpoint();
  served = await loadServedModel(ckpt);
  srv = await buildServer(served, { db: ':memory:', port: 0, token: TOKEN, rateLimit: 0, maxPixels: 4_000_000, timeoutMs: 20_000 });
  const p = generatePhantom(7, 1, { size: 96, label: 'covid' });
  const png = await phantomPng(96);
  const jpeg = await sharp(png).jpeg({ quality: 80 }).toBuffer();
  const dcm = encodeDicom({ rows: 96, columns: 96, bitsAllocated: 8, values: p.pixels, patientId: 'FUZZ^PATIENT' });
  const dcmJpeg = encodeDicom({ rows: 96, columns: 96, transferSyntax: '1.2.840.10008.1.2.4.50', frame: jpeg });
  seeds = [png, jpeg, dcm, dcmJpeg];
});
after(async () => {
  await srv?.close();
  rmSync(ckpt, { recursive: true, force: true });
});

/** A seed image with bit flips, overwritten runs, a cut, or a spliced header field. */
const mutated = () => fc.record({
  seed: fc.nat(3),
  flips: fc.array(fc.record({ at: fc.nat(), bit: fc.nat(7) }), { maxLength: 8 }),
  runs: fc.array(fc.record({ at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }), { maxLength: 3 }),
  cut: fc.option(fc.nat(), { nil: undefined }),
}).map(({ seed, flips, runs, cut }) => {
  const b = Buffer.from(seeds[seed]!);
  // Most changes in the first 400 bytes, where the headers (and the lies) live.
  for (const f of flips) b[f.at % Math.min(b.length, f.at % 3 ? 400 : b.length)]! ^= 1 << f.bit;
  for (const r of runs) b.set(r.bytes.subarray(0, Math.max(0, b.length - (r.at % b.length))), r.at % b.length);
  return cut === undefined ? b : b.subarray(0, cut % b.length);
});

const body = () => fc.oneof(
  { weight: 6, arbitrary: mutated() },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((u) => Buffer.from(u)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)) },
);

const contentType = () => fc.constantFrom(
  'application/octet-stream', 'image/png', 'application/dicom', 'text/plain', 'application/json',
  'multipart/form-data', 'multipart/form-data; boundary=', 'multipart/form-data; boundary=XyZ', '', ';;;', 'image/png; charset=\u0000',
);

const framing = () => fc.constantFrom('raw', 'multipart', 'multipart-cut', 'multipart-two-files');

function frame(kind: string, bytes: Buffer, type: string): { payload: Buffer; type: string } {
  const b = 'XyZ';
  const head = Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="file"; filename="x.dcm"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  if (kind === 'raw') return { payload: bytes, type };
  if (kind === 'multipart') return { payload: Buffer.concat([head, bytes, Buffer.from(`\r\n--${b}--\r\n`)]), type: `multipart/form-data; boundary=${b}` };
  if (kind === 'multipart-cut') return { payload: Buffer.concat([head, bytes]), type: `multipart/form-data; boundary=${b}` };
  return { payload: Buffer.concat([head, bytes, Buffer.from(`\r\n`), head, bytes, Buffer.from(`\r\n--${b}--\r\n`)]), type: `multipart/form-data; boundary=${b}` };
}

test('fuzzed study uploads: 4xx {error, detail} or a real result, never a 500; memory within budget', async () => {
  const rss0 = process.memoryUsage().rss;
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(body(), contentType(), framing(), fc.boolean(), async (bytes, type, kind, withToken) => {
      const f = frame(kind, bytes, type);
      const headers: Record<string, string> = { ...(f.type ? { 'content-type': f.type } : {}), ...(withToken ? { authorization: `Bearer ${TOKEN}` } : {}) };
      const res = await srv.app.inject({ method: 'POST', url: '/api/v1/screen', payload: f.payload, headers });
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      if (!withToken) assert.equal(res.statusCode, 401);
      if (res.statusCode === 200) {
        const r = res.json();
        assert.ok(r.probability >= 0 && r.probability <= 1);
        return;
      }
      assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${res.statusCode} ${res.body.slice(0, 200)}`);
      const e = res.json();
      assert.equal(typeof e.error, 'string');
      assert.ok(typeof e.detail === 'string' && e.detail.length > 3 && !e.detail.includes('[object'), e.detail);
    }),
    { seed: SEED, numRuns: 300 },
  );
  const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
  console.log(`# fuzzed uploads: 300 cases, statuses ${JSON.stringify(Object.fromEntries(statuses))}, RSS +${grown.toFixed(0)} MB`);
  assert.ok(grown < 400, `RSS grew ${grown.toFixed(0)} MB`);
  assert.equal((await srv.app.inject({ url: '/healthz' })).statusCode, 200);
  assert.equal(srv.queue.stats().inFlight, 0);
});

test('fuzzed methods, paths and headers: never a 500, never an API answer without the token', async () => {
  const segment = fc.stringMatching(/^[a-zA-Z0-9%._;~\-]{0,12}$/);
  const path = fc.oneof(
    fc.array(segment, { maxLength: 5 }).map((s) => '/' + s.join('/')),
    fc.constantFrom('/api/v1/screen', '/api/v1/model', '/api/v1/openapi.json', '/%61pi/v1/model', '/api//v1/model', '/healthz', '/'),
  );
  const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD');
  const header = fc.tuple(fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9-]{0,15}$/), fc.stringMatching(/^[ -~]{0,40}$/));
  const auth = fc.constantFrom(undefined, 'Bearer', 'Bearer ', `Bearer ${TOKEN}x`, `bearer ${TOKEN.slice(1)}`, 'Basic Zm9vOmJhcg==', `Bearer ${'a'.repeat(5000)}`);
  let n = 0;
  await fc.assert(
    fc.asyncProperty(method, path, fc.array(header, { maxLength: 5 }), auth, fc.uint8Array({ maxLength: 64 }), async (m, p, hs, a, b) => {
      const headers: Record<string, string> = Object.fromEntries(hs.filter(([k]) => !/^(host|content-length|transfer-encoding|connection|authorization)$/i.test(k)));
      if (a !== undefined) headers.authorization = a;
      const res = await srv.app.inject({ method: m as 'GET', url: p, headers, ...(m === 'GET' || m === 'HEAD' ? {} : { payload: Buffer.from(b) }) });
      n++;
      assert.ok(res.statusCode < 500, `${m} ${p} → ${res.statusCode} ${res.body.slice(0, 120)}`);
      const open = ['/healthz', '/', '/assets/app.js', '/assets/app.css'];
      if (res.statusCode < 300) assert.ok(open.includes(p) || open.includes(decodeURIComponent(p)), `${m} ${p} answered ${res.statusCode} without the token`);
    }),
    { seed: SEED + 1, numRuns: 400 },
  );
  console.log(`# fuzzed requests: ${n} cases, 0 failures`);
  assert.equal((await srv.app.inject({ url: '/healthz' })).statusCode, 200);
});

test('the adversarial corpus through the server: each hostile file refused with its status, quickly, without growing memory', async () => {
  const STATUS = { ok: 200, too_large: 413, corrupt: 422, unsupported_dicom: 422, too_small: 422, empty: 400, unsupported_type: 415 } as const;
  const corpus = await adversarialCorpus();
  // The server's own limit (25 Mpx), not the fuzz server's.
  const s = await buildServer(served, { db: ':memory:', port: 0, token: TOKEN, rateLimit: 0 });
  try {
    const rss0 = process.memoryUsage().rss;
    for (const c of corpus) {
      const t0 = performance.now();
      const res = await s.app.inject({ method: 'POST', url: '/api/v1/screen', payload: c.bytes, headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${TOKEN}` } });
      const ms = performance.now() - t0;
      assert.equal(res.statusCode, STATUS[c.expect], `${c.name}: ${res.statusCode} ${res.body.slice(0, 160)}`);
      if (c.expect !== 'ok') {
        assert.ok(!res.json().detail.includes('[object'), c.name);
        if (c.message) assert.match(res.json().detail, c.message, c.name);
        // Refused before decoding: milliseconds, not the seconds a full 256 Mpx decode takes.
        assert.ok(ms < 1500, `${c.name} took ${ms.toFixed(0)} ms`);
      }
    }
    const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
    console.log(`# adversarial corpus via the server: ${corpus.length} files, RSS +${grown.toFixed(0)} MB`);
    assert.ok(grown < 150, `RSS grew ${grown.toFixed(0)} MB`);
    // Every request is in the audit log, hostile ones with their reason.
    assert.equal(s.audit.requests(), corpus.length);
  } finally {
    await s.close();
  }
});
