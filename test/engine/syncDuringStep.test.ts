// The synchronous calls (parameters(), setTrainable(), …) made while a training step
// computes return at once: they read and change settings the step copied when it was
// queued, never the step's lock (native/src/model.cc). What they change applies to the
// next step, not the running one.
import { batchOf } from './helpers/batches.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Model } from '../../src/engine/model.js';
import type { Batch } from '../../src/engine/types.js';

const H = [{ lr: 0.05, momentum: 0.9, weightDecay: 1e-4 }];
const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

test('sync calls made during a running step return while it is still pending, and apply from the next step', async (t) => {
  const m = await Model.create({ arch: 'resnet18', numClasses: 2 });
  m.configureOptimizer({ kind: 'sgd', groups: [m.layers().flatMap((l) => l.params)] });
  const body = m.parameters().filter((p) => p.kind === 'param' && !p.name.startsWith('fc.')).map((p) => p.name);
  const s0 = await m.state();
  // 8 images of 176² on resnet18: a step of over half a second on two cores.
  let pending = true;
  const start = performance.now();
  let resolved = 0;
  const step = m.trainStep(batchOf(8, 176), H).then(() => { pending = false; resolved = performance.now(); });
  // A round of sync calls every few milliseconds until the step resolves. Each round records
  // when it returned and whether the step was still pending then.
  const returnedWhilePending: boolean[] = [];
  const returnedAt: number[] = [];
  let frozenDuringStep = false;
  await new Promise<void>((resolve) => {
    const turn = () => {
      if (!pending) return resolve();
      const trainable = m.parameters().filter((p) => p.trainable).length;
      if (!frozenDuringStep) { m.setTrainable(body, false); frozenDuringStep = true; }
      else m.setTrainable(['fc.weight'], true);
      m.setBatchNormMode('frozen');
      assert.ok(trainable > 0);
      returnedWhilePending.push(pending);
      returnedAt.push(performance.now());
      setTimeout(turn, 2);  // a timer, not setImmediate: a busy loop would take a core from the step
    };
    setTimeout(turn, 2);
  });
  await step;
  // A call that waited for the step's lock would return only once the step had finished:
  // one gap between returns would span most of the step. Calls that do not wait keep
  // returning, round after round, so no gap comes near half of it.
  const times = [start, ...returnedAt, resolved];
  const gaps = times.slice(1).map((t, i) => t - times[i]!);
  const stepMs = resolved - start;
  t.diagnostic(`step ${stepMs.toFixed(0)} ms; ${returnedWhilePending.length} rounds of sync calls returned while it ran; longest gap ${Math.max(...gaps).toFixed(1)} ms`);
  assert.ok(Math.max(...gaps) < stepMs / 2,
    `a sync call waited ${Math.max(...gaps).toFixed(0)} ms of a ${stepMs.toFixed(0)} ms step (${returnedWhilePending.length} calls)`);
  assert.ok(returnedWhilePending.length >= 3 && returnedWhilePending.every(Boolean));
  // The freeze made during step 1 did not touch step 1 (all weights moved) …
  const s1 = await m.state();
  assert.ok(!same(s0.get('conv1.weight')!.data, s1.get('conv1.weight')!.data), 'step 1 updated conv1');
  assert.equal(m.parameters().find((p) => p.name === 'conv1.weight')!.trainable, false);
  // … and holds for step 2: only the head moves, BatchNorm statistics stay.
  await m.trainStep(batchOf(4, 48, 2), H);
  const s2 = await m.state();
  for (const [k, v] of s1) assert.equal(same(v.data, s2.get(k)!.data), !k.startsWith('fc.'), k);
});
