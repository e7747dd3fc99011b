// Engine-backed training runs on tiny phantoms (64 px): the run folder, the schedule trace,
// loss going down, transfer modes, divergence handling, resume (bitwise) and lr-find.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writePhantoms } from '../../src/data/phantom.js';
import { setThreads } from '../../src/engine/runtime.js';
import { loadCheckpoint } from '../../src/engine/checkpoint.js';
import { readSafetensors } from '../../src/engine/safetensors.js';
import { Model } from '../../src/engine/model.js';
import { trainRun, resumeRun } from '../../src/app/train/experiment.js';
import { resolveTrainConfig, type FlatTrainConfig, type TrainConfig } from '../../src/app/train/trainConfig.js';
import { openRunData } from '../../src/app/train/dataSource.js';
import { runLrFind } from '../../src/app/train/lrFind.js';
import { lrFindOnModel } from '../../src/recipe/lrFindOnModel.js';
import { trainableAt } from '../../src/recipe/transfer.js';
import type { StepInfo } from '../../src/recipe/callbacks.js';
import type { Batch, GroupHyper } from '../../src/engine/types.js';

const dir = mkdtempSync(join(tmpdir(), 'cxrtune-train-'));
let manifest = '';

before(async () => {
  setThreads(2);
  manifest = (await writePhantoms({ n: 48, size: 64, seed: 3, out: join(dir, 'data'), sheetSize: 0 })).manifestFile;
});

const cfg = (out: string, over: Partial<FlatTrainConfig> = {}): TrainConfig =>
  resolveTrainConfig(
    {},
    {
      manifest,
      arch: 'resnet18',
      out: join(dir, out),
      size: 64,
      batch: 8,
      epochs: 3,
      lrMin: 1e-4,
      lrMax: 3e-3,
      threads: 2,
      ...over,
    },
  );

async function tensors(file: string) {
  return (await readSafetensors(file)).tensors;
}

