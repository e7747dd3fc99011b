// Access control of `cxrtune serve` decided on the matched route: every registered route ×
// every URL encoding an attacker might use (percent-encoded letters, double slashes, dot
// segments, case, trailing slash, `;` parameters, encoded slashes, double encoding) must
// answer 401 without the token and leave exactly one audit row; the public list (page,
// assets, healthz) is the only thing open. The bypass this replaces: `/%61pi/v1/screen`
// ran the model with no token and no audit row.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadServedModel, type ServedModel } from '../../src/app/serve/servedModel.js';
import { buildServer, type Server } from '../../src/app/serve/server.js';
import { PUBLIC_ROUTES } from '../../src/app/serve/routeAccess.js';
import { makeCheckpoint, phantomPng } from './fixture.js';

const TOKEN = 'route-access-token-0123456789';
let ckpt: string;
let served: ServedModel;
let srv: Server;
let png: Buffer;
let tmp: string;

before(async () => {
  ckpt = await makeCheckpoint();
  tmp = mkdtempSync(join(tmpdir(), 'cxrtune-route-access-'));
  served = await loadServedModel(ckpt);
  // With the PACS link in STOW-RS mode, so its routes (studies, worklist) are enumerated too.
  srv = await buildServer(served, {
    db: ':memory:',
    port: 0,
    token: TOKEN,
    rateLimit: 0,
    pacs: { worklist: join(tmp, 'worklist.sqlite') },
  });
  png = await phantomPng(128);
});
after(async () => {
  await srv?.close();
  rmSync(ckpt, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
});

const hex = (c: string) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`;

/** The ways one path can be written so that a naive prefix check and a router disagree. */
function encodings(path: string): Array<[string, string]> {
  const segs = path.split('/').slice(1);
  const out: Array<[string, string]> = [['plain', path]];
  // Each letter of the first segment percent-encoded in turn, lower and upper hex.
  const first = segs[0] ?? '';
  for (let i = 0; i < first.length; i++) {
    const e = first.slice(0, i) + hex(first[i]!) + first.slice(i + 1);
    out.push([`%-encoded letter ${i}`, `/${[e, ...segs.slice(1)].join('/')}`]);
    out.push([
      `%-encoded letter ${i} (upper hex)`,
      `/${[first.slice(0, i) + hex(first[i]!).toUpperCase() + first.slice(i + 1), ...segs.slice(1)].join('/')}`,
    ]);
  }
  const last = segs.at(-1) ?? '';
  if (last) out.push(['%-encoded last letter', path.slice(0, -1) + hex(last.at(-1)!)]);
  out.push([
    'double-encoded letter',
    '/' +
      (first ? `%25${first.charCodeAt(0).toString(16)}${first.slice(1)}` : '') +
      (segs.length > 1 ? `/${segs.slice(1).join('/')}` : ''),
  ]);
  out.push(['leading double slash', `/${path}`]);
  out.push(['inner double slash', path.replace(/\/([^/]*)$/, '//$1')]);
  out.push(['dot segment', path.replace(/\/([^/]*)$/, '/./$1')]);
  out.push(['dot-dot segment', `/x/..${path}`]);
  out.push(['encoded dot-dot', `/x/%2e%2e${path}`]);
  out.push(['upper case', path.toUpperCase()]);
  out.push(['mixed case', path.replace(/[a-z]/, (c) => c.toUpperCase())]);
  out.push(['trailing slash', `${path}/`]);
  out.push(['; parameter', `${path};jsessionid=1`]);
  out.push(['; parameter on first segment', `/${first};x=1${segs.length > 1 ? `/${segs.slice(1).join('/')}` : ''}`]);
  out.push(['encoded slashes', `/${segs.join('%2F')}`]);
  out.push(['query string', `${path}?a=1`]);
  out.push(['fragment-like', `${path}%23x`]);
  out.push(['backslash', path.replace(/\//g, '\\').replace(/^\\/, '/')]);
  out.push(['tab', `${path}%09`]);
  out.push(['null byte', `${path}%00`]);
  return out;
}

test(
  'every non-public route × every URL encoding: ' + '401 without a token, and exactly one audit row per call',
  async () => {
    const api = srv.routes.filter((r) => !PUBLIC_ROUTES.has(r.url));
    assert.ok(
      api.some((r) => r.url === '/api/v1/screen' && r.method === 'POST'),
      'the screen route is enumerated',
    );
    assert.ok(
      api.some((r) => r.url === '/api/v1/model'),
      'the model card route is enumerated',
    );
    assert.ok(
      api.some((r) => r.url.startsWith('/api/v1/studies')) && api.some((r) => r.url.startsWith('/api/v1/worklist')),
      'the PACS routes are enumerated',
    );
    let cases = 0;
    for (const r of api) {
      for (const [how, url] of encodings(r.url)) {
        const before = srv.audit.requests();
        const res = await srv.app.inject({
          method: r.method as 'GET',
          url,
          payload: r.method === 'POST' ? png : undefined,
          headers: { 'content-type': 'application/octet-stream' },
        });
        assert.ok(
          res.statusCode === 401 || res.statusCode === 400,
          `${r.method} ${url} (${how}) → ${res.statusCode} ${res.body.slice(0, 80)}`,
        );
        assert.ok(!/probability/.test(res.body), `${r.method} ${url} (${how}) leaked a result`);
        if (r.method !== 'HEAD')
          assert.ok(
            typeof res.json().error === 'string' && typeof res.json().detail === 'string',
            `${url}: {error, detail}`,
          );
        assert.equal(srv.audit.requests() - before, 1, `${r.method} ${url} (${how}) wrote one audit row`);
        cases++;
      }
    }
    assert.ok(cases >= 150, `${cases} cases`);
    console.log(`# route × encoding: ${api.length} routes, ${cases} cases, 0 bypasses`);
  },
);

