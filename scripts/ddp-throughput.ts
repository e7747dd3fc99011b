// Training images/s of data parallelism on this machine: 1 process × 1 thread, 1 process ×
// 2 threads (batch 16), 2 processes × 1 thread (batch 8 each) with gradient averaging, and the
// same 2 processes without it (what the cores give two independent processes: the ceiling).
// resnet18, 112 px, synthetic batches, 10 timed steps after 2 warm-up steps.
//   node --import tsx scripts/ddp-throughput.ts [rounds]
// --sync-bn: instead, the cost of SyncBatchNorm — 2 processes × 1 thread (batch 8 each, BatchNorm
// training), plain DDP and DDP with SyncBatchNorm alternating, step times per round, medians.
//   node --import tsx scripts/ddp-throughput.ts 7 --sync-bn
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { launchLocal } from '../src/app/train/launcher.js';
import { distEnvFrom, ProcessGroup } from '../src/engine/distributed.js';
import { Model } from '../src/engine/model.js';
import { manualSeed, setThreads } from '../src/engine/runtime.js';

const self = fileURLToPath(import.meta.url);
const SIZE = 112,
  STEPS = 12,
  WARM = 2;

async function worker(): Promise<void> {
  const threads = Number(process.env.T ?? 1),
    batch = Number(process.env.B ?? 8);
  setThreads(threads);
  const env = distEnvFrom();
  const g = env ? await ProcessGroup.init({ ...env, timeoutMs: 120_000 }) : undefined;
  manualSeed(1);
  const m = await Model.create({ arch: 'resnet18', numClasses: 2 });
  if (g) {
    await g.broadcastModel(m);
    await g.setGradSync(process.env.SYNC !== '0');
    if (process.env.SYNCBN === '1') await g.setSyncBatchNorm(true);
  }
  m.configureOptimizer({ kind: 'sgd', groups: [m.parameters().flatMap((p, i) => (p.kind === 'param' ? [i] : []))] });
  const pixels = new Uint8Array(batch * SIZE * SIZE).map((_, i) => Math.imul(i, 2654435761) >>> 24);
  const labels = Int32Array.from({ length: batch }, (_, i) => i & 1);
  let t0 = 0;
  for (let s = 0; s < STEPS; s++) {
    if (s === WARM) {
      await g?.barrier();
      t0 = performance.now();
    }
    await m.trainStep({ pixels, shape: [batch, SIZE, SIZE, 1], labels }, [{ lr: 0.01, momentum: 0.9, weightDecay: 0 }]);
  }
  await g?.barrier();
  const ips = ((STEPS - WARM) * batch * (g?.worldSize ?? 1)) / ((performance.now() - t0) / 1000);
  if (!g || g.isMain) process.stdout.write(`${ips.toFixed(1)}\n`);
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 2);
  const one = (env: Record<string, string>) => {
    const r = spawnSync(process.execPath, [...process.execArgv, self], {
      env: { ...process.env, ...env, CXRTUNE_DDP_BENCH_WORKER: '1' },
      encoding: 'utf8',
    });
    return Number(r.stdout.trim());
  };
  const two = async (sync: boolean, syncBn = false) => {
    const r = spawnSync(process.execPath, [...process.execArgv, self], {
      env: { ...process.env, CXRTUNE_DDP_BENCH_TWO: '1', SYNC: sync ? '1' : '0', SYNCBN: syncBn ? '1' : '0' },
      encoding: 'utf8',
    });
    return Number(r.stdout.trim());
  };
  if (process.argv.includes('--sync-bn')) {
    const ms = (ips: number) => (1000 * 16) / ips; // one step = 2 × 8 images
    const plain: number[] = [],
      synced: number[] = [];
    for (let r = 1; r <= rounds; r++) {
      // Alternate which goes first, so a change of load favours neither.
      let p: number, q: number;
      if (r % 2) {
        p = ms(await two(true));
        q = ms(await two(true, true));
      } else {
        q = ms(await two(true, true));
        p = ms(await two(true));
      }
      plain.push(p);
      synced.push(q);
      process.stdout.write(
        `round ${r} (load ${loadavg()[0].toFixed(2)}): DDP ${p.toFixed(0)} ms/step | DDP + SyncBatchNorm ` +
          `${q.toFixed(0)} ms/step (${(q / p).toFixed(2)}×)\n`,
      );
    }
    const med = (xs: number[]) => {
      const a = [...xs].sort((x, y) => x - y);
      const n = a.length;
      return n % 2 ? a[(n - 1) / 2]! : (a[n / 2 - 1]! + a[n / 2]!) / 2;
    };
    const range = (xs: number[]) => `${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}`;
    const ratios = synced.map((s, i) => s / plain[i]!);
    process.stdout.write(
      `median: DDP ${med(plain).toFixed(0)} ms/step (${range(plain)}), + SyncBatchNorm ` +
        `${med(synced).toFixed(0)} ms/step (${range(synced)}); ` +
        `per-round ratio median ${med(ratios).toFixed(2)} ` +
        `(${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})\n`,
    );
    return;
  }
  for (let r = 1; r <= rounds; r++) {
    const a = one({ T: '1', B: '8' });
    const b = one({ T: '2', B: '16' });
    const c = await two(true);
    const d = await two(false);
    process.stdout.write(
      `round ${r} (load ${loadavg()[0].toFixed(2)}): 1×1 thread ${a} | 1×2 threads ${b} | 2 procs×1 thread ${c} ` +
        `(efficiency vs 2×(1×1): ${(c / (2 * a)).toFixed(2)}) | 2 procs, no gradient sync ${d} ` +
        `(sync/no-sync ${(c / d).toFixed(2)}) images/s\n`,
    );
  }
}

if (process.env.CXRTUNE_DDP_BENCH_WORKER || process.env.WORLD_SIZE) await worker();
else if (process.env.CXRTUNE_DDP_BENCH_TWO)
  process.exitCode = await launchLocal({ nproc: 2, args: [self], env: { T: '1', B: '8' } });
else await main();
