// Data parallel on c10d Gloo: torchrun's environment, the launcher, and the golden check that 2 processes ×
// batch 8 end with the weights of 1 process × batch 16 (gradients averaged over ranks).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { distEnvFrom, PROCESS_GROUP_DEFAULTS, ProcessGroup } from '../../src/engine/distributed.js';
import { launchLocal, withoutFlag } from '../../src/app/train/launcher.js';
import { setThreads } from '../../src/engine/runtime.js';
import { runSteps } from './helpers/ddpSteps.js';
import { HANG_MS } from '../helpers/waitFor.js';

const helper = fileURLToPath(new URL('./helpers/ddpSteps.ts', import.meta.url));

test('torchrun environment: read when WORLD_SIZE > 1, clear errors otherwise', () => {
  assert.equal(distEnvFrom({}), null);
  assert.equal(distEnvFrom({ WORLD_SIZE: '1', RANK: '0' }), null);
  assert.deepEqual(distEnvFrom({ WORLD_SIZE: '4', RANK: '2', MASTER_ADDR: '10.0.0.1', MASTER_PORT: '29400' }), {
    rank: 2,
    worldSize: 4,
    localRank: 2,
    masterAddr: '10.0.0.1',
    masterPort: 29400,
  });
  assert.throws(() => distEnvFrom({ WORLD_SIZE: '2' }), /RANK must be too/);
  assert.throws(() => distEnvFrom({ WORLD_SIZE: '2', RANK: '2' }), /RANK=2 must be below WORLD_SIZE=2/);
  assert.deepEqual(withoutFlag(['train', '--nproc', '2', '--out', 'r', '--nproc=3'], '--nproc'), [
    'train',
    '--out',
    'r',
  ]);
});

