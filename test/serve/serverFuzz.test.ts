// Fuzzing the screening server with fast-check (seeded, so a failure replays): mutated
// PNG/JPEG/DICOM bytes, random bodies, random Content-Types and multipart framings, random
// methods, paths and headers, with and without the token. Every answer must be a refusal in
// the {error, detail} shape (or a real result for an input that is still a valid image, and
// only with the token), never a 500; afterwards the server is healthy, and no decode started
// beyond the server's pixel limit (counted, not timed).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import fc from 'fast-check';
import sharp, { type Sharp } from 'sharp';
import { loadServedModel, type ServedModel } from '../../src/app/serve/servedModel.js';
import { buildServer, type Server } from '../../src/app/serve/server.js';
import { DEFAULT_MAX_STUDY_PIXELS } from '../../src/app/serve/screen.js';
import { generatePhantom } from '../../src/data/phantom.js';
import { encodeDicom } from '../data/helpers/dicomWriter.js';
import { makeCheckpoint, phantomPng } from './fixture.js';
import { adversarialCorpus, BOMB_SIDE } from '../fixtures/adversarial.js';

const TOKEN = 'fuzz-token-0123456789abcdef';
const SEED = 20261126;
const FUZZ_MAX_PIXELS = 4_000_000;
let ckpt: string;
let served: ServedModel;
let srv: Server;
let seeds: Buffer[];

before(async () => {
  ckpt = await makeCheckpoint();
  served = await loadServedModel(ckpt);
  srv = await buildServer(served, {
    db: ':memory:',
    port: 0,
    token: TOKEN,
    rateLimit: 0,
    maxPixels: FUZZ_MAX_PIXELS,
    timeoutMs: 20_000,
  });
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

/**
 * Records every raster decode sharp starts (a toBuffer call: metadata() reads only headers),
 * with the pixel count its input's header claims (what the decode would hold), until
 * restore(). Requests go one at a time, so the decodes between two marks are one request's.
 */
function watchDecodes(): { claims: number[]; restore: () => void } {
  const proto = sharp.prototype as { toBuffer: (...a: unknown[]) => unknown };
  const toBuffer = proto.toBuffer;
  const claims: number[] = [];
  proto.toBuffer = function (this: Sharp, ...a: unknown[]) {
    // clone(): the same input and options; its metadata() is the header the decode starts from.
    return this.clone()
      .metadata()
      .then(
        (m) => claims.push((m.width ?? 0) * (m.height ?? 0)),
        // A header sharp cannot read (corrupt, or over the instance's limit) counts as over any
        // limit: the decoders read it first and refuse, so no decode should start from one.
        () => claims.push(Infinity),
      )
      .then(() => toBuffer.apply(this, a));
  };
  return {
    claims,
    restore: () => {
      proto.toBuffer = toBuffer;
    },
  };
}

/** A seed image with bit flips, overwritten runs, a cut, or a spliced header field. */
const mutated = () =>
  fc
    .record({
      seed: fc.nat(3),
      flips: fc.array(fc.record({ at: fc.nat(), bit: fc.nat(7) }), { maxLength: 8 }),
      runs: fc.array(fc.record({ at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }), {
        maxLength: 3,
      }),
      cut: fc.option(fc.nat(), { nil: undefined }),
    })
    .map(({ seed, flips, runs, cut }) => {
      const b = Buffer.from(seeds[seed]!);
      // Most changes in the first 400 bytes, where the headers (and the lies) live.
      for (const f of flips) b[f.at % Math.min(b.length, f.at % 3 ? 400 : b.length)]! ^= 1 << f.bit;
      for (const r of runs) b.set(r.bytes.subarray(0, Math.max(0, b.length - (r.at % b.length))), r.at % b.length);
      return cut === undefined ? b : b.subarray(0, cut % b.length);
    });

const body = () =>
  fc.oneof(
    { weight: 6, arbitrary: mutated() },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((u) => Buffer.from(u)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)) },
  );

