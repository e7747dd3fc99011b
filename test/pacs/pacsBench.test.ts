// PACS-link figures with a real Orthanc (CXRTUNE_HEAVY=1): latency from an instance arriving
// in Orthanc (its REST upload answered) to the SR stored back (STOW-RS answered), median of
// 20 one at a time; and throughput with 200 instances queued in Orthanc before cxrtune starts.
// Prints the figures (docs/PACS.md quotes them); asserts only that everything arrived.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { ServedModel } from '../../src/app/serve/servedModel.js';
import { buildServer, type Server } from '../../src/app/serve/server.js';
import { nearestRankQuantile as quantile } from '../../src/recipe/quantile.js';
import { cxrDicom } from './cxrDicom.js';
import { type Orthanc, orthancSkip, pacsFixture, type PacsFixture } from './orthanc.js';
import { HANG_MS, waitFor } from '../helpers/waitFor.js';

const heavy = process.env.CXRTUNE_HEAVY === '1';
const skip = !heavy ? 'set CXRTUNE_HEAVY=1' : orthancSkip;
const N_LATENCY = 20;
const N_QUEUED = Number(process.env.CXRTUNE_PACS_QUEUED ?? 200);
let tmp: string;
let served: ServedModel;
let orthanc: Orthanc;

let fixture: PacsFixture | undefined;

before(async () => {
  if (skip) return;
  fixture = await pacsFixture('cxrtune-pacs-bench-');
  ({ tmp, served, orthanc } = fixture);
});
after(() => fixture?.dispose());

const start = () =>
  buildServer(served, {
    db: join(tmp, 'audit.sqlite'),
    port: 0,
    pacs: { url: orthanc.url, worklist: join(tmp, 'w.sqlite') },
  });
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: quantile(s, 0.5), p10: quantile(s, 0.1), p90: quantile(s, 0.9), min: s[0]!, max: s[s.length - 1]! };
};

/** When the instance's SR was sent; polled every 2 ms (the figures' resolution). */
async function sentAt(srv: Server, sop: string, timeoutMs = HANG_MS): Promise<number> {
  const item = () => srv.pacs!.store.list().find((i) => i.sopUid === sop);
  return waitFor(
    () => {
      const it = item();
      if (it?.status === 'failed' || it?.status === 'skipped') throw new Error(`${it.status}: ${it.reason}`);
      return it?.status === 'sent' ? it.sentMs! : undefined;
    },
    () => `instance ${sop} to be sent (${item()?.status ?? 'not seen'})`,
    { everyMs: 2, timeoutMs },
  );
}

test(`latency arrival → SR stored (median of ${N_LATENCY}) and throughput with ${N_QUEUED} queued`, {
  skip,
  timeout: 1_200_000,
}, async () => {
  let srv = await start();
  await waitFor(() => srv.pacs!.store.cursor() !== null, "the PACS link to read Orthanc's change log");
  // Warm-up (first engine call allocates).
  const w = cxrDicom({ seed: 1 });
  await orthanc.upload(w.bytes);
  await sentAt(srv, w.sopUid);
  const lat: number[] = [];
  // Where the time goes: seen (change log polled), screened (fetched, screened, SR + SC written), sent (STOW-RS).
  const seen: number[] = [];
  const screened: number[] = [];
  const sent: number[] = [];
  for (let i = 0; i < N_LATENCY; i++) {
    const d = cxrDicom({ seed: 100 + i });
    await orthanc.upload(d.bytes);
    const t0 = Date.now();
    const t3 = await sentAt(srv, d.sopUid);
    lat.push(t3 - t0);
    const it = srv.pacs!.store.list().find((x) => x.sopUid === d.sopUid)!;
    const t2 = Date.parse(it.screenedAt!);
    seen.push(it.arrivedMs - t0);
    screened.push(t2 - it.arrivedMs);
    sent.push(t3 - t2);
  }
  await srv.close();

  // 200 instances arrive while cxrtune is down; it starts and works through the backlog.
  const queued = Array.from({ length: N_QUEUED }, (_, i) => cxrDicom({ seed: 1000 + i }));
  for (const d of queued) await orthanc.upload(d.bytes);
  const t0 = Date.now();
  srv = await start();
  let last = 0;
  // The backlog's first instance may wait for most of it: the deadline is the test's, less the latency part.
  for (const d of queued) last = Math.max(last, await sentAt(srv, d.sopUid, 900_000));
  const seconds = (last - t0) / 1000;
  const counts = srv.pacs!.store.counts();
  await srv.close();
  assert.equal(counts.sent, N_LATENCY + 1 + N_QUEUED);
  const L = stats(lat);
  console.log(
    JSON.stringify({
      latencyMs: Object.fromEntries(Object.entries(L).map(([k, v]) => [k, Math.round(v)])),
      latencyRawMs: lat,
      medianStageMs: { seen: stats(seen).median, screened: stats(screened).median, sent: stats(sent).median },
      throughput: {
        instances: N_QUEUED,
        seconds: Math.round(seconds * 10) / 10,
        perSecond: Math.round((N_QUEUED / seconds) * 100) / 100,
      },
      model: served.meta.arch,
      inputSize: served.meta.preprocessing.size,
      pollMs: 250,
      concurrency: 4,
    }),
  );
});
