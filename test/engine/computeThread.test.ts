// Every libtorch call that can go parallel runs on the one compute thread (native/src/task.h,
// run_on_compute_thread; addon.cc, SingleThreadedHere). A second OpenMP team (a model built or
// weights copied in on the JS thread) makes more OpenMP threads than cores, and libgomp then
// stops spinning between parallel regions: MobileNetV2's batch-1 predict went from 5.5 to
// 12.6 ms. Asserted on what the code controls: no OpenMP worker appears after the first call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { Model } from '../../src/engine/model.js';
import { setThreads, manualSeed } from '../../src/engine/runtime.js';
import { benchBatch } from '../../src/bench/bench.js';

const threads = () => readdirSync('/proc/self/task').length;

test('building models and loading weights on the JS thread starts no OpenMP team of its own', async (t) => {
  if (!readdirSync('/proc/self').includes('task')) return t.skip('no /proc/self/task on this system');
  setThreads(2);
  const x = benchBatch(2, 64);
  manualSeed(1);
  const a = await Model.create({ arch: 'resnet18', numClasses: 2 });
  await a.predict(x, { precision: 'fp32' }); // the compute thread's team of 2 and libuv's pool exist now
  const before = threads();
  manualSeed(2);
  const b = await Model.create({ arch: 'resnet18', numClasses: 2 }); // kaiming init of 11M weights
  await a.loadState(await b.state()); // copies 45 MB of typed arrays into tensors
  await a.predict(x, { precision: 'fp32' });
  assert.equal(threads(), before, 'no thread (an OpenMP worker of the JS thread) was added');
});
