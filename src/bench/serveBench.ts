// `cxrtune bench --serve`: one-study latency (decode + predict + Grad-CAM) per architecture,
// then a load test — N concurrent clients for D seconds against a server on loopback
// (started here with --model, or an untrained-head MobileNetV2; or an existing one, --url).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Arch } from '../engine/types.js';
import { setThreads, physicalCores } from '../engine/runtime.js';
import { benchStudy, phantomStudyPng, type StudyBenchResult } from './studyBench.js';
import { runLoad, type LoadResult } from './loadBench.js';
import { hostileRequests } from './hostileInputs.js';
import { randomBytes } from 'node:crypto';
import { loadServedModel } from '../app/serve/servedModel.js';
import { buildServer } from '../app/serve/server.js';
import { writeUntrainedCheckpoint } from './untrainedCheckpoint.js';

interface ServeBenchOptions {
  archs: Arch[];
  size: number;
  threads?: number;
  model?: string;
  url?: string;
  token?: string;
  clients: number;
  duration: number;
  studyRuns: number;
  /** Clients replaying hostile inputs during the load test (0 = none). */
  hostile: number;
  json: boolean;
}

const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');

export async function runServeBench(o: ServeBenchOptions): Promise<void> {
  setThreads(o.threads ?? physicalCores());
  const log = (s: string) => {
    if (!o.json) process.stderr.write(`${s}\n`);
  };
  const studies: StudyBenchResult[] = [];
  if (o.studyRuns > 0) {
    for (const arch of o.archs) {
      log(`one study, ${arch}@${o.size}: ${o.studyRuns} runs…`);
      studies.push(await benchStudy(arch, { size: o.size, runs: o.studyRuns }));
    }
  }
  let load: LoadResult | null = null;
  if (o.duration > 0) {
    const tmp = mkdtempSync(join(tmpdir(), 'cxrtune-servebench-'));
    try {
      const body = await phantomStudyPng(1024);
      const hostile = o.hostile > 0 ? { clients: o.hostile, requests: await hostileRequests(body) } : undefined;
      let url = o.url;
      let close = async (): Promise<void> => {};
      let what = url ?? '';
      let token = o.token;
      let auditOk = (): number | null => null;
      if (!url) {
        let modelDir = o.model;
        if (!modelDir) {
          modelDir = join(tmp, 'model');
          await writeUntrainedCheckpoint(modelDir, 'mobilenet_v2', o.size);
        }
        const served = await loadServedModel(modelDir);
        // Capacity above the client count: the benchmark measures service, not refusals.
        // With hostile clients the server runs as deployed: a token, the rate limit on.
        token = o.hostile > 0 ? randomBytes(24).toString('hex') : undefined;
        const server = await buildServer(served, {
          host: '127.0.0.1',
          port: 0,
          db: join(tmp, 'audit.sqlite'),
          queue: { capacity: Math.max(32, o.clients * 2) },
          ...(token ? { token } : {}),
        });
        auditOk = () => server.audit.requestsWithStatus(200);
        url = await server.listen();
        close = () => server.close();
        what = `${served.meta.arch}@${served.meta.preprocessing.size} on ${url}`;
      }
      log(
        `load: ${o.clients} clients` +
          (hostile
            ? ` + ${o.hostile} hostile replaying ${hostile.requests.length} attacks ` +
              '(the adversarial corpus, malformed multipart, no token)'
            : '') +
          ` for ${o.duration} s against ${what} (a ${body.length}-byte 1024×1024 PNG per request)…`,
      );
      try {
        load = await runLoad({
          url,
          clients: o.clients,
          durationS: o.duration,
          body,
          ...(token ? { token } : {}),
          ...(hostile ? { hostile } : {}),
          onTick: (n, t) => log(`  ${t.toFixed(0)} s: ${n} requests`),
        });
        const rows = auditOk();
        if (rows !== null) load.auditRowsOk = rows;
      } finally {
        await close();
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  if (o.json) {
    console.log(JSON.stringify({ threads: o.threads ?? physicalCores(), studies, load }));
    return;
  }
  if (studies.length) {
    console.log('one study (decode + predict + Grad-CAM + PNGs), 1024×1024 PNG in:');
    console.log('arch           size  median ms  p95 ms  min ms  decode  infer  render');
    for (const s of studies) {
      console.log(
        `${s.arch.padEnd(13)} ${String(s.size).padStart(5)} ${f(s.medianMs).padStart(10)} ` +
          `${f(s.p95Ms).padStart(7)} ${f(s.minMs).padStart(7)} ${f(s.decodeMs).padStart(7)} ` +
          `${f(s.inferMs).padStart(6)} ${f(s.renderMs).padStart(7)}`,
      );
    }
  }
  if (load) {
    const errs = Object.entries(load.errorsByKind)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ');
    console.log(
      `load: ${load.clients} clients, ${f(load.durationS)} s: ${load.requests} requests, ` +
        `${f(load.requestsPerS, 2)} requests/s, ` +
        `p50 ${f(load.p50Ms, 0)} ms, p95 ${f(load.p95Ms, 0)} ms, p99 ${f(load.p99Ms, 0)} ms, max ` +
        `${f(load.maxMs, 0)} ms, errors ${load.errors}${errs ? ` (${errs})` : ''}` +
        (load.auditRowsOk !== undefined
          ? `, audit rows for 200s ${load.auditRowsOk}/${load.ok + (load.hostile?.byStatus['200'] ?? 0)}`
          : ''),
    );
    if (load.hostile) {
      const by = Object.entries(load.hostile.byStatus)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ');
      console.log(`hostile: ${load.hostile.clients} clients, ${load.hostile.requests} requests (${by})`);
    }
  }
}
