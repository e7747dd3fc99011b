// The ISA level from oneDNN's dnnl_cpu_isa_t bits or the CPU flags, and what it is at run time
// when the environment caps oneDNN (a child process: libtorch reads it once, at load).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { isaInfo, levelOfFlags, levelOfOneDnnIsa } from '../../src/engine/isa.js';
import { effectiveCpuFacts, flopsPerCycle } from '../../src/bench/cpuPeak.js';

test('dnnl_cpu_isa_t values (oneDNN 2.x dnnl_types.h) name their level', () => {
  const cases: [number, string][] = [
    [0x1, 'default'],
    [0x3, 'default'],
    [0x7, 'AVX2'],
    [0x27, 'AVX-512'],
    [0x67, 'AVX-512'],
    [0xe7, 'AVX-512-BF16'],
    [0x3e7, 'AMX'],
  ];
  for (const [v, level] of cases) assert.equal(levelOfOneDnnIsa(v), level, `0x${v.toString(16)}`);
});

test('CPU flags name their level; bf16 is fast only with AVX512-BF16 or AMX', () => {
  const avx2 = new Set(['sse4_2', 'avx', 'avx2', 'fma']);
  const avx512 = new Set([...avx2, 'avx512f', 'avx512bw', 'avx512vl', 'avx512dq']);
  assert.equal(levelOfFlags(new Set(['sse4_2'])), 'default');
  assert.equal(levelOfFlags(avx2), 'AVX2');
  assert.equal(levelOfFlags(avx512), 'AVX-512');
  assert.equal(levelOfFlags(new Set([...avx512, 'avx512_bf16'])), 'AVX-512-BF16');
  assert.equal(levelOfFlags(new Set([...avx512, 'avx512_bf16', 'amx_bf16', 'amx_tile'])), 'AMX');
  assert.deepEqual(isaInfo({ onednnIsa: 0x7, atenCapability: 'AVX2' }, avx512), {
    level: 'AVX2',
    from: 'oneDNN',
    aten: 'AVX2',
    fastBf16: false,
  });
  assert.equal(isaInfo({ onednnIsa: -1, atenCapability: '' }, new Set([...avx512, 'avx512_bf16'])).fastBf16, true);
  // The peak follows the level in use: AVX-512 flags held at AVX2 give AVX2's 32 FLOP/cycle.
  const held = effectiveCpuFacts('AVX2', { mhz: 2000, flags: new Set([...avx512, 'avx512_bf16']) });
  assert.deepEqual(flopsPerCycle('fp32', held.flags), { perCycle: 32, isa: 'AVX2 FMA' });
  assert.deepEqual(flopsPerCycle('bf16', held.flags), { perCycle: 32, isa: 'AVX2 FMA' });
});

test('ONEDNN_MAX_CPU_ISA and ATEN_CPU_CAPABILITY take effect: info reports the capped levels', (t) => {
  const root = new URL('../..', import.meta.url).pathname;
  const info = (env: Record<string, string>) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'info', '--json'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, ...env },
    });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as {
      isa: { level: string; from: string; aten: string; fastBf16: boolean };
      defaultPrecision: string;
    };
  };
  const own = info({});
  if (own.isa.from !== 'oneDNN') return t.skip('this libtorch hides oneDNN: its level cannot be read');
  const avx2 = info({ ONEDNN_MAX_CPU_ISA: 'AVX2', ATEN_CPU_CAPABILITY: 'avx2' });
  if (own.isa.level === 'default') return t.skip('the CPU has no AVX2');
  assert.equal(avx2.isa.level, 'AVX2');
  assert.equal(avx2.isa.aten, 'AVX2');
  assert.equal(avx2.isa.fastBf16, false);
  assert.equal(avx2.defaultPrecision, 'fp32', 'the demo picks fp32 without native bf16');
  const none = info({ ONEDNN_MAX_CPU_ISA: 'SSE41', ATEN_CPU_CAPABILITY: 'default' });
  assert.deepEqual([none.isa.level, none.isa.aten], ['default', 'NO AVX']);
});

// libtorch 1.13 sends bf16 convolutions to oneDNN whenever the CPU has AVX-512, even with oneDNN
// capped below bf16, where they fail ("could not create a primitive descriptor iterator"); the
// engine runs them on libtorch's own kernels there, as on a CPU without AVX-512.
test('a bf16 step and predict run with oneDNN capped at AVX2', () => {
  const root = new URL('../..', import.meta.url).pathname;
  const code =
    `import { Model } from './src/engine/model.ts';
    const m = await Model.create({ arch: 'resnet18', numClasses: 2 });
    m.configureOptimizer({ kind: 'sgd', groups: [m.layers().flatMap((l) => l.params)] });
    const px = Uint8Array.from({ length: 4 * 32 * 32 }, (_, i) => (i * 37) % 251); // not constant: ` +
    `BatchNorm needs a variance
    const b = { pixels: px, shape: [4, 32, 32, 1], labels: Int32Array.from([0, 1, 1, 0]) };
    const s = await m.trainStep(b, [{ lr: 0.01, momentum: 0.9, weightDecay: 0 }], { precision: 'bf16' });
    const p = await m.predict(b, { precision: 'bf16' });
    console.log(JSON.stringify({ loss: s.loss, logits: Array.from(p.logits) }));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ONEDNN_MAX_CPU_ISA: 'AVX2', ATEN_CPU_CAPABILITY: 'avx2' },
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.equal(
    r.stderr.match(/CXRTUNE_SLOW_BF16/g)?.length,
    1,
    `one warning that bf16 is the slow path here: ${r.stderr}`,
  );
  assert.ok(Number.isFinite(out.loss) && out.logits.length === 8 && out.logits.every(Number.isFinite), r.stdout);
});
