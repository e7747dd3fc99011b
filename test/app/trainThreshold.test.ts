// Thresholds that travel: `train --threshold youden|sensitivity:X` chooses the threshold on
// each kept checkpoint's validation predictions (checked against the rule's choice recomputed on
// the same predictions), model.json records it in calibrate's form with the validation
// split's protocol, the summary names the protocol and warns on INTERNAL; evaluate labels
// every source of the evaluated set with its protocol and its sensitivity/specificity.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { writePhantoms } from '../../src/data/phantom.js';
import { readManifest, rowPath, writeManifest, type ManifestRow } from '../../src/data/manifest.js';
import { parseCsv } from '../../src/data/csv.js';
import { setThreads } from '../../src/engine/runtime.js';
import { readCheckpointMeta } from '../../src/engine/checkpoint.js';
import { Learner } from '../../src/app/train/learner.js';
import { trainRun } from '../../src/app/train/experiment.js';
import { resolveTrainConfig } from '../../src/app/train/trainConfig.js';
import { evaluate } from '../../src/app/evaluate/evaluate.js';
import { formatEvaluation } from '../../src/app/evaluate/formatEvaluation.js';
import { ratesBySource, scoreSet } from '../../src/app/evaluate/scoring.js';
import { decideProtocol, sourceProtocols } from '../../src/app/evaluate/protocol.js';
import {
  formatThresholdSummary,
  thresholdSummaryOf,
  trainThresholdChoice,
} from '../../src/app/train/trainThreshold.js';
import { thresholdArg as thresholdArgOf } from '../../src/cli/thresholdOption.js';
import { registerTrainCommand } from '../../src/cli/trainCommand.js';
import { positiveColumn } from '../../src/recipe/metrics.js';
import { chooseThreshold } from '../../src/recipe/threshold.js';
import { wilson } from '../../src/recipe/wilson.js';

const dir = mkdtempSync(join(tmpdir(), 'cxrtune-thr-'));
const ENTRY = join(dirname(fileURLToPath(import.meta.url)), 'cliEntry.ts');
let manifest = '';

before(async () => {
  setThreads(2);
  manifest = (await writePhantoms({ n: 32, size: 32, seed: 7, out: join(dir, 'data'), sheetSize: 0 })).manifestFile;
});

function run(...args: string[]): Promise<{ out: string; err: string; code: number }> {
  return new Promise((res) => {
    execFile(process.execPath, ['--import', 'tsx', ENTRY, ...args], { maxBuffer: 1 << 24 }, (e, out, err) => {
      res({ out, err, code: e ? Number((e as { code?: number }).code ?? 1) : 0 });
    });
  });
}

/** Sensitivity/specificity counts at `t` by hand. */
function counts(pos: ArrayLike<number>, labels: ArrayLike<number>, t: number) {
  let tp = 0,
    fn = 0,
    tn = 0,
    fp = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === 1) pos[i]! >= t ? tp++ : fn++;
    else pos[i]! >= t ? fp++ : tn++;
  }
  return { tp, fn, tn, fp };
}

/** A copy of rows in a new folder (absolute paths), with a summary.json saying how it was split. */
async function manifestCopy(name: string, rows: ManifestRow[], splitBy?: string): Promise<string> {
  const m = readManifest(manifest);
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  if (splitBy) writeFileSync(join(d, 'summary.json'), JSON.stringify({ splitBy }));
  const file = join(d, 'manifest.csv');
  await writeManifest(
    file,
    rows.map((r) => ({ ...r, path: rowPath(m, r) })),
  );
  return file;
}