const maxAbsDiff = (a: Float32Array, b: Float32Array) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
const rmsDiff = (a: Float32Array, b: Float32Array) => {
  assert.equal(a.length, b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s / a.length);
};
const read = (f: string) => {
  const b = readFileSync(f);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

async function twoRanks(bn: string, o: { precision?: string; steps?: number; split?: number } = {}) {
  const out = mkdtempSync(join(tmpdir(), 'cxrtune-ddp-'));
  const env = {
    DDP_OUT: out,
    DDP_BN: bn,
    DDP_PRECISION: o.precision ?? 'fp32',
    ...(o.steps !== undefined ? { DDP_STEPS: String(o.steps) } : {}),
    ...(o.split !== undefined ? { DDP_SPLIT: String(o.split) } : {}),
  };
  const code = await launchLocal({ nproc: 2, args: [helper], execArgv: ['--import', 'tsx'], env, graceMs: 20_000 });
  assert.equal(code, 0, 'both workers exit 0');
  return [0, 1].map((r) => ({
    params: read(join(out, `rank${r}.params.bin`)),
    buffers: read(join(out, `rank${r}.buffers.bin`)),
  }));
}

test(
  'golden: 2 processes × batch 8 = 1 process × batch 16 ' + 'after 3 SGD-momentum steps (fp32, BatchNorm frozen)',
  async () => {
    setThreads(2);
    const one = await runSteps('frozen');
    const [r0, r1] = await twoRanks('frozen');
    const start = await initialParams();
    const moved = maxAbsDiff(one.params, start);
    const d = maxAbsDiff(one.params, r0!.params);
    process.stderr.write(
      `ddp golden (BN frozen): max |Δw| 1×16 vs 2×8 = ${d.toExponential(2)} (weights moved up to ` +
        `${moved.toExponential(2)})\n`,
    );
    assert.ok(moved > 1e-3, 'the steps moved the weights');
    assert.ok(d < 1e-5, `max |Δw| ${d} < 1e-5`);
    assert.equal(maxAbsDiff(r0!.params, r1!.params), 0, 'the ranks hold identical weights');
  },
);

test('BatchNorm training: per-process batch statistics (as DDP) make 2×8 differ from 1×16', async () => {
  setThreads(2);
  const one = await runSteps('train');
  const [r0, r1] = await twoRanks('train');
  const d = maxAbsDiff(one.params, r0!.params);
  const db = maxAbsDiff(r0!.buffers, r1!.buffers);
  process.stderr.write(
    `ddp BN train: max |Δw| 1×16 vs 2×8 = ${d.toExponential(2)}; running stats rank 0 vs 1 differ by ` +
      `${db.toExponential(2)}\n`,
  );
  assert.ok(d > 1e-5, 'normalising by 8-image statistics is not normalising by 16');
  assert.equal(maxAbsDiff(r0!.params, r1!.params), 0, 'parameters stay identical across ranks');
  assert.ok(db > 0, 'running statistics are per process');
});

// SyncBatchNorm (train --sync-bn): every BatchNorm normalises with the statistics of all 16 images.
// Exact arithmetic gives 2 × 8 the weights of 1 × 16; fp32 gives another summation order, and the
// step amplifies it: BatchNorm's dx sums to zero over the batch, so conv1's weight gradient
// Σ dx·patch cancels. One step, not more: after one, the computation's own rounding floor (the
// same 1 × 16 step with the images in reverse order, or on 1 vs 2 threads) is ≤ 7e-7 with
// oneDNN's AVX2 or AVX-512 convolutions and with ATen's default kernels alike (2 × 8: ≤ 6e-7);
// after two it is 1.2e-4 at AVX2 (5.9e-7 at AVX-512), so a second step measures the CPU's
// conditioning, not the algorithm. 1e-5 is 14 × that floor; a slip in the statistics
// (per-process BatchNorm) lands 3e-1 away. The floor is measured and checked here too.
test(
  'SyncBatchNorm: 2 processes × batch 8 = 1 process × batch 16 with BatchNorm training (weights and running ' +
    'statistics)',
  async () => {
    setThreads(2);
    const one = await runSteps('train', undefined, { steps: 1 });
    const reversed = await runSteps('train', undefined, { steps: 1, reversed: true });
    const start = await runSteps('train', undefined, { steps: 0 });
    const [r0, r1] = await twoRanks('sync', { steps: 1 });
    const d = maxAbsDiff(one.params, r0!.params);
    const db = maxAbsDiff(one.buffers, r0!.buffers);
    const floor = maxAbsDiff(one.params, reversed.params);
    const floorB = maxAbsDiff(one.buffers, reversed.buffers);
    process.stderr.write(
      `ddp sync BN (1 step): max |Δw| 1×16 vs 2×8 = ${d.toExponential(2)} (floor ${floor.toExponential(2)}); ` +
        `running stats max |Δ| = ${db.toExponential(2)} (floor ${floorB.toExponential(2)}, moved up to ` +
        `${maxAbsDiff(one.buffers, start.buffers).toExponential(2)})\n`,
    );
    assert.ok(maxAbsDiff(one.buffers, start.buffers) > 1e-2, 'the running statistics moved');
    assert.ok(floor < 1e-5, `the step is well conditioned here (reversed-order floor ${floor})`);
    assert.ok(d < 1e-5, `max |Δw| ${d} < 1e-5`);
    assert.ok(db < 1e-5, `running statistics max |Δ| ${db} < 1e-5`);
    assert.equal(maxAbsDiff(r0!.params, r1!.params), 0, 'the ranks hold identical weights');
    assert.equal(maxAbsDiff(r0!.buffers, r1!.buffers), 0, 'and identical running statistics');
  },
);

// Ranks with different counts (11 and 5 images): the statistics weigh each rank by its count, so one
// step's forward (the running statistics) is the 16-image one. (The weights are not: DDP averages the
// ranks' gradients with equal weight, each the mean over its own images.)
test('SyncBatchNorm with unequal local batches (11 + 5): running statistics of the 16 images', async () => {
  setThreads(2);
  const one = await runSteps('train', undefined, { steps: 1 });
  const [r0, r1] = await twoRanks('sync', { steps: 1, split: 11 });
  const db = maxAbsDiff(one.buffers, r0!.buffers);
  // (per-process statistics, DDP_BN=train with the same split, land 8.3e-2 away)
  process.stderr.write(`ddp sync BN, 11 + 5 images: running stats max |Δ| vs 1×16 = ${db.toExponential(2)}\n`);
  assert.ok(db < 1e-5, `running statistics max |Δ| ${db} < 1e-5`);
  assert.equal(maxAbsDiff(r0!.buffers, r1!.buffers), 0, 'identical on both ranks');
});

// bf16 autocast: statistics and dx in fp32, activations and weights in bf16 (unit roundoff 2⁻⁸).
// Splitting the batch changes which values get rounded, and conv1's cancelling weight gradient
// (above) turns those roundings into weight changes of up to a quarter of the step itself (max
// |Δw| 2.3e-2–3.6e-2 after a 9e-2 step, at every ISA level), so no rounding bound on the max
// separates sync from a slip. The root-mean-square over all weights does: SyncBatchNorm's
// difference is 0.15–0.29 × that of per-process BatchNorm (statistics of 8 images, not 16) at
// AVX-512-BF16, oneDNN AVX2 and ATen's default kernels; 0.4 × is the bound.
test('SyncBatchNorm under bf16 autocast: 2×8 is far closer to 1×16 than per-process BatchNorm (1 step)', async () => {
  setThreads(2);
  const one = await runSteps('train', undefined, { steps: 1, precision: 'bf16' });
  const [p0] = await twoRanks('train', { steps: 1, precision: 'bf16' });
  const [r0, r1] = await twoRanks('sync', { steps: 1, precision: 'bf16' });
  const d = rmsDiff(one.params, r0!.params);
  const dPlain = rmsDiff(one.params, p0!.params);
  process.stderr.write(
    `ddp sync BN bf16 (1 step): rms |Δw| 1×16 vs 2×8 = ${d.toExponential(2)} (per-process BN: ` +
      `${dPlain.toExponential(2)}, ratio ${(d / dPlain).toFixed(2)}; max |Δw| ` +
      `${maxAbsDiff(one.params, r0!.params).toExponential(2)})\n`,
  );
  assert.ok(d < 0.4 * dPlain, `rms |Δw| ${d} < 0.4 × per-process BatchNorm's ${dPlain}`);
  assert.equal(maxAbsDiff(r0!.params, r1!.params), 0, 'the ranks hold identical weights');
});

// The initial weights (seed 7, no steps) to show how far the steps moved them.
async function initialParams(): Promise<Float32Array> {
  const { Model } = await import('../../src/engine/model.js');
  const { manualSeed } = await import('../../src/engine/runtime.js');
  manualSeed(7);
  const m = await Model.create({ arch: 'resnet18', numClasses: 2 });
  const st = await m.state();
  const kinds = new Map(m.parameters().map((p) => [p.name, p.kind]));
  const names = [...st.keys()].filter((n) => kinds.get(n) === 'param').sort();
  return Float32Array.from(
    names.flatMap((n) => {
      const d = st.get(n)!.data;
      return Array.from(new Float32Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength)));
    }),
  );
}

