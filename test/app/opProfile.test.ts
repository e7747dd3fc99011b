// Op profiles: self time from nesting (hand-computed), FLOPs per image against torchvision's
// published count, and the CPU peak arithmetic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summariseOps, compareOps } from '../../src/bench/opProfile.js';
import { cpuFacts, cpuPeak, flopsPerCycle } from '../../src/bench/cpuPeak.js';
import { profileOps } from '../../src/engine/profiler.js';
import { Model } from '../../src/engine/model.js';
import { cpuIsa, setThreads } from '../../src/engine/runtime.js';
import { benchBatch } from '../../src/bench/bench.js';

test("self time: a parent loses its children's time; a nested op of the same name counts once in total", () => {
  // thread 1: conv2d [0,100) ⊃ convolution [10,90) ⊃ mkldnn [20,80); relu [100,110). thread 2: add [5,8).
  const s = summariseOps({
    name: ['aten::conv2d', 'aten::convolution', 'aten::mkldnn', 'aten::relu', 'aten::add', 'aten::to', 'aten::to'],
    startUs: [0, 10, 20, 100, 5, 200, 201],
    durationUs: [100, 80, 60, 10, 3, 10, 5],
    flops: [1e6, 0, 0, 0, 0, 0, 0],
    thread: [1, 1, 1, 1, 2, 1, 1],
  });
  const row = (n: string) => s.rows.find((r) => r.name === n)!;
  assert.equal(row('aten::conv2d').selfUs, 20);
  assert.equal(row('aten::convolution').selfUs, 20);
  assert.equal(row('aten::mkldnn').selfUs, 60);
  assert.equal(row('aten::add').selfUs, 3, 'another thread is not a child');
  assert.deepEqual([row('aten::to').calls, row('aten::to').selfUs, row('aten::to').totalUs], [2, 10, 10]);
  assert.equal(s.rows[0]!.name, 'aten::mkldnn', 'largest self time first');
  assert.equal(s.selfUs, 20 + 20 + 60 + 10 + 3 + 10);
  assert.equal(s.flops, 1e6);
  const c = compareOps(
    s,
    summariseOps({ name: ['aten::mkldnn'], startUs: [0], durationUs: [20], flops: [0], thread: [1] }),
    2,
  );
  assert.deepEqual(c[0], { name: 'aten::mkldnn', oursMs: 0.03, pythonMs: 0.01, oursCalls: 0.5, pythonCalls: 0.5 });
});

/** Multiply-adds of one resnet18 forward at S px (3 channels in, `classes` out), layer by layer. */
function resnet18Macs(S: number, classes: number): number {
  const conv = (hw: number, cin: number, cout: number, k: number) => hw * hw * cin * cout * k * k;
  let hw = Math.ceil(S / 2); // conv1: 7×7, stride 2, pad 3
  let macs = conv(hw, 3, 64, 7);
  hw = Math.ceil(hw / 2); // max pool 3×3, stride 2, pad 1
  let cin = 64;
  for (const [cout, stride] of [
    [64, 1],
    [128, 2],
    [256, 2],
    [512, 2],
  ] as const) {
    hw = Math.ceil(hw / stride);
    macs += conv(hw, cin, cout, 3) + conv(hw, cout, cout, 3); // block 1 (its first conv has the stride)
    if (stride !== 1 || cin !== cout) macs += conv(hw, cin, cout, 1); // 1×1 downsample
    macs += 2 * conv(hw, cout, cout, 3); // block 2
    cin = cout;
  }
  return macs + 512 * classes; // fc after global pooling
}

test(
  "libtorch's profiler counts resnet18's forward FLOPs " + 'as torchvision publishes them (1.81 GMAC at 224 px)',
  async () => {
    setThreads(1);
    const m = await Model.create({ arch: 'resnet18', numClasses: 1000 });
    // Warm first: the first predict after a weight change also counts the BatchNorm fold (11.2 MFLOP more).
    await m.predict(benchBatch(1, 224), { precision: 'fp32' });
    const { events } = await profileOps(() => m.predict(benchBatch(1, 224), { precision: 'fp32' }));
    const gflop = summariseOps(events).flops / 1e9;
    // torchvision's ResNet18_Weights metadata: 1.814 GFLOPS, counted as multiply-adds (MACs); libtorch counts 2 per
    // MAC. 5e-4: the figure's 3 decimals; resnet18Macs gives 1.814073 G. A fold counted here would add 5.6e-3 GMAC.
    assert.ok(Math.abs(gflop / 2 - 1.814) < 5e-4, `resnet18 forward ${gflop.toFixed(4)} GFLOP = ${gflop / 2} GMAC`);
    assert.equal(resnet18Macs(224, 1000), 1_814_073_344);
    assert.ok(events.name.includes('aten::conv2d'));
  },
);

