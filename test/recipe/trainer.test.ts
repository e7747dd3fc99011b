// The training loop on a pure-JS model: schedule trace, transfer modes, divergence, early
// stopping, callback stop and resume state. (Engine-backed runs are in test/app.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Trainer } from '../../src/recipe/trainer.js';
import { createSchedule } from '../../src/recipe/schedules.js';
import { scheduleGroupHyper, groupHyper } from '../../src/recipe/discriminative.js';
import { ProgressBar } from '../../src/recipe/progressBar.js';
import { formatDuration } from '../../src/util/progressLine.js';
import { validationMetrics } from '../../src/recipe/validationMetrics.js';
import type { StepInfo } from '../../src/recipe/callbacks.js';
import { FakeModel, fakeSource } from './fakeModel.js';

const groups = [
  [0, 1],
  [2, 3],
  [4, 5],
  [6, 7],
];

test('every step gets exactly the schedule × discriminative hyperparameters, over the whole run', async () => {
  const m = new FakeModel();
  const src = fakeSource(5);
  const schedule = createSchedule({
    kind: 'paperCycle',
    totalSteps: 15,
    lrMin: 1e-3,
    lrMax: 1e-1,
    momMin: 0.8,
    momMax: 0.99,
    seed: 7,
  });
  const trace: StepInfo[] = [];
  const t = new Trainer(m, { epochs: 3, schedule, groups, optimizer: 'adamw', weightDecay: 0.01 }, [
    {
      onStep: (s) => {
        trace.push(s);
      },
    },
  ]);
  const r = await t.fit(src, src);
  assert.equal(r.status, 'completed');
  assert.equal(m.hyperLog.length, 15);
  assert.deepEqual(
    trace.map((s) => s.step),
    [...Array(15).keys()],
  );
  for (let s = 0; s < 15; s++) {
    const want = scheduleGroupHyper(schedule, s, 4, { weightDecay: 0.01 });
    assert.deepEqual(m.hyperLog[s], want, `step ${s}`);
    assert.deepEqual(trace[s]!.hyper, want);
    // First group at α_min, last at the schedule's α_t; geometric in between.
    assert.equal(want[0]!.lr, 1e-3);
    assert.equal(want[3]!.lr, schedule.lr(s));
    assert.deepEqual(
      want,
      groupHyper(4, schedule.lr(s), schedule.momentum(s), { lrMin: 1e-3, momFirst: 0.99, weightDecay: 0.01 }),
    );
  }
  // The run ends where the schedule ends (α_min) and peaks in between.
  assert.equal(m.hyperLog[14]![3]!.lr, 1e-3);
  assert.ok(Math.max(...m.hyperLog.map((h) => h[3]!.lr)) > 0.05);
  assert.deepEqual(m.optimizer, { kind: 'adamw', groups, weightDecay: 0.01 });
});

test('traditional baseline: every group gets the same constant LR and momentum', async () => {
  const m = new FakeModel();
  const schedule = createSchedule({ kind: 'constant', totalSteps: 6, lr: 1e-3, momentum: 0.99 });
  await new Trainer(m, {
    epochs: 2,
    schedule,
    groups,
    optimizer: 'adamw',
    weightDecay: 0.01,
    discriminative: false,
  }).fit(fakeSource(3), null);
  for (const h of m.hyperLog)
    assert.deepEqual(
      h,
      groups.map(() => ({ lr: 1e-3, momentum: 0.99, weightDecay: 0.01 })),
    );
});

test('transfer modes: feature freezes all but the head; gradual opens one stage per epoch', async () => {
  const feature = new FakeModel();
  const sched = () => createSchedule({ kind: 'oneCycle', totalSteps: 8, lrMin: 1e-4, lrMax: 1e-2 });
  await new Trainer(feature, {
    epochs: 4,
    schedule: sched(),
    groups,
    optimizer: 'sgd',
    weightDecay: 0,
    transfer: 'feature',
    batchNorm: 'frozen',
  }).fit(fakeSource(2), null);
  const on = feature.trainableLog.filter((c) => c.on).map((c) => c.names);
  assert.deepEqual(on, Array(4).fill(['head.weight', 'head.bias']));
  assert.equal(feature.bnMode, 'frozen');

  const gradual = new FakeModel();
  await new Trainer(gradual, {
    epochs: 4,
    schedule: sched(),
    groups,
    optimizer: 'sgd',
    weightDecay: 0,
    transfer: 'gradual',
  }).fit(fakeSource(2), null);
  const counts = gradual.trainableLog.filter((c) => c.on).map((c) => c.names.length);
  assert.deepEqual(counts, [2, 4, 6, 8]);
});