test(
  "train --threshold youden (CLI): the threshold is Youden's point of the kept checkpoint's validation " +
    'predictions; INTERNAL warns; evaluate labels each source',
  async () => {
    const out = join(dir, 'youden');
    const r = await run(
      'train',
      '--manifest',
      manifest,
      '--arch',
      'resnet18',
      '--size',
      '32',
      '--batch',
      '8',
      '--epochs',
      '1',
      '--lr-max',
      '3e-3',
      '--threads',
      '2',
      '--threshold',
      'youden',
      '--out',
      out,
      '--quiet',
    );
    assert.equal(r.code, 0, r.err);
    const best = join(out, 'checkpoints', 'best');
    const meta = await readCheckpointMeta(best);
    // The same validation predictions, recomputed from the checkpoint: Youden's point by hand.
    const learner = await Learner.load(best, { threads: 2 });
    const pred = await learner.predictSet(readManifest(manifest), { split: 'valid', batch: 8 });
    const pos = positiveColumn(pred.probs, 2, 1);
    const y = chooseThreshold(pos, pred.labels, { kind: 'youden' }); // Youden's point, halfway to the next score
    assert.ok(Math.abs(meta.threshold - y.threshold) < 1e-6, `model.json ${meta.threshold} vs youden ${y.threshold}`);
    const c = counts(pos, pred.labels, y.threshold);
    assert.ok(c.tp + c.fn > 0 && c.tn + c.fp > 0, 'both classes in the validation split');
    const tc = meta.thresholdChoice as {
      rule: string;
      value: number;
      epoch: number;
      chosenOn: { split: string; n: number; positives: number; sources: string[] };
      evaluation: {
        protocol: string;
        n: number;
        sensitivity: { num: number; den: number; lo: number; hi: number };
        specificity: { num: number; den: number; lo: number; hi: number };
      };
    };
    assert.equal(tc.rule, 'youden');
    assert.equal(tc.value, meta.threshold);
    assert.equal(tc.epoch, 1);
    assert.deepEqual(
      [tc.chosenOn.split, tc.chosenOn.n, tc.chosenOn.positives, tc.chosenOn.sources],
      ['valid', pred.labels.length, c.tp + c.fn, ['phantom']],
    );
    assert.equal(tc.evaluation.protocol, 'internal');
    assert.deepEqual(tc.evaluation.sensitivity, wilson(c.tp, c.tp + c.fn));
    assert.deepEqual(tc.evaluation.specificity, wilson(c.tn, c.tn + c.fp));
    // One epoch: the last checkpoint is the same epoch and carries the same choice.
    assert.equal((await readCheckpointMeta(join(out, 'checkpoints', 'last'))).threshold, meta.threshold);
    // The per-epoch validation figures stay at the provisional 0.5; config.json keeps the rule.
    assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).validation.threshold, 'youden');
    // Summary: printed and in summary.json, naming the protocol, with the INTERNAL warning.
    const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    assert.deepEqual(
      [s.threshold.rule, s.threshold.value, s.threshold.checkpoint, s.threshold.protocol, s.threshold.n],
      ['youden', meta.threshold, 'best', 'internal', pred.labels.length],
    );
    const t4 = String(Number(meta.threshold.toFixed(4))).replace('.', '\\.');
    assert.match(
      r.out,
      new RegExp(
        `threshold ${t4} chosen by youden on INTERNAL validation \\(${pred.labels.length} images\\) for best: ` +
          `sensitivity [\\d.]+ % \\([\\d.]+–[\\d.]+, ${c.tp}/${c.tp + c.fn}\\)  specificity [\\d.]+ % ` +
          `\\([\\d.]+–[\\d.]+, ${c.tn}/${c.tn + c.fp}\\)`,
      ),
    );
    assert.match(r.out, /warning: the threshold was chosen on INTERNAL validation .* may not travel/);

    // evaluate: every source of the set at the model's threshold, each with its protocol.
    const m = readManifest(manifest);
    const valid = m.rows.filter((x) => x.split === 'valid');
    const other = new Set(valid.filter((_, i) => i % 2 === 1).map((x) => x.patientId));
    const mixed = await manifestCopy(
      'mixed',
      valid.map((x) => (other.has(x.patientId) ? { ...x, source: 'hospital-b', patientId: `b:${x.patientId}` } : x)),
    );
    const e = await evaluate({
      model: out,
      manifest: mixed,
      split: 'valid',
      out: join(dir, 'eval-mixed'),
      bootstrap: 0,
    });
    assert.equal(e.model.threshold, meta.threshold);
    const rows = parseCsv(readFileSync(e.files.predictions, 'utf8'), 'p').records.map((x) => x.values);
    for (const [source, protocol] of [
      ['hospital-b', 'source-held-out'],
      ['phantom', 'internal'],
    ] as const) {
      const g = e.bySource.find((b) => b.group === source)!;
      assert.equal(g.protocol, protocol, source);
      const mine = rows.filter((x) => x.source === source);
      // predictions.csv rounds to 6 decimals; the threshold is one of the scores, so compare on the exact run's calls.
      const k = counts(
        mine.map((x) => (x.predicted === 'covid' ? 1 : 0)),
        mine.map((x) => (x.label === 'covid' ? 1 : 0)),
        0.5,
      );
      assert.deepEqual(g.sensitivity, wilson(k.tp, k.tp + k.fn), `${source} sensitivity`);
      assert.deepEqual(g.specificity, wilson(k.tn, k.tn + k.fp), `${source} specificity`);
    }
    assert.match(formatEvaluation(e), /hospital-b\s+\[SOURCE-HELD-OUT\]\s+n \d+/);
    assert.match(formatEvaluation(e), /phantom\s+\[INTERNAL\]/);
    // evaluate --threshold takes the same rules, chosen on the evaluated set (and says so).
    assert.equal(e.model.thresholdRule, 'keep');
    const spec = await evaluate({
      model: out,
      manifest,
      split: 'valid',
      out: join(dir, 'eval-spec'),
      bootstrap: 0,
      threshold: 'specificity:0.75',
    });
    const wantSpec = chooseThreshold(pos, pred.labels, { kind: 'specificity', target: 0.75 }).threshold;
    assert.ok(Math.abs(spec.model.threshold - wantSpec) < 1e-6, `${spec.model.threshold} vs ${wantSpec}`);
    assert.equal(spec.model.thresholdRule, 'specificity:0.75');
    assert.match(
      formatEvaluation(spec),
      /threshold [\d.]+ \(rule specificity:0\.75\)\n {2}note: threshold chosen on this same/,
    );
    const sens = await evaluate({
      model: out,
      manifest,
      split: 'valid',
      out: join(dir, 'eval-sens'),
      bootstrap: 0,
      threshold: 'sensitivity:1',
    });
    const wantSens = chooseThreshold(pos, pred.labels, { kind: 'sensitivity', target: 1 }).threshold;
    assert.ok(Math.abs(sens.model.threshold - wantSens) < 1e-6, `${sens.model.threshold} vs ${wantSens}`);
    assert.equal(sens.metrics.sensitivity.value, 1);
    assert.equal(sens.metrics.atTargetSensitivity?.target, 1);
    // A set of one class cannot choose: the refusal names the flag.
    const onlyCovid = await manifestCopy(
      'only-covid',
      valid.filter((x) => x.label === 'covid'),
    );
    await assert.rejects(
      evaluate({ model: out, manifest: onlyCovid, split: 'valid', out: join(dir, 'eval-one'), threshold: 'youden' }),
      /^Error: --threshold youden: metrics: choosing a threshold needs both positive and negative rows$/,
    );
  },
);

