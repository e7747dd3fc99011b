// The rest of the serve hardening: the framework's and the HTTP parser's own refusals in the
// {error, detail} shape, malformed multipart → 400 (was a 500 with a stack trace), the
// per-client rate limit, refused floods tallied in the audit log (was one row per 503),
// tampered weights refused at load, and the token kept out of argv.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadServedModel, type ServedModel } from '../../src/app/serve/servedModel.js';
import { buildServer, type Server } from '../../src/app/serve/server.js';
import { AuditLog } from '../../src/app/serve/auditLog.js';
import { RefusalTally } from '../../src/app/serve/refusalTally.js';
import { resolveToken } from '../../src/app/serve/tokenSource.js';
import { errorMessage } from '../../src/util/errorMessage.js';
import { makeCheckpoint, phantomPng } from './fixture.js';

const TOKEN = 'hardening-token-0123456789abc';
let ckpt: string;
let tmp: string;
let served: ServedModel;
let srv: Server;
let base: string;
let png: Buffer;

before(async () => {
  ckpt = await makeCheckpoint();
  tmp = mkdtempSync(join(tmpdir(), 'cxrtune-hardening-'));
  served = await loadServedModel(ckpt);
  srv = await buildServer(served, { db: ':memory:', port: 0, rateLimit: 0 });
  base = await srv.listen();
  png = await phantomPng(128);
});
after(async () => {
  await srv?.close();
  rmSync(ckpt, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
});

/** Sends raw bytes on a socket and returns what the server wrote back before closing. */
function raw(bytes: string | Buffer): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    s.on('data', (c) => chunks.push(c));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.end(bytes);
  });
}

function jsonOf(response: string): { status: number; body: { error: string; detail: string } } {
  const status = Number(/^HTTP\/1\.1 (\d+)/.exec(response)?.[1]);
  const body = JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4));
  return { status, body };
}

test('HTTP parser errors: header overflow → 431 and garbage → 400, both {error, detail}', async () => {
  const big = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
  const o = jsonOf(big);
  assert.equal(o.status, 431);
  assert.equal(o.body.error, 'headers_too_large');
  const junk = jsonOf(await raw('\x16\x03\x01 not http at all\r\n\r\n'));
  assert.equal(junk.status, 400);
  assert.equal(junk.body.error, 'bad_request');
  assert.match(junk.body.detail, /not valid HTTP/);
  // The server is still there.
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
});

