// The CPU allocator's block cache (native/src/cpu_block_cache.h) is capped by TypeScript: the cap
// engine/native.ts reads from the environment is what the addon reports, and with the cache a
// training step stops page-faulting its activations back in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpuCacheBytes, loadNative } from '../../src/engine/native.js';
import { Model } from '../../src/engine/model.js';
import type { Batch } from '../../src/engine/types.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

test('the cap: CXRTUNE_CPU_CACHE_MB in MiB, else a quarter of physical memory, at most 8 GiB', () => {
  assert.equal(cpuCacheBytes({}, 16 * GiB), 4 * GiB);
  assert.equal(cpuCacheBytes({}, 64 * GiB), 8 * GiB);
  assert.equal(cpuCacheBytes({}, 10 * GiB + 3), 2.5 * GiB); // floor(10 GiB + 3) / 4
  assert.equal(cpuCacheBytes({ CXRTUNE_CPU_CACHE_MB: '64' }, 16 * GiB), 64 * MiB);
  assert.equal(cpuCacheBytes({ CXRTUNE_CPU_CACHE_MB: '0' }, 16 * GiB), 0);
  assert.equal(cpuCacheBytes({ CXRTUNE_CPU_CACHE_MB: '' }, 16 * GiB), 4 * GiB);
  assert.throws(
    () => cpuCacheBytes({ CXRTUNE_CPU_CACHE_MB: '1.5' }),
    /CXRTUNE_CPU_CACHE_MB='1.5' is not a whole number/,
  );
  assert.throws(() => cpuCacheBytes({ CXRTUNE_CPU_CACHE_MB: '-1' }), /not a whole number of MiB/);
});

test('the addon reports the cap TypeScript gave it, at load and when set again', () => {
  const addon = loadNative();
  assert.equal(addon.info().cpuCacheBytes, cpuCacheBytes());
  try {
    addon.configureCpuCache(5 * MiB);
    assert.equal(addon.info().cpuCacheBytes, 5 * MiB);
    addon.configureCpuCache(0);
    assert.equal(addon.info().cpuCacheBytes, 0);
    assert.throws(() => addon.configureCpuCache(-1), /the cache cap must be a byte count >= 0/);
    // What loadNative asks for unless MALLOC_ARENA_MAX is set; glibc accepts it (mallopt returns 1).
    assert.equal(addon.setMallocArenaMax(1), true);
  } finally {
    addon.configureCpuCache(cpuCacheBytes());
  }
});

test('CXRTUNE_CPU_CACHE_MB reaches the addon of a new process (cxrtune info)', () => {
  const root = new URL('../..', import.meta.url).pathname;
  const cap = (mb: string) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'info', '--json'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, CXRTUNE_CPU_CACHE_MB: mb },
    });
    assert.equal(r.status, 0, r.stderr);
    return (JSON.parse(r.stdout) as { cpuCacheBytes: number }).cpuCacheBytes;
  };
  assert.equal(cap('64'), 64 * MiB);
  assert.equal(cap('0'), 0);
});

function batchOf(n: number, s: number): Batch {
  const px = new Uint8Array(n * s * s);
  let x = 1;
  for (let i = 0; i < px.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    px[i] = x >>> 24;
  }
  return { pixels: px, shape: [n, s, s, 1], labels: Int32Array.from({ length: n }, (_, i) => i % 2) };
}

// Minor page faults of the whole process per call, after two warm-up calls.
async function faultsPerCall(run: () => Promise<unknown>, calls: number): Promise<number> {
  for (let i = 0; i < 2; i++) await run();
  const f0 = process.resourceUsage().minorPageFault;
  for (let i = 0; i < calls; i++) await run();
  return (process.resourceUsage().minorPageFault - f0) / calls;
}

// glibc maps blocks over its mmap threshold (at most 32 MB) afresh on every allocation and unmaps them
// when freed, so every call faults them in again unless the cache keeps them: resnet18's first
// activations at 16 × 224² are 51 MB (16 × 64 × 112² floats), 12.5k pages each time.
test('with the cache, a call no longer faults its large activations back in', async () => {
  const addon = loadNative();
  const m = await Model.create({ arch: 'resnet18', numClasses: 2 });
  const b = batchOf(16, 224);
  try {
    addon.configureCpuCache(1024 * MiB);
    const cached = await faultsPerCall(() => m.predict(b), 3);
    addon.configureCpuCache(0);
    const uncached = await faultsPerCall(() => m.predict(b), 3);
    process.stderr.write(`minor faults per resnet18 predict (16 × 224²): ${cached} cached, ${uncached} uncached\n`);
    assert.ok(uncached > 12_500, `without the cache the call faults (${uncached} per call)`);
    assert.ok(cached < uncached / 10, `the cache removes most faults (${cached} vs ${uncached} per call)`);
  } finally {
    addon.configureCpuCache(cpuCacheBytes());
  }
});