test(
  'a location-held-out validation split: the threshold is labelled SOURCE-HELD-OUT and no warning; ' +
    'sensitivity:X on the same predictions',
  async () => {
    const m = readManifest(manifest);
    const file = await manifestCopy(
      'by-location',
      m.rows.map((x) => ({ ...x, extra: { ...x.extra, location: x.split === 'valid' ? 'site-b' : 'site-a' } })),
      'location',
    );
    const s = await trainRun(
      resolveTrainConfig(
        {},
        {
          manifest: file,
          arch: 'resnet18',
          out: join(dir, 'held'),
          size: 32,
          batch: 8,
          epochs: 1,
          lrMax: 3e-3,
          threads: 2,
          threshold: 'sensitivity:0.8',
        },
      ),
    );
    assert.equal(s.threshold!.protocol, 'source-held-out');
    assert.equal(s.threshold!.warning, undefined);
    const meta = await readCheckpointMeta(join(s.runDir, 'checkpoints', 'best'));
    const learner = await Learner.load(s.runDir, { threads: 2 });
    const pred = await learner.predictSet(readManifest(file), { split: 'valid', batch: 8 });
    const want = chooseThreshold(positiveColumn(pred.probs, 2, 1), pred.labels, { kind: 'sensitivity', target: 0.8 });
    assert.ok(Math.abs(meta.threshold - want.threshold) < 1e-6, `${meta.threshold} vs ${want.threshold}`);
    const lines = formatThresholdSummary(s.threshold!);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /chosen by sensitivity:0\.8 on SOURCE-HELD-OUT validation/);
    // Trained in bf16, the rule still chooses on fp32 predictions, the ones every consumer computes: a
    // threshold set at one image's bf16 score would let that image (and its neighbours) fall below it.
    const b = await trainRun(
      resolveTrainConfig(
        {},
        {
          manifest: file,
          arch: 'resnet18',
          out: join(dir, 'held-bf16'),
          size: 32,
          batch: 8,
          epochs: 1,
          lrMax: 3e-3,
          threads: 2,
          precision: 'bf16',
          threshold: 'sensitivity:0.8',
        },
      ),
    );
    const metaB = await readCheckpointMeta(join(b.runDir, 'checkpoints', 'best'));
    const predB = await (await Learner.load(b.runDir, { threads: 2 })).predictSet(readManifest(file), {
      split: 'valid',
      batch: 8,
    });
    const wantB = chooseThreshold(positiveColumn(predB.probs, 2, 1), predB.labels, {
      kind: 'sensitivity',
      target: 0.8,
    });
    assert.ok(Math.abs(metaB.threshold - wantB.threshold) < 1e-6, `${metaB.threshold} vs ${wantB.threshold}`);
  },
);

