// Load test of a running screening server: `clients` concurrent clients, each sending the
// same study back to back over a keep-alive connection for `durationS` seconds. Counts
// every non-200 (and every connection error) as an error; latencies are of the 200s.
import http from 'node:http';
import { quantile } from './quantile.js';

export interface LoadOptions {
  /** Base URL, e.g. http://127.0.0.1:8080 (loopback only makes sense: it is a local benchmark). */
  url: string;
  clients: number;
  durationS: number;
  body: Buffer;
  token?: string;
  onTick?: (done: number, elapsedS: number) => void;
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
}

function post(agent: http.Agent, url: URL, body: Buffer, token?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST', agent,
      headers: { 'content-type': 'application/octet-stream', 'content-length': body.length, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    }, (res) => {
      res.resume(); // drain: the body is not needed, only its arrival
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const url = new URL('/api/v1/screen', o.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.clients });
  const latencies: number[] = [];
  const errorsByKind: Record<string, number> = {};
  let requests = 0;
  const t0 = performance.now();
  const end = t0 + o.durationS * 1000;
  const tick = o.onTick ? setInterval(() => o.onTick!(requests, (performance.now() - t0) / 1000), 5000) : undefined;
  const client = async () => {
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
  await Promise.all(Array.from({ length: o.clients }, client));
  if (tick) clearInterval(tick);
  agent.destroy();
  const elapsed = (performance.now() - t0) / 1000;
  const errors = Object.values(errorsByKind).reduce((a, b) => a + b, 0);
  return {
    clients: o.clients, durationS: elapsed, requests, ok: latencies.length, errors, errorsByKind,
    requestsPerS: latencies.length / elapsed,
    p50Ms: quantile(latencies, 0.5), p95Ms: quantile(latencies, 0.95), p99Ms: quantile(latencies, 0.99),
    meanMs: latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length), maxMs: latencies.length ? Math.max(...latencies) : NaN,
  };
}