test('a NaN loss stops training at once with a clear message and no epoch end', async () => {
  const m = new FakeModel({ nanAboveLr: 0.5 });
  const schedule = createSchedule({ kind: 'oneCycle', totalSteps: 12, lrMin: 0.01, lrMax: 10 });
  let epochEnds = 0;
  const r = await new Trainer(m, { epochs: 3, schedule, groups, optimizer: 'sgd', weightDecay: 0 }, [
    {
      onEpochEnd: () => {
        epochEnds++;
      },
    },
  ]).fit(fakeSource(4), fakeSource(1));
  assert.equal(r.status, 'diverged');
  assert.match(r.message, /diverged at epoch \d, step \d+\/12.*loss became NaN.*Lower the peak LR/);
  assert.ok(r.stepsDone < 12);
  assert.equal(epochEnds, r.epochsDone);
});

test('an overflowing (NaN-gradient) step in fp32 also stops', async () => {
  const m = new FakeModel({ overflowAt: 2 });
  const schedule = createSchedule({ kind: 'constant', totalSteps: 4, lr: 0.1, momentum: 0.9 });
  const r = await new Trainer(m, { epochs: 1, schedule, groups, optimizer: 'sgd', weightDecay: 0 }).fit(
    fakeSource(4),
    null,
  );
  assert.equal(r.status, 'diverged');
  assert.match(r.message, /gradients became NaN/);
});

test("fp16: each step asks for the scaler's scale and skipNonFinite; an overflow is one skipped step", async () => {
  const m = new FakeModel({ overflowAt: 1 });
  const schedule = createSchedule({ kind: 'constant', totalSteps: 4, lr: 0.1, momentum: 0.9 });
  const r = await new Trainer(m, {
    epochs: 1,
    schedule,
    groups,
    optimizer: 'sgd',
    weightDecay: 0,
    precision: 'fp16',
  }).fit(fakeSource(4), null);
  assert.equal(r.status, 'completed');
  assert.deepEqual(
    m.stepOptions.map((o) => [o.lossScale, o.skipNonFinite]),
    [
      [65536, true],
      [65536, true],
      [32768, true], // halved after the overflow of step 2
      [32768, true],
    ],
  );
  assert.equal(r.history[0]!.skippedSteps, 1);
});

test('monitor, best epoch and early stopping', async () => {
  const m = new FakeModel();
  const schedule = createSchedule({ kind: 'constant', totalSteps: 20, lr: 0.1, momentum: 0.9 });
  // valid_specificity is 1 from the first epoch on, so it never improves after epoch 1.
  const r = await new Trainer(m, {
    epochs: 10,
    schedule,
    groups,
    optimizer: 'sgd',
    weightDecay: 0,
    monitor: 'valid_specificity',
    patience: 2,
  }).fit(fakeSource(2), fakeSource(1));
  assert.equal(r.status, 'early-stopped');
  assert.equal(r.epochsDone, 3);
  assert.equal(r.bestEpoch, 0);
  assert.match(r.message, /has not improved for 2 epoch/);
  // valid_loss keeps falling (the fake sharpens), so every epoch improves.
  const m2 = new FakeModel();
  const r2 = await new Trainer(m2, {
    epochs: 3,
    schedule: createSchedule({ kind: 'constant', totalSteps: 6, lr: 0.1, momentum: 0.9 }),
    groups,
    optimizer: 'sgd',
    weightDecay: 0,
    patience: 1,
  }).fit(fakeSource(2), fakeSource(1));
  assert.equal(r2.status, 'completed');
  assert.deepEqual(
    r2.history.map((h) => h.improved),
    [true, true, true],
  );
  assert.ok(r2.history[2]!.valid.loss < r2.history[0]!.valid.loss);
  assert.equal(r2.history[0]!.valid.accuracy, 1);
});

test('a callback stop ends after the epoch; resuming from the saved state finishes the same schedule', async () => {
  const schedule = createSchedule({ kind: 'oneCycle', totalSteps: 12, lrMin: 1e-4, lrMax: 1e-2 });
  const full = new FakeModel();
  await new Trainer(full, { epochs: 4, schedule, groups, optimizer: 'adamw', weightDecay: 0.01 }).fit(
    fakeSource(3),
    null,
  );

  const a = new FakeModel();
  const ta = new Trainer(a, { epochs: 4, schedule, groups, optimizer: 'adamw', weightDecay: 0.01 }, [
    { onEpochEnd: (r) => (r.epoch === 1 ? { stop: 'test stop' } : undefined) },
  ]);
  const ra = await ta.fit(fakeSource(3), null);
  assert.equal(ra.status, 'interrupted');
  assert.equal(ra.message, 'test stop');
  const saved = JSON.parse(JSON.stringify(ta.state()));
  assert.equal(saved.epoch, 2);
  assert.equal(saved.step, 6);
  const b = new FakeModel();
  const rb = await new Trainer(b, { epochs: 4, schedule, groups, optimizer: 'adamw', weightDecay: 0.01 }).fit(
    fakeSource(3),
    null,
    { state: saved },
  );
  assert.equal(rb.status, 'completed');
  assert.equal(rb.history.length, 4);
  assert.deepEqual([...a.hyperLog, ...b.hyperLog], full.hyperLog);
});

