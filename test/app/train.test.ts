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
import { trainRun, resumeRun } from '../../src/app/experiment.js';
import { resolveTrainConfig, type TrainConfig } from '../../src/app/trainConfig.js';
import { openRunData } from '../../src/app/dataSource.js';
import { runLrFind } from '../../src/app/lrFind.js';
import { lrFindOnModel } from '../../src/recipe/lrFindOnModel.js';
import { createSchedule } from '../../src/recipe/schedules.js';
import { layerGroups, scheduleGroupHyper } from '../../src/recipe/discriminative.js';
import { trainableAt } from '../../src/recipe/transfer.js';
import type { StepInfo } from '../../src/recipe/callbacks.js';

const dir = mkdtempSync(join(tmpdir(), 'cxrtune-train-'));
let manifest = '';

before(async () => {
  setThreads(2);
  manifest = (await writePhantoms({ n: 48, size: 64, seed: 3, out: join(dir, 'data'), sheetSize: 0 })).manifestFile;
});

const cfg = (out: string, over: Partial<TrainConfig> = {}): TrainConfig =>
  resolveTrainConfig({}, { manifest, arch: 'resnet18', out: join(dir, out), size: 64, batch: 8, epochs: 3, lrMin: 1e-4, lrMax: 3e-3, threads: 2, ...over });

async function tensors(file: string) {
  return (await readSafetensors(file)).tensors;
}

test('a short phantom run: loss falls, the run folder is complete, the trace is the schedule', async () => {
  const losses: number[] = [];
  const s = await trainRun(cfg('basic', { epochs: 4, schedule: 'oneCycle', groups: 'stage' }), { callbacks: [{ onStep: (i: StepInfo) => { losses.push(i.loss); } }] });
  assert.equal(s.status, 'completed');
  assert.equal(s.epochsDone, 4);
  const k = 5;
  const first = losses.slice(0, k).reduce((a, b) => a + b) / k;
  const last = losses.slice(-k).reduce((a, b) => a + b) / k;
  assert.ok(last < first * 0.7, `train loss should fall: first ${first.toFixed(3)} last ${last.toFixed(3)}`);
  for (const f of ['config.json', 'history.json', 'history.csv', 'schedule_trace.csv', 'summary.json', 'checkpoints/last/model.safetensors',
    'checkpoints/last/optimizer.safetensors', 'checkpoints/last/trainer.json', 'checkpoints/best/model.json']) {
    assert.ok(existsSync(join(s.runDir, f)), f);
  }
  const conf = JSON.parse(readFileSync(join(s.runDir, 'config.json'), 'utf8'));
  assert.match(conf.manifestSha256, /^[0-9a-f]{64}$/);
  assert.equal(conf.epochs, 4);
  const hist = JSON.parse(readFileSync(join(s.runDir, 'history.json'), 'utf8'));
  assert.equal(hist.length, 4);
  for (const h of hist) for (const m of ['loss', 'accuracy', 'sensitivity', 'specificity', 'auc']) assert.equal(typeof h.valid[m], 'number', m);
  // Trace: every step × group, equal to the schedule functions (JS number → string round-trips exactly).
  const steps = s.stepsDone;
  const schedule = createSchedule({ kind: 'oneCycle', totalSteps: steps, lrMin: 1e-4, lrMax: 3e-3, momMin: 0.85, momMax: 0.95 });
  const rows = readFileSync(join(s.runDir, 'schedule_trace.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').map(Number));
  assert.equal(rows.length, steps * s.groups);
  for (const [step, , g, lr, mom, wd] of rows) {
    const want = scheduleGroupHyper(schedule, step!, s.groups, { weightDecay: 0.01 })[g!]!;
    assert.deepEqual([lr, mom, wd], [want.lr, want.momentum, want.weightDecay], `step ${step} group ${g}`);
  }
  const meta = JSON.parse(readFileSync(join(s.runDir, 'checkpoints/best/model.json'), 'utf8'));
  assert.deepEqual(meta.classes, ['normal', 'covid']);
  assert.equal(meta.manifestSha256, conf.manifestSha256);
  assert.deepEqual({ ...meta.preprocessing, normalisation: undefined }, { size: 64, fit: 'letterbox', equalize: 'none', crop: 'none', cropMargin: 0.1, standardize: 'none', channels: 1, normalisation: undefined });
  // Phantoms are one source: the validation split is internal, and model.json says so.
  assert.equal((meta.training as { validProtocol?: { protocol: string } }).validProtocol?.protocol, 'internal');
});