const contentType = () =>
  fc.constantFrom(
    'application/octet-stream',
    'image/png',
    'application/dicom',
    'text/plain',
    'application/json',
    'multipart/form-data',
    'multipart/form-data; boundary=',
    'multipart/form-data; boundary=XyZ',
    '',
    ';;;',
    'image/png; charset=\u0000',
  );

const framing = () => fc.constantFrom('raw', 'multipart', 'multipart-cut', 'multipart-two-files');

function frame(kind: string, bytes: Buffer, type: string): { payload: Buffer; type: string } {
  const b = 'XyZ';
  const head = Buffer.from(
    `--${b}\r\nContent-Disposition: form-data; name="file"; filename="x.dcm"\r\nContent-Type: ` +
      `application/octet-stream\r\n\r\n`,
  );
  if (kind === 'raw') return { payload: bytes, type };
  if (kind === 'multipart')
    return {
      payload: Buffer.concat([head, bytes, Buffer.from(`\r\n--${b}--\r\n`)]),
      type: `multipart/form-data; boundary=${b}`,
    };
  if (kind === 'multipart-cut')
    return { payload: Buffer.concat([head, bytes]), type: `multipart/form-data; boundary=${b}` };
  return {
    payload: Buffer.concat([head, bytes, Buffer.from(`\r\n`), head, bytes, Buffer.from(`\r\n--${b}--\r\n`)]),
    type: `multipart/form-data; boundary=${b}`,
  };
}

test('fuzzed study uploads: 4xx {error, detail} or a real result, never a 500; no decode past the limit', async (t) => {
  const rss0 = process.memoryUsage().rss;
  const decodes = watchDecodes();
  t.after(decodes.restore);
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(body(), contentType(), framing(), fc.boolean(), async (bytes, type, kind, withToken) => {
      const f = frame(kind, bytes, type);
      const headers: Record<string, string> = {
        ...(f.type ? { 'content-type': f.type } : {}),
        ...(withToken ? { authorization: `Bearer ${TOKEN}` } : {}),
      };
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
  // Memory within budget, by count: whatever a mutated header claims, a decode starts only from
  // one within the fuzz server's limit (whose budget bounds what it holds). RSS is printed, not
  // asserted: allocator noise, and a refused bomb would not show in it anyway (freed at once).
  const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
  const most = Math.max(0, ...decodes.claims);
  console.log(
    `# fuzzed uploads: 300 cases, statuses ${JSON.stringify(Object.fromEntries(statuses))}, ` +
      `${decodes.claims.length} decodes (largest ${most} px), RSS +${grown.toFixed(0)} MB`,
  );
  assert.ok(most <= FUZZ_MAX_PIXELS, `a decode started from a header claiming ${most} pixels (Infinity: unreadable)`);
  assert.equal((await srv.app.inject({ url: '/healthz' })).statusCode, 200);
  assert.equal(srv.queue.stats().inFlight, 0);
});

test('fuzzed methods, paths and headers: never a 500, never an API answer without the token', async () => {
  const segment = fc.stringMatching(/^[a-zA-Z0-9%._;~-]{0,12}$/);
  const path = fc.oneof(
    fc.array(segment, { maxLength: 5 }).map((s) => `/${s.join('/')}`),
    fc.constantFrom(
      '/api/v1/screen',
      '/api/v1/model',
      '/api/v1/openapi.json',
      '/%61pi/v1/model',
      '/api//v1/model',
      '/healthz',
      '/',
    ),
  );
  const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD');
  const header = fc.tuple(fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9-]{0,15}$/), fc.stringMatching(/^[ -~]{0,40}$/));
  const auth = fc.constantFrom(
    undefined,
    'Bearer',
    'Bearer ',
    `Bearer ${TOKEN}x`,
    `bearer ${TOKEN.slice(1)}`,
    'Basic Zm9vOmJhcg==',
    `Bearer ${'a'.repeat(5000)}`,
  );
  let n = 0;
  await fc.assert(
    fc.asyncProperty(
      method,
      path,
      fc.array(header, { maxLength: 5 }),
      auth,
      fc.uint8Array({ maxLength: 64 }),
      async (m, p, hs, a, b) => {
        const headers: Record<string, string> = Object.fromEntries(
          hs.filter(([k]) => !/^(host|content-length|transfer-encoding|connection|authorization)$/i.test(k)),
        );
        if (a !== undefined) headers.authorization = a;
        const res = await srv.app.inject({
          method: m as 'GET',
          url: p,
          headers,
          ...(m === 'GET' || m === 'HEAD' ? {} : { payload: Buffer.from(b) }),
        });
        n++;
        assert.ok(res.statusCode < 500, `${m} ${p} → ${res.statusCode} ${res.body.slice(0, 120)}`);
        const open = ['/healthz', '/', '/assets/app.js', '/assets/app.css'];
        if (res.statusCode < 300)
          assert.ok(
            open.includes(p) || open.includes(decodeURIComponent(p)),
            `${m} ${p} answered ${res.statusCode} without the token`,
          );
      },
    ),
    { seed: SEED + 1, numRuns: 400 },
  );
  console.log(`# fuzzed requests: ${n} cases, 0 failures`);
  assert.equal((await srv.app.inject({ url: '/healthz' })).statusCode, 200);
});