test('an aborted signal interrupts at the next step', async () => {
  const ac = new AbortController();
  const schedule = createSchedule({ kind: 'constant', totalSteps: 10, lr: 0.1, momentum: 0.9 });
  const r = await new Trainer(
    new FakeModel(),
    { epochs: 2, schedule, groups, optimizer: 'sgd', weightDecay: 0, signal: ac.signal },
    [
      {
        onStep: (s) => {
          if (s.step === 6) ac.abort();
        },
      },
    ],
  ).fit(fakeSource(5), null);
  assert.equal(r.status, 'interrupted');
  assert.equal(r.epochsDone, 1);
  assert.match(r.message, /interrupted during epoch 2/);
});

test('the schedule must cover exactly epochs × batches', async () => {
  const schedule = createSchedule({ kind: 'constant', totalSteps: 7, lr: 0.1, momentum: 0.9 });
  await assert.rejects(
    new Trainer(new FakeModel(), { epochs: 2, schedule, groups, optimizer: 'sgd', weightDecay: 0 }).fit(
      fakeSource(3),
      null,
    ),
    /7 steps.*2 epochs × 3 batches = 6/,
  );
});

test('validation metrics: loss, accuracy, sensitivity, specificity, AUC', () => {
  // rows: (p1, label): 0.9/1, 0.6/1, 0.4/0, 0.7/0 → at 0.5: TP 2, FN 0, TN 1, FP 1.
  const probs = [0.1, 0.9, 0.4, 0.6, 0.6, 0.4, 0.3, 0.7];
  const m = validationMetrics(probs, [1, 1, 0, 0], 2);
  assert.equal(m.accuracy, 0.75);
  assert.equal(m.sensitivity, 1);
  assert.equal(m.specificity, 0.5);
  assert.equal(m.auc, 0.75);
  // In doubles: four logs and a mean, a few ulp of ~0.4.
  assert.ok(Math.abs(m.loss - -(Math.log(0.9) + Math.log(0.6) + Math.log(0.6) + Math.log(0.3)) / 4) < 1e-12);
});

test('progress bar: loss, images/s and ETA on a terminal; one line per epoch otherwise', () => {
  let now = 0;
  const out: string[] = [];
  const bar = new ProgressBar({ write: (s) => out.push(s), tty: true, now: () => now });
  bar.onTrainBegin({
    epochs: 2,
    batchesPerEpoch: 4,
    imagesPerEpoch: 32,
    totalSteps: 8,
    groupCount: 1,
    startEpoch: 0,
    startStep: 0,
  });
  for (let s = 0; s < 4; s++) {
    now += 1000;
    bar.onStep({
      step: s,
      totalSteps: 8,
      epoch: 0,
      batch: s,
      batchesPerEpoch: 4,
      images: 8,
      loss: 0.5,
      hyper: [],
      overflow: false,
      lossScale: 1,
      consecutiveOverflows: 0,
      seconds: 1,
    });
  }
  const last = out[out.length - 1]!;
  assert.match(last, /epoch 1\/2 .* 4\/4 loss 0\.5000 8\.0 img\/s ETA 4s/);
  const plain: string[] = [];
  const p2 = new ProgressBar({ write: (s) => plain.push(s), tty: false });
  p2.onTrainBegin({
    epochs: 1,
    batchesPerEpoch: 1,
    imagesPerEpoch: 1,
    totalSteps: 1,
    groupCount: 1,
    startEpoch: 0,
    startStep: 0,
  });
  p2.onStep({
    step: 0,
    totalSteps: 1,
    epoch: 0,
    batch: 0,
    batchesPerEpoch: 1,
    images: 1,
    loss: 1,
    hyper: [],
    overflow: false,
    lossScale: 1,
    consecutiveOverflows: 0,
    seconds: 1,
  });
  assert.equal(plain.length, 0);
  assert.equal(formatDuration(125), '2m05s');
});
