// Load test of a running screening server: `clients` concurrent clients, each sending the
// same study back to back over a keep-alive connection for `durationS` seconds. Counts
// every non-200 (and every connection error) as an error; latencies are of the 200s.
// With `hostile`, more clients replay attacks (hostileInputs.ts) at the same time; their
// answers are tallied apart. On loopback each client sends from its own 127.x address, so
// the server's per-client rate limit sees them as the distinct clients they stand for.
import http from 'node:http';
import { nearestRankQuantile as quantile } from '../recipe/quantile.js';
import type { HostileRequest } from './hostileInputs.js';

interface LoadOptions {
  /** Base URL, e.g. http://127.0.0.1:8080 (loopback only makes sense: it is a local benchmark). */
  url: string;
  clients: number;
  durationS: number;
  body: Buffer;
  token?: string;
  hostile?: { clients: number; requests: HostileRequest[] };
  onTick?: (done: number, elapsedS: number) => void;
}

interface HostileResult {
  clients: number;
  requests: number;
  byStatus: Record<string, number>;
}

export interface LoadResult {
  clients: number;
  durationS: number;
  requests: number;
  ok: number;
  errors: number;
  errorsByKind: Record<string, number>;
  requestsPerS: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
  hostile?: HostileResult;
  /** Audit rows with status 200 (when the benchmark started the server itself). */
  auditRowsOk?: number;
}

function post(
  agent: http.Agent,
  url: URL,
  body: Buffer,
  token?: string,
  headers: Record<string, string> = { 'content-type': 'application/octet-stream' },
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: { ...headers, 'content-length': body.length, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      },
      (res) => {
        res.resume(); // drain: the body is not needed, only its arrival
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Client i's own agent; on loopback it sends from 127.<net>.<i / 250>.<i % 250 + 2>. */
function clientAgent(url: URL, net: number, i: number): http.Agent {
  const loop = url.hostname === '127.0.0.1' || url.hostname === 'localhost';
  return new http.Agent({
    keepAlive: true,
    maxSockets: 1,
    ...(loop ? { localAddress: `127.${net}.${Math.floor(i / 250)}.${(i % 250) + 2}` } : {}),
  });
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const url = new URL('/api/v1/screen', o.url);
  const agents = Array.from({ length: o.clients }, (_, i) => clientAgent(url, 1, i));
  const latencies: number[] = [];
  const errorsByKind: Record<string, number> = {};
  let requests = 0;
  const t0 = performance.now();
  const end = t0 + o.durationS * 1000;
  const tick = o.onTick ? setInterval(() => o.onTick!(requests, (performance.now() - t0) / 1000), 5000) : undefined;
  const client = async (agent: http.Agent) => {
    while (performance.now() < end) {
      const s = performance.now();
      try {
        const status = await post(agent, url, o.body, o.token);
        if (status === 200) latencies.push(performance.now() - s);
        else errorsByKind[`HTTP ${status}`] = (errorsByKind[`HTTP ${status}`] ?? 0) + 1;
      } catch (e) {
        const k = (e as NodeJS.ErrnoException).code ?? 'error';
        errorsByKind[k] = (errorsByKind[k] ?? 0) + 1;
      }
      requests++;
    }
  };
  const hostile: HostileResult | undefined = o.hostile
    ? { clients: o.hostile.clients, requests: 0, byStatus: {} }
    : undefined;
  const hostileAgents = Array.from({ length: o.hostile?.clients ?? 0 }, (_, i) => clientAgent(url, 2, i));
  const attacker = async (agent: http.Agent, k: number) => {
    const reqs = o.hostile!.requests;
    for (let j = k; performance.now() < end; j++) {
      const r = reqs[j % reqs.length]!;
      let kind: string;
      try {
        kind = String(await post(agent, url, r.body, r.withToken ? o.token : undefined, r.headers));
      } catch (e) {
        kind = (e as NodeJS.ErrnoException).code ?? 'error';
      }
      hostile!.byStatus[kind] = (hostile!.byStatus[kind] ?? 0) + 1;
      hostile!.requests++;
    }
  };
  await Promise.all([...agents.map((a) => client(a)), ...hostileAgents.map((a, k) => attacker(a, k))]);
  if (tick) clearInterval(tick);
  for (const a of [...agents, ...hostileAgents]) a.destroy();
  const elapsed = (performance.now() - t0) / 1000;
  const errors = Object.values(errorsByKind).reduce((a, b) => a + b, 0);
  return {
    clients: o.clients,
    durationS: elapsed,
    requests,
    ok: latencies.length,
    errors,
    errorsByKind,
    requestsPerS: latencies.length / elapsed,
    p50Ms: quantile(latencies, 0.5),
    p95Ms: quantile(latencies, 0.95),
    p99Ms: quantile(latencies, 0.99),
    meanMs: latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length),
    maxMs: latencies.length ? Math.max(...latencies) : NaN,
    ...(hostile ? { hostile } : {}),
  };
}