test('the %-encoded path that used to bypass the token now names the matched route in the audit row', async () => {
  const res = await srv.app.inject({
    method: 'POST',
    url: '/%61pi/v1/screen',
    payload: png,
    headers: { 'content-type': 'application/octet-stream' },
  });
  assert.equal(res.statusCode, 401);
  const row = srv.audit.recent(1)[0]!;
  assert.equal(row.route, '/api/v1/screen');
  assert.equal(row.status, 401);
  // With the token the same encoding reaches the same route (the router decodes it) and is audited too.
  const ok = await srv.app.inject({
    method: 'GET',
    url: '/%61pi/v1/model',
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(ok.statusCode, 200);
  assert.equal(srv.audit.recent(1)[0]!.route, '/api/v1/model');
});

test(
  'only the public list is open: the page, ' + 'its assets and /healthz answer without a token and write no audit row',
  async () => {
    const before = srv.audit.requests();
    for (const url of PUBLIC_ROUTES) {
      const res = await srv.app.inject({ url });
      assert.equal(res.statusCode, 200, url);
    }
    assert.equal(srv.audit.requests(), before);
    // Unknown paths are not public: 401 (not 404) without the token, 404 with it; both audited.
    assert.equal((await srv.app.inject({ url: '/admin' })).statusCode, 401);
    assert.equal(
      (await srv.app.inject({ url: '/admin', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode,
      404,
    );
    assert.equal(srv.audit.requests(), before + 2);
    assert.match(String(srv.audit.recent(1)[0]!.route), /^\(no route\) \/admin$/);
  },
);

test('a malformed %-escape is a 400 in the {error, detail} shape, audited', async () => {
  const before = srv.audit.requests();
  const res = await srv.app.inject({ url: '/api/v1/%zz' });
  assert.equal(res.statusCode, 400);
  assert.equal(res.json().error, 'bad_request');
  assert.equal(srv.audit.requests(), before + 1);
});
