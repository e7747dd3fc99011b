#!/usr/bin/env node
// CUDA checks for the engine (run by scripts/device-check.sh on a GPU machine):
// CPU vs CUDA logits for every architecture, fp32/bf16/fp16 steps, fp16 overflow
// skipping, and train/predict throughput against Python torch on the same GPU.
import { Model } from '../dist/src/engine/model.js';
import { deviceInfo, setThreads } from '../dist/src/engine/runtime.js';
import { ARCHS } from '../dist/src/engine/types.js';
import { benchOne, benchBatch } from '../dist/src/bench/bench.js';

const out = { info: deviceInfo(), logits: {}, steps: {}, bench: [] };
console.log(JSON.stringify(out.info));
setThreads(8);
let failed = 0;
const check = (ok, msg) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${msg}`);
  if (!ok) failed++;
};

for (const arch of ARCHS) {
  const cpu = await Model.create({ arch, numClasses: 5 });
  const gpu = await Model.create({ arch, numClasses: 5, device: 'cuda:0' });
  await gpu.loadState(await cpu.state());
  const b = benchBatch(2, 64);
  const [a, g] = [(await cpu.predict(b)).logits, (await gpu.predict(b)).logits];
  let d = 0,
    m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - g[i]));
    m = Math.max(m, Math.abs(a[i]));
  }
  out.logits[arch] = { maxAbsDiff: d, maxAbsLogit: m };
  check(
    d <= 2e-3 * Math.max(1, m),
    `${arch}: CUDA logits vs CPU max |Δ| ${d.toExponential(2)} (max |logit| ${m.toFixed(2)})`,
  );
}

{
  const m = await Model.create({ arch: 'resnet18', numClasses: 2, device: 'cuda:0' });
  m.configureOptimizer({ kind: 'sgd', groups: [m.layers().flatMap((l) => l.params)] });
  const b = benchBatch(8, 96);
  const h0 = [{ lr: 0, momentum: 0, weightDecay: 0 }];
  const losses = {};
  for (const p of ['fp32', 'bf16', 'fp16']) losses[p] = (await m.trainStep(b, h0, { precision: p })).loss;
  out.steps.losses = losses;
  check(
    Math.abs(losses.bf16 - losses.fp32) < 2e-2 && Math.abs(losses.fp16 - losses.fp32) < 1e-2,
    `loss fp32 ${losses.fp32.toFixed(5)} bf16 ${losses.bf16.toFixed(5)} fp16 ${losses.fp16.toFixed(5)}`,
  );
  const before = await m.state();
  const r = await m.trainStep(b, [{ lr: 0.1, momentum: 0.9, weightDecay: 0 }], { precision: 'fp16', lossScale: 1e38 });
  const after = await m.state();
  let same = true;
  for (const [k, v] of before)
    if (k.endsWith('weight') && Buffer.compare(Buffer.from(v.data), Buffer.from(after.get(k).data)) !== 0) same = false;
  check(
    r.overflow && same,
    `fp16 with loss scale 1e38 overflows (${r.overflow}) and the step is skipped (weights unchanged: ${same})`,
  );
  const ok = await m.trainStep(b, [{ lr: 0.1, momentum: 0.9, weightDecay: 0 }], {
    precision: 'fp16',
    lossScale: 65536,
  });
  check(!ok.overflow && Number.isFinite(ok.loss), `fp16 with loss scale 2^16 steps (loss ${ok.loss.toFixed(4)})`);
}

for (const arch of ['resnet18', 'densenet121', 'mobilenet_v2']) {
  for (const precision of ['fp32', 'bf16', 'fp16']) {
    const r = await benchOne({
      arch,
      size: 224,
      batch: 64,
      precision,
      threads: 8,
      steps: 10,
      warmup: 3,
      vsPython: true,
      device: 'cuda:0',
    });
    out.bench.push(r);
    console.log(
      `bench ${arch} ${precision}: train ${r.train_img_s.toFixed(0)} img/s (python ` +
        `${r.python_train_img_s.toFixed(0)}, ratio ${r.ratio.toFixed(2)}), predict ` +
        `${r.predict_img_s.toFixed(0)} (python ${r.python_predict_img_s.toFixed(0)})`,
    );
  }
}
if (process.env.OUT)
  (await import('node:fs')).writeFileSync(`${process.env.OUT}/cuda-check.json`, JSON.stringify(out, null, 2));
console.log(failed ? `${failed} check(s) failed` : 'all CUDA checks passed');
process.exit(failed ? 1 : 0);