test(
  'the adversarial corpus through the server: each hostile file refused with its status, before a decode, ' +
    'without growing memory',
  async (t) => {
    const STATUS = {
      ok: 200,
      too_large: 413,
      corrupt: 422,
      unsupported_dicom: 422,
      too_small: 422,
      empty: 400,
      unsupported_type: 415,
    } as const;
    const corpus = await adversarialCorpus();
    // The server's own limit (25 Mpx), not the fuzz server's.
    const s = await buildServer(served, { db: ':memory:', port: 0, token: TOKEN, rateLimit: 0 });
    const decodes = watchDecodes();
    t.after(decodes.restore);
    try {
      const rss0 = process.memoryUsage().rss;
      for (const c of corpus) {
        const before = decodes.claims.length;
        const res = await s.app.inject({
          method: 'POST',
          url: '/api/v1/screen',
          payload: c.bytes,
          headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${TOKEN}` },
        });
        const claims = decodes.claims.slice(before);
        assert.equal(res.statusCode, STATUS[c.expect], `${c.name}: ${res.statusCode} ${res.body.slice(0, 160)}`);
        // Whatever the file claims, a decode starts only from a header within the limit.
        assert.ok(
          claims.every((px) => px <= DEFAULT_MAX_STUDY_PIXELS),
          `${c.name}: decodes started from headers claiming ${claims} pixels (Infinity: unreadable)`,
        );
        if (c.expect !== 'ok') {
          assert.ok(!res.json().detail.includes('[object'), c.name);
          if (c.message) assert.match(res.json().detail, c.message, c.name);
        }
        // Too large is refused from the headers: no decode starts at all (a decode of a bomb is 256 Mpx).
        if (c.expect === 'too_large') assert.deepEqual(claims, [], `${c.name}: refused only after a decode started`);
      }
      // Retained memory: the smallest hostile allocation in the corpus is one bomb's raster (BOMB_SIDE² 8-bit pixels,
      // 244 MiB; the zTXt bomb inflates to as much), and the bound is half of it, so a server that kept what one
      // hostile file makes it allocate fails twice over, while the honest controls grow RSS by a few MiB. (A raster
      // allocated and freed at once leaves no trace in RSS: the decode counts above are what catch that.)
      const bound = BOMB_SIDE ** 2 / 2 / 2 ** 20;
      const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
      console.log(
        `# adversarial corpus via the server: ${corpus.length} files, ` +
          `RSS +${grown.toFixed(0)} MiB (bound ${bound.toFixed(0)} MiB)`,
      );
      assert.ok(grown < bound, `RSS grew ${grown.toFixed(0)} MiB`);
      // Every request is in the audit log, hostile ones with their reason.
      assert.equal(s.audit.requests(), corpus.length);
    } finally {
      await s.close();
    }
  },
);
