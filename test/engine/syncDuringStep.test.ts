// The synchronous calls (parameters(), setTrainable(), …) made while a training step
// computes return at once: they read and change settings the step copied when it was
// queued, never the step's lock (native/src/model.cc). What they change applies to the
// next step, not the running one.
import { batchOf } from './helpers/batches.js';
import { afterNextPoll } from './helpers/afterNextPoll.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Model } from '../../src/engine/model.js';

const H = [{ lr: 0.05, momentum: 0.9, weightDecay: 1e-4 }];
const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

test(
  'sync calls made during a running step return while it is still pending, ' + 'and apply from the next step',
  async (t) => {
    const m = await Model.create({ arch: 'resnet18', numClasses: 2 });
    m.configureOptimizer({ kind: 'sgd', groups: [m.layers().flatMap((l) => l.params)] });
    const body = m
      .parameters()
      .filter((p) => p.kind === 'param' && !p.name.startsWith('fc.'))
      .map((p) => p.name);
    const s0 = await m.state();
    // 8 images of 176² on resnet18: a step of over half a second on two cores.
    let pending = true;
    const step = m.trainStep(batchOf(8, 176), H).then(() => {
      pending = false;
    });
    // A round of sync calls every few milliseconds until the step resolves; after each round,
    // whether the step was still pending once the event loop had run a full poll phase. A call
    // that waited for the step's lock would return only when the step had finished, and the next
    // poll phase would deliver it (helpers/afterNextPoll.ts): its round would see it resolved,
    // and be the last. Calls that do not wait see it pending, round after round. Counted, not
    // timed: a slower machine only makes for more rounds.
    let rounds = 0;
    let pendingAfter = 0;
    let frozenDuringStep = false;
    await new Promise<void>((resolve) => {
      const turn = () => {
        if (!pending) return resolve();
        const trainable = m.parameters().filter((p) => p.trainable).length;
        if (!frozenDuringStep) {
          m.setTrainable(body, false);
          frozenDuringStep = true;
        } else m.setTrainable(['fc.weight'], true);
        m.setBatchNormMode('frozen');
        assert.ok(trainable > 0);
        rounds++;
        void afterNextPoll(() => pending).then((p) => {
          if (p) pendingAfter++;
          setTimeout(turn, 2); // a timer, not setImmediate: a busy loop would take a core from the step
        });
      };
      setTimeout(turn, 2);
    });
    await step;
    t.diagnostic(`${rounds} rounds of sync calls during the step; it was still pending after ${pendingAfter} of them`);
    assert.ok(pendingAfter >= 3, `only ${pendingAfter} of ${rounds} rounds of sync calls returned while the step ran`);
    // The freeze made during step 1 did not touch step 1 (all weights moved) …
    const s1 = await m.state();
    assert.ok(!same(s0.get('conv1.weight')!.data, s1.get('conv1.weight')!.data), 'step 1 updated conv1');
    assert.equal(m.parameters().find((p) => p.name === 'conv1.weight')!.trainable, false);
    // … and holds for step 2: only the head moves, BatchNorm statistics stay.
    await m.trainStep(batchOf(4, 48, 2), H);
    const s2 = await m.state();
    for (const [k, v] of s1) assert.equal(same(v.data, s2.get(k)!.data), !k.startsWith('fc.'), k);
  },
);