test('trainThresholdChoice on hand-made predictions: youden, sensitivity:X, fixed, one class', () => {
  // Positives .9 .7 .4, negatives .6 .3 .2 .1. J at each score: .9 → 1/3; .7 → 2/3; .6 → 2/3 − 1/4;
  // .4 → 1 − 1/4 = .75 (the maximum); .3 → 1/2. Sensitivity 0.6: the highest threshold reaching it is .7 (2/3).
  const p = [0.9, 0.7, 0.4, 0.6, 0.3, 0.2, 0.1];
  const labels = Int32Array.from([1, 1, 1, 0, 0, 0, 0]);
  const pred = { epoch: 2, probs: Float64Array.from(p.flatMap((x) => [1 - x, x])), labels, numClasses: 2 };
  const sample = {
    manifest: '/m.csv',
    sha256: 'x',
    split: 'valid',
    protocol: { protocol: 'source-held-out' as const, why: 'held out' },
    sources: ['a'],
  };
  const y = trainThresholdChoice({ kind: 'youden' }, 0.5, pred, 2, 1, sample);
  assert.equal(y.threshold, (0.4 + 0.3) / 2); // halfway down to the next score: the same decisions
  const ev = (y.thresholdChoice as { evaluation: { sensitivity: unknown; specificity: unknown; protocol: string } })
    .evaluation;
  assert.deepEqual(ev.sensitivity, wilson(3, 3));
  assert.deepEqual(ev.specificity, wilson(3, 4));
  assert.equal(ev.protocol, 'source-held-out');
  assert.equal(
    trainThresholdChoice({ kind: 'sensitivity', target: 0.6 }, 0.5, pred, 2, 1, sample).threshold,
    (0.7 + 0.6) / 2,
  );
  // Fixed rule, or predictions of another epoch: the provisional threshold, no record.
  assert.deepEqual(trainThresholdChoice({ kind: 'fixed', value: 0.3 }, 0.3, pred, 2, 1, sample), { threshold: 0.3 });
  assert.deepEqual(trainThresholdChoice({ kind: 'youden' }, 0.5, pred, 1, 1, sample), { threshold: 0.5 });
  const one = trainThresholdChoice(
    { kind: 'youden' },
    0.5,
    { ...pred, labels: Int32Array.from([1, 1, 1, 1, 1, 1, 1]) },
    2,
    1,
    sample,
  );
  assert.equal(one.threshold, 0.5);
  assert.match(
    String((one.thresholdChoice as { unavailable: string }).unavailable),
    /7 positive and 0 other image\(s\): a threshold needs both; kept 0\.5/,
  );
  const t = thresholdSummaryOf(
    { threshold: one.threshold, ...(one.thresholdChoice ? { thresholdChoice: one.thresholdChoice } : {}) },
    'best',
    'youden',
  );
  assert.match(formatThresholdSummary(t)[0]!, /threshold 0\.5 \(rule youden could not choose: .*\) in best/);
  assert.deepEqual(formatThresholdSummary(thresholdSummaryOf({ threshold: 0.5 }, 'best', 0.5)), [
    'threshold 0.5 (fixed) in best',
  ]);
});