test('a short phantom run: loss falls, the run folder is complete, the trace is the schedule', async () => {
  const losses: number[] = [];
  const s = await trainRun(cfg('basic', { epochs: 5, schedule: 'oneCycle', groups: 'stage' }), {
    callbacks: [
      {
        onStep: (i: StepInfo) => {
          losses.push(i.loss);
        },
      },
    ],
  });
  assert.equal(s.status, 'completed');
  assert.equal(s.epochsDone, 5);
  const k = 5;
  const first = losses.slice(0, k).reduce((a, b) => a + b) / k;
  const last = losses.slice(-k).reduce((a, b) => a + b) / k;
  assert.ok(last < first * 0.7, `train loss should fall: first ${first.toFixed(3)} last ${last.toFixed(3)}`);
  for (const f of [
    'config.json',
    'history.json',
    'history.csv',
    'schedule_trace.csv',
    'summary.json',
    'checkpoints/last/model.safetensors',
    'checkpoints/last/optimizer.safetensors',
    'checkpoints/last/trainer.json',
    'checkpoints/best/model.json',
  ]) {
    assert.ok(existsSync(join(s.runDir, f)), f);
  }
  const conf = JSON.parse(readFileSync(join(s.runDir, 'config.json'), 'utf8'));
  assert.match(conf.manifestSha256, /^[0-9a-f]{64}$/);
  assert.equal(conf.schedule.epochs, 5);
  const hist = JSON.parse(readFileSync(join(s.runDir, 'history.json'), 'utf8'));
  assert.equal(hist.length, 5);
  for (const h of hist)
    for (const m of ['loss', 'accuracy', 'sensitivity', 'specificity', 'auc'])
      assert.equal(typeof h.valid[m], 'number', m);
  // Trace: every step × group, against oneCycle's values worked out by hand. 34 training images in batches of 8
  // are 5 steps an epoch, T = 25: position p = t/24 puts the warm-up's middle (p = 1/8), the peak (p = 1/4,
  // the default pct) and the anneal's middle (p = 5/8) on steps 3, 6 and 15, where the cosine ramp is 1/2 or 1.
  assert.equal(s.stepsDone, 25);
  assert.equal(s.groups, 6, 'resnet18 stages: stem, layer1-4, fc');
  const rows = readFileSync(join(s.runDir, 'schedule_trace.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(',').map(Number))
    .map(([t, , g, lr, mom, wd]) => ({ t: t!, g: g!, lr: lr!, mom: mom!, wd: wd! }));
  assert.equal(rows.length, 25 * 6);
  const at = (t: number) => rows.filter((r) => r.t === t).sort((x, y) => x.g - y.g);
  // 1e-12 relative: the rounding of a few double operations (2^-52 each); a slip of pct, ramp or spacing moves
  // these values by a percent or more.
  const near = (x: number, want: number) => Math.abs(x - want) <= 1e-12 * want;
  // The last group's α_t = 1e-4 + (3e-3 − 1e-4)·level and m_t = 0.95 − 0.1·level, at level 0, 1/2, 1, 1/2, 0.
  const lastGroup = [
    [0, 1e-4, 0.95],
    [3, 1.55e-3, 0.9],
    [6, 3e-3, 0.85],
    [15, 1.55e-3, 0.9],
    [24, 1e-4, 0.95],
  ] as const;
  for (const [t, lrT, momT] of lastGroup) {
    // Group g of 6 at f = g/5: lr geometric from 1e-4 to α_t, momentum linear from the rest value 0.95 to m_t.
    for (const { g, lr, mom } of at(t)) {
      assert.ok(near(lr, 1e-4 * (lrT / 1e-4) ** (g / 5)), `step ${t} group ${g}: lr ${lr}`);
      assert.ok(near(mom, 0.95 + (momT - 0.95) * (g / 5)), `step ${t} group ${g}: momentum ${mom}`);
    }
  }
  for (let t = 0; t < 25; t++) {
    const r = at(t);
    assert.deepEqual(
      r.map((x) => x.g),
      [0, 1, 2, 3, 4, 5],
      `step ${t}: one row per group`,
    );
    assert.ok(
      r.every((x) => x.wd === 0.01),
      `step ${t}: weight decay`,
    );
    assert.deepEqual([r[0]!.lr, r[0]!.mom], [1e-4, 0.95], `step ${t}: the first group stays at rest`);
    // Geometric spacing: one ratio between neighbouring groups.
    for (let g = 1; g < 5; g++) assert.ok(near(r[g + 1]!.lr / r[g]!.lr, r[1]!.lr / r[0]!.lr), `step ${t} group ${g}`);
    // The peak is step 6: the last group's LR rises to it and falls after it.
    const prev = t > 0 ? at(t - 1)[5]!.lr : NaN;
    if (t > 0) assert.ok(t <= 6 ? r[5]!.lr > prev : r[5]!.lr < prev, `step ${t}: lr ${r[5]!.lr} after ${prev}`);
  }
  const meta = JSON.parse(readFileSync(join(s.runDir, 'checkpoints/best/model.json'), 'utf8'));
  assert.deepEqual(meta.classes, ['normal', 'covid']);
  assert.equal(meta.manifestSha256, conf.manifestSha256);
  assert.deepEqual(
    { ...meta.preprocessing, normalisation: undefined },
    {
      size: 64,
      fit: 'letterbox',
      equalize: 'none',
      crop: 'none',
      cropMargin: 0.1,
      standardize: 'none',
      channels: 1,
      normalisation: undefined,
    },
  );
  // Phantoms are one source: the validation split is internal, and model.json says so.
  assert.equal((meta.training as { validProtocol?: { protocol: string } }).validProtocol?.protocol, 'internal');
});

test('feature mode: the backbone parameters do not move, the head does', async () => {
  let initial = '';
  const s = await trainRun(cfg('feature', { epochs: 1, mode: 'feature', lrMax: 1e-2 }), {
    callbacks: [
      {
        onTrainBegin: () => {
          initial = join(dir, 'feature-initial.safetensors');
          copyFileSync(join(dir, 'feature', 'checkpoints/last/model.safetensors'), initial);
        },
      },
    ],
  });
  assert.equal(s.status, 'completed');
  const before = await tensors(initial);
  const after = await tensors(join(s.runDir, 'checkpoints/last/model.safetensors'));
  const m = await Model.create({ arch: 'resnet18', numClasses: 2 });
  const set = trainableAt('feature', m.layers(), m.parameters());
  assert.deepEqual(set.trainable, ['fc.weight', 'fc.bias']);
  for (const name of set.frozen) assert.deepEqual(after.get(name)!.data, before.get(name)!.data, name);
  assert.notDeepEqual(after.get('fc.weight')!.data, before.get('fc.weight')!.data);
});

test(
  'resume: interrupted after epoch 1, resumed, ends bitwise equal to an uninterrupted run (CPU fp32, with ' +
    'dropout)',
  async () => {
    const over: Partial<FlatTrainConfig> = {
      arch: 'mobilenet_v2',
      epochs: 3,
      schedule: 'paperCycle',
      optimizer: 'adamw',
      groups: 3,
      aug: 'online',
    };
    const full = await trainRun(cfg('resume-full', over));
    // model.json names the online augmentation the weights saw, with its ranges.
    const aug = JSON.parse(readFileSync(join(full.runDir, 'checkpoints/last/model.json'), 'utf8')).training.augment;
    assert.equal(aug.mode, 'online');
    assert.deepEqual(
      aug.sets.map((s: { set: string }) => s.set),
      ['table1'],
    );
    assert.deepEqual(aug.sets[0].transforms[0], { name: 'rotate', degrees: [5, 10, 15], sign: '±' });
    const part = await trainRun(cfg('resume-part', over), {
      callbacks: [{ onEpochEnd: (r) => (r.epoch === 0 ? { stop: 'stop for the test' } : undefined) }],
    });
    assert.equal(part.status, 'interrupted');
    assert.equal(part.epochsDone, 1);
    // A save killed mid-write (dead PID) left its temp folder: the resume removes it.
    const deadPid = Number(
      spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout,
    );
    const stale = join(dir, 'resume-part', 'checkpoints', `last.tmp-${deadPid}`);
    mkdirSync(stale, { recursive: true });
    writeFileSync(join(stale, 'model.safetensors'), 'half-written');
    const resumed = await resumeRun(join(dir, 'resume-part'));
    assert.ok(!existsSync(stale), 'stale temp checkpoint folder removed on resume');
    assert.equal(resumed.status, 'completed');
    assert.equal(resumed.epochsDone, 3);
    for (const f of ['model.safetensors', 'optimizer.safetensors']) {
      const a = await tensors(join(full.runDir, 'checkpoints/last', f));
      const b = await tensors(join(resumed.runDir, 'checkpoints/last', f));
      assert.deepEqual([...b.keys()], [...a.keys()]);
      for (const [k, t] of a) assert.ok(Buffer.from(t.data).equals(Buffer.from(b.get(k)!.data)), `${f}: ${k} differs`);
    }
    assert.equal(
      readFileSync(join(resumed.runDir, 'schedule_trace.csv'), 'utf8'),
      readFileSync(join(full.runDir, 'schedule_trace.csv'), 'utf8'),
    );
    const hf = JSON.parse(readFileSync(join(full.runDir, 'history.json'), 'utf8'));
    const hr = JSON.parse(readFileSync(join(resumed.runDir, 'history.json'), 'utf8'));
    assert.deepEqual(
      hr.map((h: { valid: unknown }) => h.valid),
      hf.map((h: { valid: unknown }) => h.valid),
    );
    await assert.rejects(resumeRun(join(dir, 'resume-part')), /already finished all 3 epochs/);
  },
);

test('an absurd LR stops cleanly with a message and leaves a usable checkpoint', async () => {
  const s = await trainRun(
    cfg('absurd', { schedule: 'constant', lrMin: 1e4, lrMax: 1e4, optimizer: 'sgd', momMax: 0.9, epochs: 2 }),
  );
  assert.equal(s.status, 'diverged');
  assert.match(
    s.message,
    /diverged at epoch 1, step \d+\/\d+ .*Lower the peak LR.*last good checkpoint is .*checkpoints\/last/,
  );
  const { model } = await loadCheckpoint(s.lastCheckpoint!);
  const data = openRunData({ manifest, size: 64, batch: 4, seed: 0 });
  for await (const b of data.valid!.epoch(0)) {
    const p = await model.predict(b);
    assert.ok(p.probs.every(Number.isFinite));
    break;
  }
  await assert.rejects(trainRun(cfg('absurd')), /already holds a run; continue it with --resume/);
});

test('lr-find restores the weights it started from, and writes lr_find.json + an SVG plot', async () => {
  const m = await Model.create({ arch: 'resnet18', numClasses: 2 });
  const data = openRunData({ manifest, size: 64, batch: 8, seed: 0 });
  const before = await m.state();
  const r = await lrFindOnModel(m, data.train, { iterations: 12, start: 1e-5, end: 1 });
  assert.equal(r.lrs.length > 5, true);
  const after = await m.state();
  for (const [k, t] of before)
    assert.ok(Buffer.from(t.data).equals(Buffer.from(after.get(k)!.data)), `${k} not restored`);
  // lrMin = lrMax / 100: a division and the test's multiplication, each within half an ulp.
  const { lrMin, lrMax } = r.proposed;
  assert.ok(lrMax > 0 && Math.abs(lrMin * 100 - lrMax) <= 2 * Number.EPSILON * lrMax, `${lrMin} × 100 vs ${lrMax}`);

  const out = join(dir, 'lr');
  const run = await runLrFind({
    manifest,
    arch: 'resnet18',
    out,
    size: 64,
    batch: 8,
    iterations: 15,
    start: 1e-5,
    end: 10,
    threads: 2,
  });
  const json = JSON.parse(readFileSync(run.files.json, 'utf8'));
  assert.equal(json.lrs.length, run.result.lrs.length);
  assert.equal(json.proposed.lrMax, run.result.proposed.lrMax);
  const svg = readFileSync(run.files.svg, 'utf8');
  assert.match(svg, /^<svg/);
  assert.match(svg, /learning rate \(log\)/);
  assert.match(svg, new RegExp(`${run.result.proposed.by}: `));
});

test('the groups option reaches the optimizer: 3 runs of layers, each stepped with its own LR', async () => {
  const configured: { model: Model; groups: number[][] }[] = [];
  const hyper: GroupHyper[][] = [];
  const { configureOptimizer, trainStep } = Model.prototype;
  Model.prototype.configureOptimizer = function (this: Model, c) {
    configured.push({ model: this, groups: c.groups });
    return configureOptimizer.call(this, c);
  };
  Model.prototype.trainStep = function (this: Model, b, h, o) {
    hyper.push(h);
    return trainStep.call(this, b, h, o);
  };
  let s: Awaited<ReturnType<typeof trainRun>>;
  try {
    s = await trainRun(cfg('groups', { epochs: 1, schedule: 'oneCycle', groups: 3 }));
  } finally {
    Object.assign(Model.prototype, { configureOptimizer, trainStep });
  }
  assert.equal(s.status, 'completed');
  assert.equal(configured.length, 1);
  const { model, groups } = configured[0]!;
  // 41 layers (20 convolutions, 20 BatchNorms, fc) in 3 runs: layers [⌊41g/3⌋, ⌊41(g+1)/3⌋) = 13, 14, 14.
  const layers = model.layers();
  assert.equal(layers.length, 41);
  assert.deepEqual(
    groups,
    [
      [0, 13],
      [13, 27],
      [27, 41],
    ].map(([a, b]) => layers.slice(a, b).flatMap((l) => l.params)),
  );
  // 5 steps, peak at t = 1 (p = 1/4): the groups get 1e-4, 1e-4·√30 and 3e-3 (geometric, f = 0, 1/2, 1).
  assert.equal(hyper.length, 5);
  assert.ok(hyper.every((h) => h.length === 3));
  [1e-4, 1e-4 * Math.sqrt(30), 3e-3].forEach((want, g) => {
    assert.ok(Math.abs(hyper[1]![g]!.lr - want) <= 1e-12 * want, `group ${g}: lr ${hyper[1]![g]!.lr}`);
  });
  // The native optimizer holds those groups: a step with LR 0 for all groups but g moves g's parameters only.
  const names = model.parameters().map((p) => p.name);
  let b: Batch | undefined;
  for await (const x of openRunData({ manifest, size: 64, batch: 8, seed: 0 }).train.epoch(0)) {
    b = x;
    break;
  }
  for (let g = 0; g < 3; g++) {
    const before = await model.state();
    await model.trainStep(
      b!,
      groups.map((_, k) => ({ lr: k === g ? 1e-3 : 0, momentum: 0.9, weightDecay: 0.01 })),
    );
    const after = await model.state();
    groups.forEach((ids, k) => {
      for (const i of ids) {
        const same = Buffer.from(after.get(names[i]!)!.data).equals(Buffer.from(before.get(names[i]!)!.data));
        assert.equal(same, k !== g, `LR only for group ${g}: ${names[i]} (group ${k}) ${same ? 'kept' : 'moved'}`);
      }
    });
  }
});