test('malformed multipart (no boundary, a part cut short, garbage) → 400 bad_multipart, never 500', async () => {
  const b = '----cut';
  const bodies: Array<[string, string | Buffer]> = [
    ['multipart/form-data', 'no boundary here'],
    [
      `multipart/form-data; boundary=${b}`,
      `--${b}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n`,
    ],
    [
      `multipart/form-data; boundary=${b}`,
      Buffer.concat([
        Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n`),
        png.subarray(0, 100),
      ]),
    ],
    [`multipart/form-data; boundary=${b}`, `--${b}\r\nthis is not a header\r\n\r\nxx\r\n--${b}--\r\n`],
  ];
  const logged: string[] = [];
  for (const [type, payload] of bodies) {
    const res = await srv.app.inject({
      method: 'POST',
      url: '/api/v1/screen',
      payload,
      headers: { 'content-type': type },
    });
    assert.ok(res.statusCode === 400, `${type}: ${res.statusCode} ${res.body}`);
    assert.ok(['bad_multipart', 'empty_body'].includes(res.json().error), res.body);
    logged.push(String(srv.audit.recent(1)[0]!.error));
  }
  assert.ok(
    logged.every((e) => !e.includes('[object')),
    logged.join('\n'),
  );
});

test(
  'per-client rate limit: the 6th request in a minute → 429 rate_limited with Retry-After; other clients ' +
    'unaffected',
  async () => {
    const db = join(tmp, 'rate.sqlite');
    const s = await buildServer(served, { db, port: 0, rateLimit: 5 });
    let closed = false;
    try {
      const codes: number[] = [];
      for (let i = 0; i < 8; i++)
        codes.push((await s.app.inject({ url: '/api/v1/model', remoteAddress: '10.0.0.7' })).statusCode);
      assert.deepEqual(codes, [200, 200, 200, 200, 200, 429, 429, 429]);
      const refused = await s.app.inject({ url: '/api/v1/model', remoteAddress: '10.0.0.7' });
      assert.equal(refused.json().error, 'rate_limited');
      assert.ok(Number(refused.headers['retry-after']) >= 1);
      assert.equal((await s.app.inject({ url: '/api/v1/model', remoteAddress: '10.0.0.8' })).statusCode, 200);
      // An unauthenticated flood is limited too (the limit runs before the token check).
      // The page and /healthz are not limited (a load balancer polls them).
      for (let i = 0; i < 10; i++)
        assert.equal((await s.app.inject({ url: '/healthz', remoteAddress: '10.0.0.7' })).statusCode, 200);
      // 4 refusals in (at most two) seconds: tallied rows, never one per refusal.
      await s.close();
      closed = true;
      const audit = new AuditLog(db);
      const rows = audit.recent(100).filter((r) => r.status === 429);
      audit.close();
      assert.ok(rows.length <= 4 && rows.length >= 1, `${rows.length} rows`);
      assert.equal(
        rows.reduce((a, r) => a + Number(r.count), 0),
        4,
      );
    } finally {
      if (!closed) await s.close();
    }
  },
);

test('a flood of 503s becomes one audit row per client per second with a count', () => {
  const audit = new AuditLog(':memory:');
  let now = 1_000_000;
  const tally = new RefusalTally(audit, () => now);
  const row = (i: number, client: string) => ({
    id: `r${i}`,
    time: '',
    client,
    method: 'POST',
    route: '/api/v1/screen',
    status: 503,
    modelSha256: 'm',
    latencyMs: i % 7,
  });
  for (let i = 0; i < 1000; i++) {
    now = 1_000_000 + i * 3; // 1000 refusals over 3 s
    tally.add(row(i, i % 2 ? '10.0.0.1' : '10.0.0.2'));
  }
  tally.close();
  const rows = audit.recent(100);
  assert.equal(audit.requests(), 1000, 'every refusal is counted');
  // 3 seconds × 2 clients × (first + tally) rows at most.
  assert.ok(rows.length <= 12, `${rows.length} rows for 1000 refusals`);
  assert.ok(rows.every((r) => r.status === 503));
  audit.close();
});

test(
  'tampered weights: the served model refuses to load; ' + 'a checkpoint without a hash loads with a warning',
  async () => {
    const dir = join(tmp, 'tampered');
    cpSync(ckpt, dir, { recursive: true });
    const f = join(dir, 'model.safetensors');
    const bytes = readFileSync(f);
    bytes[bytes.length - 1] ^= 0x01; // one bit of one weight
    writeFileSync(f, bytes);
    await assert.rejects(
      loadServedModel(dir),
      /refusing to serve .*model\.safetensors has SHA-256 .* but model\.json says/,
    );
    // Swapping in another checkpoint's weights is caught the same way.
    const meta = JSON.parse(readFileSync(join(ckpt, 'model.json'), 'utf8'));
    assert.match(meta.weightsSha256, /^[0-9a-f]{64}$/);
    assert.equal(meta.weightsSha256, served.sha256);
    const old = join(tmp, 'old');
    cpSync(ckpt, old, { recursive: true });
    delete meta.weightsSha256;
    writeFileSync(join(old, 'model.json'), JSON.stringify(meta));
    const warnings: string[] = [];
    const m = await loadServedModel(old, { warn: (l) => warnings.push(l) });
    assert.equal(m.sha256, served.sha256);
    assert.match(warnings.join('\n'), /names no weightsSha256/);
  },
);

test(
  'token sources: --token-file (trimmed, permission warning), ' + 'CXRTUNE_TOKEN, --token warns about ps; clear errors',
  () => {
    const f = join(tmp, 'token');
    writeFileSync(f, `${TOKEN}\n`);
    chmodSync(f, 0o600);
    const w: string[] = [];
    assert.equal(
      resolveToken({ tokenFile: f }, (l) => w.push(l)),
      TOKEN,
    );
    assert.equal(w.length, 0);
    chmodSync(f, 0o644);
    assert.equal(
      resolveToken({ tokenFile: f }, (l) => w.push(l)),
      TOKEN,
    );
    assert.match(w.join(), /readable by other users/);
    assert.equal(resolveToken({ env: TOKEN }), TOKEN);
    const w2: string[] = [];
    assert.equal(
      resolveToken({ token: TOKEN, env: 'other-token-xxxxxxxxxxxx' }, (l) => w2.push(l)),
      TOKEN,
    );
    assert.match(w2.join(), /visible to every user/);
    assert.throws(() => resolveToken({ tokenFile: join(tmp, 'nope') }), /cannot read the token file .*ENOENT/);
    writeFileSync(join(tmp, 'empty'), '\n');
    assert.throws(() => resolveToken({ tokenFile: join(tmp, 'empty') }), /is empty/);
    assert.throws(() => resolveToken({ tokenFile: f, token: TOKEN }), /give the token once/);
    copyFileSync(f, join(tmp, 'two'));
    writeFileSync(join(tmp, 'two'), 'a-token-0123456789abc\nsecond-line\n');
    assert.throws(() => resolveToken({ tokenFile: join(tmp, 'two') }), /one line/);
  },
);

test('errorMessage: thrown strings and plain objects become readable text, never [object Object]', () => {
  assert.equal(errorMessage(new Error('boom')), 'boom');
  assert.equal(
    errorMessage('dicomParser.readPart10Header: DICM prefix not found'),
    'dicomParser.readPart10Header: DICM prefix not found',
  );
  assert.equal(
    errorMessage({ exception: 'dicomParser.parseDicom: unexpected end of buffer', dataSet: {} }),
    'dicomParser.parseDicom: unexpected end of buffer',
  );
  assert.equal(errorMessage({ code: 7 }), 'unknown error (a thrown object with no message)');
  assert.equal(errorMessage(undefined), 'unknown error (a thrown undefined with no message)');
  const cyclic: Record<string, unknown> = {};
  cyclic.error = cyclic;
  assert.equal(errorMessage(cyclic), 'unknown error (a thrown object with no message)');
});