test("per source on a hand-made set: hand-computed sensitivity/specificity and each source's protocol", () => {
  // Source a (seen in training): positives .9 .6 .3, negatives .4 .2 → at .5: sens 2/3, spec 2/2.
  // Source b (not in training): positive .8, negatives .7 .1 → sens 1/1, spec 1/2.
  const p = [0.9, 0.6, 0.3, 0.4, 0.2, 0.8, 0.7, 0.1];
  const y = [1, 1, 1, 0, 0, 1, 0, 0];
  const src = ['a', 'a', 'a', 'a', 'a', 'b', 'b', 'b'];
  const evalRows = src.map((source) => ({ source, extra: {} as Record<string, string> }));
  const train = [
    { source: 'a', extra: {} },
    { source: 'c', extra: {} },
  ];
  const set = decideProtocol(evalRows, train, null);
  assert.equal(set.protocol, 'internal');
  const protocols = sourceProtocols(evalRows, train, null, set);
  const { rows } = scoreSet(Float64Array.from(p.flatMap((x) => [1 - x, x])), y, 2, { bootstrapIterations: 0 });
  const by = ratesBySource(rows, evalRows, 0.5, 1, protocols);
  assert.deepEqual(
    by.map((g) => [g.group, g.protocol, g.n, g.positives, g.negatives]),
    [
      ['a', 'internal', 5, 3, 2],
      ['b', 'source-held-out', 3, 1, 2],
    ],
  );
  assert.deepEqual(by[0]!.sensitivity, wilson(2, 3));
  assert.deepEqual(by[0]!.specificity, wilson(2, 2));
  assert.deepEqual(by[1]!.sensitivity, wilson(1, 1));
  assert.deepEqual(by[1]!.specificity, wilson(1, 2));
  assert.equal(by[1]!.specificity.value, 0.5);
  // A seen source whose --split-by groups were held out is source-held-out; an external set's sources are external.
  const loc = (source: string, location: string) => ({ source, extra: { location } });
  const held = sourceProtocols([loc('a', 'x'), loc('b', 'y')], [loc('a', 'z')], 'location', {
    protocol: 'source-held-out',
    why: '',
  });
  assert.deepEqual([held.get('a')!.protocol, held.get('b')!.protocol], ['source-held-out', 'source-held-out']);
  const ext = sourceProtocols([loc('d', 'x')], [loc('a', 'z')], null, {
    protocol: 'external',
    why: 'none fed training',
  });
  assert.equal(ext.get('d')!.protocol, 'external');
  // Training rows unknown: each source takes the set's (never more favourable than can be shown).
  assert.equal(sourceProtocols(evalRows, null, null, { protocol: 'internal', why: '' }).get('b')!.protocol, 'internal');
});

test(
  '--threshold: rules parse to the config, ' + 'calibrate-only rules and bad values are refused; --help documents them',
  () => {
    const thresholdArg = thresholdArgOf('train');
    assert.equal(thresholdArg('0.3'), 0.3);
    assert.equal(thresholdArg('YOUDEN'), 'youden');
    assert.equal(thresholdArg('sens:0.9'), 'sensitivity:0.9');
    assert.throws(
      () => thresholdArg('keep'),
      /'keep' is a calibrate rule; train takes youden, sensitivity:X, specificity:X or a number/,
    );
    assert.throws(() => thresholdArg('1.5'), /a fixed threshold must be in \[0, 1\]/);
    assert.throws(() => thresholdArg('sensitivity:0'), /target sensitivity must be in \(0, 1\]/);
    const base = { manifest, arch: 'resnet18' as const, out: join(dir, 'x') };
    assert.equal(resolveTrainConfig({ threshold: 'youden' }, base).validation.threshold, 'youden');
    assert.equal(resolveTrainConfig({}, base).validation.threshold, 0.5, 'the default stays the fixed 0.5');
    assert.throws(
      () => resolveTrainConfig({ threshold: 'mapped' }, base),
      /invalid threshold: 'mapped' is a calibrate rule/,
    );
    assert.throws(
      () => resolveTrainConfig({ threshold: 'best' }, base),
      /invalid threshold: unknown threshold rule 'best'/,
    );
    const program = new Command('cxrtune');
    registerTrainCommand(program);
    const help = program.commands.find((c) => c.name() === 'train')!.helpInformation();
    assert.match(help, /--threshold <rule>\s+decision threshold .*youden/s);
    assert.match(help, /sensitivity:X/);
  },
);