// The heartbeat's timings are the request's: with a 0.7 s silence, rank 0 names rank 1 after 0.7 s.
test('heartbeat timings come from TypeScript: a stopped rank is named after the silence asked for', {
  timeout: HANG_MS,
}, async () => {
  const out = mkdtempSync(join(tmpdir(), 'cxrtune-hb-'));
  const worker = fileURLToPath(new URL('./helpers/heartbeatWorker.ts', import.meta.url));
  const env = { HB_OUT: out, HB_MS: '100', HB_SILENCE_MS: '700' };
  const code = await launchLocal({ nproc: 2, args: [worker], execArgv: ['--import', 'tsx'], env, graceMs: 20_000 });
  assert.equal(code, 0, 'both workers exit 0');
  const error = readFileSync(join(out, 'error.txt'), 'utf8');
  assert.match(error, /^distributed allreduce failed on rank 0 of 2: rank 1 stopped \(no heartbeat for 0\.7 s\)/);
  assert.match(error, /collective timeout 20 s\)$/);
});

test('process group settings are checked before the addon sees them', async () => {
  const base = { rank: 0, worldSize: 2, localRank: 0, masterAddr: '127.0.0.1', masterPort: 29500 };
  await assert.rejects(ProcessGroup.init({ ...base, glooThreads: 0 }), /glooThreads must be a positive integer/);
  await assert.rejects(ProcessGroup.init({ ...base, heartbeatMs: 0 }), /heartbeatMs must be a whole number of ms/);
  await assert.rejects(ProcessGroup.init({ ...base, timeoutMs: 10 }), /collective timeout must be at least 1000 ms/);
  assert.deepEqual(PROCESS_GROUP_DEFAULTS, {
    timeoutMs: 300_000,
    glooThreads: 2,
    heartbeatMs: 500,
    heartbeatSilenceMs: 2500,
    heartbeatStoreTimeoutMs: 5000,
  });
});

// Rank 1 never stops on its own while its launcher lives (it leaves only if orphaned, so a failing run leaks
// no process): the launcher must end it, and the log says in order what it did. The timeout guards against a
// launcher that never ends it, not speed.
test('launcher: a worker that fails ends the run; one that does not stop within the grace period is killed', {
  timeout: HANG_MS,
}, async () => {
  const logs: string[] = [];
  const code = await launchLocal({
    nproc: 2,
    execArgv: [],
    graceMs: 300,
    log: (m) => logs.push(m),
    args: [
      '-e',
      'if (process.env.RANK === "0") process.exit(3); ' +
        'const p = process.ppid; setInterval(() => { if (process.ppid !== p) process.exit(4); }, 200);',
    ],
  });
  assert.equal(code, 1);
  const expected = [
    /^worker rank 0 \(pid \d+\) exited with code 3; the other workers get 0.3 s to stop$/,
    /^worker rank 1 still running 0.3 s after rank 0 failed: ending it$/,
    /^worker rank 1 \(pid \d+\) killed by SIGKILL$/,
    /^distributed run failed: worker rank 0 \(pid \d+\) exited with code 3$/,
  ];
  assert.equal(logs.length, expected.length, logs.join('\n'));
  expected.forEach((re, i) => {
    assert.match(logs[i]!, re);
  });
});
