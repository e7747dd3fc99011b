// reproduce: Table 3's arithmetic on runs whose figures are known, and the ablation arms trained
// end to end on phantoms (each arm's schedule and groups as declared, the table read off the runs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { armFlags, parseArms } from '../../src/app/reproduce/ablations.js';
import { runReproduce } from '../../src/app/reproduce/reproduce.js';
import { armTable, cell, claimText, oneLine, type Figures, type ReproduceRun } from '../../src/app/reproduce/tables.js';
import { parseCsv } from '../../src/data/csv.js';

const iv = (value: number) => ({ value, lo: value - 0.05, hi: value + 0.05 });
const figs = (auc: number, sens: number, spec: number): Figures => ({
  name: 'v',
  protocol: 'source-held-out',
  n: 100,
  auc: iv(auc),
  sensitivity: iv(sens),
  specificity: iv(spec),
  accuracy: iv(0.8),
  threshold: 0.5,
});
const run = (arm: ReproduceRun['arm'], seed: number, auc: number): ReproduceRun => ({
  arm,
  seed,
  precision: 'fp32',
  runDir: `r/${arm}-${seed}`,
  status: 'completed',
  bestEpoch: 1,
  seconds: 10 * seed,
  imagesPerSecond: 5,
  peakRssMiB: 100,
  valid: figs(auc, 0.7, 0.8),
  external: null,
});

test('armTable: mean ± sd over seeds, the median seed’s interval, differences paired by seed', () => {
  const runs = [
    run('paper', 1, 0.82),
    run('paper', 2, 0.88),
    run('paper', 3, 0.85),
    // The baseline's seeds in another order: pairing is by seed, not position.
    run('traditional', 3, 0.8),
    run('traditional', 1, 0.78),
    run('traditional', 2, 0.82),
    { ...run('paper', 1, 0.5), precision: 'bf16' as const }, // another precision: not in the table
  ];
  const t = armTable(runs, ['paper', 'traditional'], 'fp32');
  const paper = t.rows.find((r) => r.arm === 'paper')!;
  assert.deepEqual(paper.seeds, [1, 2, 3]);
  assert.ok(Math.abs(paper.metrics.auc.over.mean - 0.85) < 1e-12);
  assert.ok(Math.abs(paper.metrics.auc.over.sd - 0.03) < 1e-12); // √((.03² + .03² + 0)/2)
  assert.ok(Math.abs(paper.metrics.auc.median.value - 0.85) < 1e-12); // seed 3's run
  // Δ per seed: 0.04, 0.06, 0.05 → mean 0.05, sd 0.01, half-width t(2)·0.01/√3 = 0.0248: 0.025..0.075.
  const d = paper.metrics.auc.vsBaseline!;
  for (const [i, x] of d.differences.entries()) assert.ok(Math.abs(x - [0.04, 0.06, 0.05][i]!) < 1e-12);
  assert.ok(Math.abs(d.mean - 0.05) < 1e-12 && Math.abs(d.sd - 0.01) < 1e-12);
  assert.ok(Math.abs(d.hi - d.lo - 2 * 4.303 * (0.01 / Math.sqrt(3))) < 1e-9);
  assert.equal(d.verdict, 'a');
  assert.equal(t.rows.find((r) => r.arm === 'traditional')!.metrics.auc.vsBaseline, null);
  assert.match(t.claim[0]!.says, /^holds: ΔAUC \+0\.050/);
  assert.equal(t.cost.find((c) => c.arm === 'paper')!.seconds.mean, 20);
});