test('CPU peak: cores × clock × FLOPs per cycle of the widest instruction set', () => {
  const f = cpuFacts(
    'processor\t: 0\ncpu MHz\t\t: 2100.000\nflags\t\t: fpu sse fma avx2 avx512f avx512_bf16 amx_bf16\n',
  );
  assert.equal(f.mhz, 2100);
  assert.equal(flopsPerCycle('fp32', f.flags).perCycle, 64);
  assert.equal(flopsPerCycle('bf16', f.flags).perCycle, 128);
  assert.equal(flopsPerCycle('fp32', new Set(['fma', 'avx2'])).perCycle, 32);
  const prev = process.env.CXRTUNE_PEAK_GFLOPS;
  delete process.env.CXRTUNE_PEAK_GFLOPS;
  try {
    assert.equal(cpuPeak('fp32', 2, f)!.gflops, 268.8);
    assert.equal(cpuPeak('bf16', 2, f)!.gflops, 537.6);
    assert.equal(cpuPeak('fp32', 2, { mhz: NaN, flags: new Set() }), null);
  } finally {
    if (prev !== undefined) process.env.CXRTUNE_PEAK_GFLOPS = prev;
  }
});

test(
  "bench: FLOPs per image are resnet18's counted by hand; " + "--profile separates training's backward from predict",
  async () => {
    const { benchOne } = await import('../../src/bench/bench.js');
    const r = await benchOne({
      arch: 'resnet18',
      size: 32,
      batch: 2,
      precision: 'fp32',
      threads: 1,
      steps: 1,
      warmup: 0,
      profile: true,
    });
    // 2 FLOPs per MAC. Not in the hand count: the 8 residual adds (15,360 FLOPs/img, 2e-4 of it) and
    // BatchNorm, which eval folds into the convolutions' weights once per weight change: a fold
    // counted in each predict would add 5.6 MFLOP/img (7.5 %), another batch size ×2.
    // MACs: conv1 2,408,448; layer1 9,437,184; layer2, layer3, layer4 8,388,608 each; fc 1,024.
    const flops = 2 * resnet18Macs(32, 2);
    assert.equal(flops, 2 * (2_408_448 + 9_437_184 + 3 * 8_388_608 + 1_024));
    const rel = (x: number, want: number) => Math.abs(x - want) / want;
    assert.ok(
      rel(r.gflop_per_img! * 1e9, flops) < 5e-4,
      `resnet18 at 32 px: ${r.gflop_per_img} GFLOP/img, ${flops / 1e9} by hand`,
    );
    // Training counts three passes of those MACs (forward, input gradients, weight gradients).
    assert.ok(rel(r.train_gflops!, (3 * flops * r.train_img_s) / 1e9) < 5e-4, `train ${r.train_gflops} GFLOP/s`);
    assert.ok(rel(r.predict_gflops!, (flops * r.predict_img_s) / 1e9) < 5e-4, `predict ${r.predict_gflops} GFLOP/s`);
    const names = (s: { rows: { name: string }[] }) => s.rows.map((x) => x.name);
    assert.ok(names(r.profile!.train.ours).includes('aten::convolution_backward'));
    assert.ok(!names(r.profile!.predict.ours).includes('aten::convolution_backward'));
    assert.equal(
      r.profile!.predict.ours.flops / 2,
      r.gflop_per_img! * 1e9,
      'the profiled predict counts the same FLOPs',
    );
  },
);

test('discriminative fine-tuning costs no native work: six stage groups run the same ops as one group', async () => {
  setThreads(1);
  const calls: number[] = [];
  for (const n of [1, 6]) {
    const m = await Model.create({ arch: 'mobilenet_v2', numClasses: 2 });
    const layers = m.layers();
    const groups =
      n === 1
        ? [layers.flatMap((l) => l.params)]
        : Array.from({ length: 6 }, (_, s) => layers.filter((l) => l.stageIndex === s).flatMap((l) => l.params)).filter(
            (g) => g.length,
          );
    assert.equal(groups.length, n);
    m.configureOptimizer({ kind: 'adamw', groups });
    const b = benchBatch(2, 32);
    const hyper = (t: number) =>
      groups.map((_, i) => ({ lr: 1e-5 * 10 ** (i / 2), momentum: 0.95 - 0.01 * t, weightDecay: 0.01 }));
    await m.trainStep(b, hyper(0), { precision: 'fp32' });
    const { events } = await profileOps(async () => {
      for (let t = 1; t <= 2; t++) await m.trainStep(b, hyper(t), { precision: 'fp32' });
    });
    calls.push(events.name.length);
  }
  assert.equal(calls[0], calls[1], `op calls for 2 steps: 1 group ${calls[0]}, 6 groups ${calls[1]}`);
});

test(
  "bench --vs-python: a kind Python's torch cannot run (MobileNetV2 bf16 training) leaves its other kinds " +
    'measured',
  async () => {
    const { benchOne } = await import('../../src/bench/bench.js');
    const r = await benchOne({
      arch: 'mobilenet_v2',
      size: 32,
      batch: 2,
      precision: 'bf16',
      threads: 1,
      steps: 1,
      warmup: 0,
      rounds: 2,
      vsPython: true,
    });
    if (!cpuIsa().fastBf16) {
      // Without native bf16 kernels Python's bf16 side is not started at all, and the table says so.
      assert.match(r.python_error ?? '', /^not run: no native bf16 kernels at (AVX2|AVX-512|default)/);
      assert.equal(r.python_predict_img_s, undefined);
      return;
    }
    assert.match(r.python_error ?? '', /Python cannot run train: .*hardshrink_backward/);
    assert.equal(r.ratio, undefined, "no training ratio without Python's training");
    assert.ok(r.python_predict_img_s! > 0 && r.predict_ratio! > 0 && r.predict_ratio_spread!.length === 2);
    assert.ok(r.python_latency_ms! > 0 && r.latency_ratio! > 0);
  },
);