test('feature mode: the backbone parameters do not move, the head does', async () => {
  let initial = '';
  const s = await trainRun(cfg('feature', { epochs: 1, mode: 'feature', lrMax: 1e-2 }), {
    callbacks: [{ onTrainBegin: () => { initial = join(dir, 'feature-initial.safetensors'); copyFileSync(join(dir, 'feature', 'checkpoints/last/model.safetensors'), initial); } }],
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

test('resume: interrupted after epoch 1, resumed, ends bitwise equal to an uninterrupted run (CPU fp32, with dropout)', async () => {
  const over: Partial<TrainConfig> = { arch: 'mobilenet_v2', epochs: 3, schedule: 'paperCycle', optimizer: 'adamw', groups: 3, aug: 'online' };
  const full = await trainRun(cfg('resume-full', over));
  // model.json names the online augmentation the weights saw, with its ranges.
  const aug = JSON.parse(readFileSync(join(full.runDir, 'checkpoints/last/model.json'), 'utf8')).training.augment;
  assert.equal(aug.mode, 'online');
  assert.deepEqual(aug.sets.map((s: { set: string }) => s.set), ['table1']);
  assert.deepEqual(aug.sets[0].transforms[0], { name: 'rotate', degrees: [5, 10, 15], sign: '±' });
  const part = await trainRun(cfg('resume-part', over), { callbacks: [{ onEpochEnd: (r) => (r.epoch === 0 ? { stop: 'stop for the test' } : undefined) }] });
  assert.equal(part.status, 'interrupted');
  assert.equal(part.epochsDone, 1);
  // A save killed mid-write (dead PID) left its temp folder: the resume removes it.
  const deadPid = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
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
  assert.equal(readFileSync(join(resumed.runDir, 'schedule_trace.csv'), 'utf8'), readFileSync(join(full.runDir, 'schedule_trace.csv'), 'utf8'));
  const hf = JSON.parse(readFileSync(join(full.runDir, 'history.json'), 'utf8'));
  const hr = JSON.parse(readFileSync(join(resumed.runDir, 'history.json'), 'utf8'));
  assert.deepEqual(hr.map((h: { valid: unknown }) => h.valid), hf.map((h: { valid: unknown }) => h.valid));
  await assert.rejects(resumeRun(join(dir, 'resume-part')), /already finished all 3 epochs/);
});

test('an absurd LR stops cleanly with a message and leaves a usable checkpoint', async () => {
  const s = await trainRun(cfg('absurd', { schedule: 'constant', lrMin: 1e4, lrMax: 1e4, optimizer: 'sgd', momMax: 0.9, epochs: 2 }));
  assert.equal(s.status, 'diverged');
  assert.match(s.message, /diverged at epoch 1, step \d+\/\d+ .*Lower the peak LR.*last good checkpoint is .*checkpoints\/last/);
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
  for (const [k, t] of before) assert.ok(Buffer.from(t.data).equals(Buffer.from(after.get(k)!.data)), `${k} not restored`);
  assert.ok(r.proposed.lrMax > 0 && Math.abs(r.proposed.lrMin * 100 - r.proposed.lrMax) < 1e-12);

  const out = join(dir, 'lr');
  const run = await runLrFind({ manifest, arch: 'resnet18', out, size: 64, batch: 8, iterations: 15, start: 1e-5, end: 10, threads: 2 });
  const json = JSON.parse(readFileSync(run.files.json, 'utf8'));
  assert.equal(json.lrs.length, run.result.lrs.length);
  assert.equal(json.proposed.lrMax, run.result.proposed.lrMax);
  const svg = readFileSync(run.files.svg, 'utf8');
  assert.match(svg, /^<svg/);
  assert.match(svg, /learning rate \(log\)/);
  assert.match(svg, new RegExp(`${run.result.proposed.by}: `));
});

test('groups option reaches the optimizer: layer groups = parameterised layers', async () => {
  const m = await Model.create({ arch: 'resnet18', numClasses: 2 });
  assert.equal(layerGroups(m.layers(), 'layer').length, m.layers().length);
  assert.equal(layerGroups(m.layers(), 'stage').length, 6);
});