test('armTable: on an external set of one class (no AUC) the claim is read on its sensitivity', () => {
  const ext = (sens: number): Figures => ({
    ...figs(Number.NaN, sens, Number.NaN),
    name: 'figure1',
    protocol: 'external',
    auc: { value: Number.NaN, lo: Number.NaN, hi: Number.NaN },
  });
  const withExt = (arm: ReproduceRun['arm'], seed: number, sens: number) => ({
    ...run(arm, seed, 0.8),
    external: ext(sens),
  });
  const runs = [
    withExt('paper', 1, 0.9),
    withExt('paper', 2, 0.8),
    withExt('paper', 3, 0.85),
    withExt('traditional', 1, 0.8),
    withExt('traditional', 2, 0.75),
    withExt('traditional', 3, 0.7),
  ];
  const table = armTable(runs, ['paper', 'traditional'], 'fp32');
  const claim = table.claim.find((c) => c.protocol === 'external')!;
  const paperExt = table.rows.find((r) => r.arm === 'paper' && r.protocol === 'external')!;
  // No negatives: no specificity to show, not a Wilson interval of 0–100 %.
  assert.equal(cell('specificity', paperExt.metrics.specificity), '—');
  assert.match(cell('sensitivity', paperExt.metrics.sensitivity), /^85\.0 ± 5\.0 \[/);
  // Δ per seed: 10, 5, 15 points → mean +10.0.
  assert.match(claim.says, /Δsensitivity \(points; one class, so no AUC\) \+10\.0 \(95 % /);
});

test('oneLine: a one-class external set reports its sensitivity, not a NaN AUC', () => {
  const valid = figs(0.8, 0.75, 0.8);
  const ext: Figures = {
    ...figs(Number.NaN, 0.875, Number.NaN),
    name: 'figure1',
    protocol: 'external',
    auc: { value: Number.NaN, lo: Number.NaN, hi: Number.NaN },
    sensitivity: { value: 0.875, lo: 0.529, hi: 0.978 },
  };
  const line = oneLine({ valid, external: ext, seconds: 170 });
  assert.doesNotMatch(line, /NaN/);
  assert.match(line, /external sensitivity 87\.5 % \(52\.9–97\.8; one class, no AUC\)/);
  assert.match(line, /^source-held-out AUC 0\.800 \(0\.750–0\.850\); external /);
  // A set of negatives only (a hospital's normals) reports its specificity instead.
  const normals: Figures = {
    ...ext,
    sensitivity: { value: Number.NaN, lo: Number.NaN, hi: Number.NaN },
    specificity: { value: 0.9, lo: 0.8, hi: 0.95 },
  };
  assert.match(oneLine({ valid, external: normals, seconds: 170 }), /external specificity 90\.0 % \(80\.0–95\.0;/);
});

test('claimText: reversed and not shown are said as such', () => {
  const base = { mean: -0.05, sd: 0.01, lo: -0.07, hi: -0.03, n: 3, differences: [] };
  assert.match(claimText({ ...base, verdict: 'b' }), /^reversed/);
  assert.match(claimText({ ...base, lo: -0.1, hi: 0.02, verdict: 'neither' }), /^not shown/);
  assert.match(claimText({ ...base, n: 1, verdict: 'neither' }), /^not testable/);
  assert.deepEqual(parseArms('paper'), ['paper', 'traditional']);
  assert.throws(() => parseArms('paper,sgd'), /unknown arm 'sgd'/);
});

test('reproduce on phantoms: every arm trains as declared, and Table 3 is read off its runs', async () => {
  const out = mkdtempSync(join(tmpdir(), 'cxrtune-reproduce-'));
  try {
    const arms = parseArms('paper,discriminative');
    const r = await runReproduce({
      out,
      arms,
      seeds: 2,
      epochs: 1,
      size: 48,
      n: 80,
      pretrained: 'none',
      arch: 'resnet18',
      precisionCheck: false,
    });
    const t = r.tasks[0]!;
    assert.equal(t.task, 'phantoms');
    assert.equal(t.runs.length, 6);
    for (const x of t.runs) {
      const cfg = JSON.parse(readFileSync(join(x.runDir, 'config.json'), 'utf8'));
      const want = armFlags(x.arm, 'resnet18', t.lr);
      assert.equal(cfg.schedule.kind, want.schedule, `${x.arm}: schedule`);
      assert.equal(cfg.transfer.discriminative, want.discriminative, `${x.arm}: groups`);
      // The run's own evaluation is the figure the table holds.
      const m = JSON.parse(readFileSync(join(x.runDir, 'eval-valid', 'metrics.json'), 'utf8')).metrics;
      assert.equal(x.valid.auc.value, m.auc.value);
      assert.equal(x.valid.protocol, 'internal');
    }
    // Discriminative at a constant rate: every step, the stem at α_min and the head at α_max.
    const traceFile = join(t.runs.find((x) => x.arm === 'discriminative')!.runDir, 'schedule_trace.csv');
    const trace = parseCsv(readFileSync(traceFile, 'utf8')).records.map((r) => r.values);
    const groups = Math.max(...trace.map((row) => Number(row.group))) + 1;
    assert.ok(groups >= 3);
    for (const row of trace) {
      const g = Number(row.group);
      if (g === 0) assert.ok(Math.abs(Number(row.lr) / t.lr.lrMin - 1) < 1e-9);
      if (g === groups - 1) assert.ok(Math.abs(Number(row.lr) / t.lr.lrMax - 1) < 1e-9);
    }
    const mean = (arm: string) => {
      const v = t.runs.filter((x) => x.arm === arm).map((x) => x.valid.auc.value);
      return v.reduce((a, b) => a + b, 0) / v.length;
    };
    const row = t.table.rows.find((x) => x.arm === 'paper')!;
    assert.ok(Math.abs(row.metrics.auc.over.mean - mean('paper')) < 1e-12);
    assert.ok(Math.abs(row.metrics.auc.vsBaseline!.mean - (mean('paper') - mean('traditional'))) < 1e-12);
    assert.equal(t.precision.compared, false);
    const md = readFileSync(r.files.markdown, 'utf8');
    assert.match(md, /Table 3/);
    assert.match(md, /The paper's claim on INTERNAL: /);
    // Tables 2, 4, 5 and Figs. 7–10 from the median paper run.
    const html = readFileSync(t.report!.file, 'utf8');
    for (const s of ['Fig. 7', 'Fig. 8', 'Fig. 9', 'Fig. 10', 'Table 2', 'Table 4']) assert.ok(html.includes(s), s);
    assert.ok(existsSync(join(t.report!.run, 'lr_find.json')));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
