// The one decision-threshold rule (recipe/threshold.ts): its grammar, the choice on a sample
// worked out by hand, keep/mapped, the decision, and model.json's record read back; and the
// one --threshold option every command declares (cli/thresholdOption.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import {
  chooseThreshold,
  decideClass,
  formatThresholdRule,
  isPositive,
  parseThresholdRule,
  resolveThreshold,
  THRESHOLD_FORMS,
  thresholdEvaluation,
  thresholdForms,
  thresholdRecordOf,
  type ThresholdChoice,
} from '../../src/recipe/threshold.js';
import { wilson } from '../../src/recipe/wilson.js';
import { thresholdArg, thresholdOption } from '../../src/cli/thresholdOption.js';
import { registerEvaluateCommand } from '../../src/cli/evaluateCommand.js';
import { registerCalibrateCommand } from '../../src/cli/calibrateCommand.js';
import { registerTrainCommand } from '../../src/cli/trainCommand.js';

// Eight scores, four positives. At a threshold t every score >= t is called positive:
//   t    TP FP  sensitivity specificity  J
//   .9   1  0   .25         1            .25
//   .8   2  0   .5          1            .5
//   .7   2  1   .5          .75          .25
//   .6   3  1   .75         .75          .5
//   .5   3  2   .75         .5           .25
//   .4   4  2   1           .5           .5
//   .3   4  3   1           .25          .25
//   .2   4  4   1           0            0
const pos = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2];
const y = [1, 1, 0, 1, 0, 1, 0, 0];

test('parse: every form of the grammar, case and blanks aside; format reads back to the same rule', () => {
  const cases: [string, unknown, string][] = [
    ['youden', { kind: 'youden' }, 'youden'],
    ['  YOUDEN ', { kind: 'youden' }, 'youden'],
    ['sensitivity:0.95', { kind: 'sensitivity', target: 0.95 }, 'sensitivity:0.95'],
    ['sens:0.9', { kind: 'sensitivity', target: 0.9 }, 'sensitivity:0.9'],
    ['specificity:0.9', { kind: 'specificity', target: 0.9 }, 'specificity:0.9'],
    ['Spec:1', { kind: 'specificity', target: 1 }, 'specificity:1'],
    ['0.35', { kind: 'fixed', value: 0.35 }, '0.35'],
    ['0', { kind: 'fixed', value: 0 }, '0'],
    ['1', { kind: 'fixed', value: 1 }, '1'],
    ['keep', { kind: 'keep' }, 'keep'],
    ['mapped', { kind: 'mapped' }, 'mapped'],
  ];
  for (const [text, rule, canonical] of cases) {
    assert.deepEqual(parseThresholdRule(text), rule, text);
    assert.equal(formatThresholdRule(parseThresholdRule(text)), canonical, text);
    assert.deepEqual(parseThresholdRule(canonical), rule, `${text} round trip`);
  }
});

test('parse: bad input names the fault and the accepted forms of the command', () => {
  assert.throws(
    () => parseThresholdRule('best'),
    (e: Error) =>
      e.message ===
      "unknown threshold rule 'best' (youden, sensitivity:X, specificity:X, a number in [0, 1], keep or mapped)",
  );
  assert.throws(() => parseThresholdRule(''), /unknown threshold rule ''/);
  assert.throws(() => parseThresholdRule('sensitivity:0'), /the target sensitivity must be in \(0, 1\]/);
  assert.throws(() => parseThresholdRule('sensitivity:'), /unknown threshold rule 'sensitivity:'/);
  assert.throws(() => parseThresholdRule('specificity:1.5'), /the target specificity must be in \(0, 1\]/);
  assert.throws(() => parseThresholdRule('1.2'), /a fixed threshold must be in \[0, 1\]/);
  assert.throws(() => parseThresholdRule('-0.1'), /a fixed threshold must be in \[0, 1\]/);
  assert.throws(
    () => parseThresholdRule('keep', THRESHOLD_FORMS.train, 'train'),
    /^Error: 'keep' is a calibrate rule; train takes youden, sensitivity:X, specificity:X or a number in \[0, 1\]$/,
  );
  assert.throws(
    () => parseThresholdRule('mapped', THRESHOLD_FORMS.evaluate, 'evaluate'),
    /'mapped' is a calibrate rule; evaluate takes keep, youden, sensitivity:X, specificity:X or a number in \[0, 1\]/,
  );
  assert.throws(
    () => parseThresholdRule('nope', THRESHOLD_FORMS.train, 'train'),
    /unknown threshold rule 'nope' \(youden, sensitivity:X, specificity:X or a number in \[0, 1\]\)/,
  );
  assert.equal(thresholdForms(['youden']), 'youden');
  assert.equal(thresholdForms(['youden', 'keep']), 'youden or keep');
});

test('choose on the hand-worked table: Youden (ties: the highest threshold), sensitivity and specificity', () => {
  // J = .5 at .8, .6 and .4: the most specific, .8.
  // Each threshold halfway down to the next lower score: the same decisions, with a margin.
  assert.deepEqual(chooseThreshold(pos, y, { kind: 'youden' }), {
    threshold: 0.75,
    sensitivity: 0.5,
    specificity: 1,
    j: 0.5,
  });
  // The highest threshold whose sensitivity reaches the target.
  assert.deepEqual(chooseThreshold(pos, y, { kind: 'sensitivity', target: 0.75 }), {
    threshold: (0.6 + 0.5) / 2,
    sensitivity: 0.75,
    specificity: 0.75,
    j: 0.5,
  });
  assert.equal(chooseThreshold(pos, y, { kind: 'sensitivity', target: 0.7 }).threshold, (0.6 + 0.5) / 2);
  assert.equal(chooseThreshold(pos, y, { kind: 'sensitivity', target: 1 }).threshold, (0.4 + 0.3) / 2);
  assert.equal(chooseThreshold(pos, y, { kind: 'sensitivity', target: 0.25 }).threshold, (0.9 + 0.8) / 2);
  // The lowest threshold whose specificity reaches the target.
  assert.deepEqual(chooseThreshold(pos, y, { kind: 'specificity', target: 0.75 }), {
    threshold: (0.6 + 0.5) / 2,
    sensitivity: 0.75,
    specificity: 0.75,
    j: 0.5,
  });
  assert.equal(chooseThreshold(pos, y, { kind: 'specificity', target: 1 }).threshold, 0.75);
  assert.equal(chooseThreshold(pos, y, { kind: 'specificity', target: 0.5 }).threshold, (0.4 + 0.3) / 2);
  assert.equal(chooseThreshold(pos, y, { kind: 'specificity', target: 0.2 }).threshold, (0.3 + 0.2) / 2);
  // The lowest score chosen: 1e-6 below it.
  assert.equal(chooseThreshold([0.9, 0.2], [1, 1], { kind: 'sensitivity', target: 1 }).threshold, 0.2 - 1e-6);
  // Positive class 0: the same images positive, their label now 0.
  const y0 = y.map((v) => 1 - v);
  assert.equal(chooseThreshold(pos, y0, { kind: 'youden' }, 0).threshold, 0.75);
  // The top score is a negative's: no observed threshold has specificity 1.
  assert.throws(
    () => chooseThreshold([0.9, 0.1], [0, 1], { kind: 'specificity', target: 1 }),
    /no observed score reaches specificity 1/,
  );
  assert.throws(() => chooseThreshold([0.9, 0.1], [1, 1], { kind: 'specificity', target: 0.9 }), /needs negative rows/);
  assert.throws(() => chooseThreshold(pos, y, { kind: 'keep' }), /'keep' does not choose from a sample/);
});

test('resolve: fixed, keep, mapped through temperature and Platt, sample rules', () => {
  assert.equal(resolveThreshold({ kind: 'fixed', value: 0.3 }, {}), 0.3);
  assert.equal(resolveThreshold({ kind: 'keep' }, { current: 0.42 }), 0.42);
  assert.throws(() => resolveThreshold({ kind: 'keep' }, {}), /'keep' needs the checkpoint's threshold/);
  // Temperature 2: σ(logit(.8) / 2) = σ(ln 4 / 2) = σ(ln 2) = 2/3.
  const t = { method: 'temperature' as const, parameters: { temperature: 2 } };
  assert.ok(Math.abs(resolveThreshold({ kind: 'mapped' }, { current: 0.5, raw: 0.8, calibration: t }) - 2 / 3) < 1e-12);
  // Without a raw threshold on record, the current one is the raw one.
  assert.ok(Math.abs(resolveThreshold({ kind: 'mapped' }, { current: 0.8, calibration: t }) - 2 / 3) < 1e-12);
  // Platt a = 1, b = ln 3: σ(logit(.5) + ln 3) = σ(ln 3) = 3/4.
  const p = { method: 'platt' as const, parameters: { a: 1, b: Math.log(3) } };
  assert.ok(Math.abs(resolveThreshold({ kind: 'mapped' }, { raw: 0.5, calibration: p }) - 0.75) < 1e-12);
  assert.throws(() => resolveThreshold({ kind: 'mapped' }, { current: 0.5 }), /needs a calibration/);
  assert.equal(resolveThreshold({ kind: 'youden' }, { current: 0.5, sample: { pos, labels: y } }), 0.75);
  assert.equal(resolveThreshold({ kind: 'specificity', target: 0.5 }, { sample: { pos, labels: y } }), (0.4 + 0.3) / 2);
  assert.throws(() => resolveThreshold({ kind: 'youden' }, { current: 0.5 }), /'youden' needs a labelled sample/);
});

test('apply: at or above the threshold is positive; below it, the most probable other class', () => {
  assert.equal(isPositive(0.5, 0.5), true);
  assert.equal(isPositive(0.4999, 0.5), false);
  assert.equal(isPositive(0, 0), true, 'threshold 0 calls everything positive');
  assert.equal(decideClass([0.2, 0.5, 0.3], 1, 0.5), 1);
  assert.equal(decideClass([0.2, 0.45, 0.35], 1, 0.5), 2);
  assert.equal(decideClass([0.35, 0.45, 0.2], 1, 0.5), 0);
  assert.equal(decideClass([0.7, 0.3], 1, 0.5), 0);
  assert.equal(decideClass([0.6, 0.4], 0, 0.7), 1, 'positive class 0 below its threshold');
  assert.equal(decideClass([0.6, 0.4], 0, 0.6), 0);
});

test("the record: a train choice round-trips through model.json; calibrate's and none read too", () => {
  const evaluation = thresholdEvaluation(
    { kind: 'youden' },
    { protocol: 'source-held-out', why: 'validation sources never trained on' },
    { n: 8, positives: 4, negatives: 4 },
    { value: 0.8125, lo: 0.5, hi: 1, level: 0.95, iterations: 10, seed: 0, method: 'stratified percentile bootstrap' },
    { sensitivity: wilson(2, 4), specificity: wilson(4, 4) },
    0.125,
  );
  assert.equal(evaluation.note, 'threshold chosen on this same sample: its sensitivity/specificity are optimistic');
  assert.deepEqual(evaluation.auc, { value: 0.8125, lo: 0.5, hi: 1 });
  const choice: ThresholdChoice = {
    rule: 'youden',
    value: 0.8,
    calibrated: false,
    created: '2026-01-02T03:04:05.000Z',
    chosenBy: 'train',
    epoch: 3,
    chosenOn: {
      manifest: 'data/manifest.csv',
      sha256: 'ab',
      split: 'valid',
      n: 8,
      positives: 4,
      negatives: 4,
      by: 'source',
      sources: ['a', 'b'],
    },
    evaluation,
  };
  const disk = JSON.parse(JSON.stringify({ threshold: 0.8, thresholdChoice: choice }));
  const r = thresholdRecordOf(disk);
  assert.equal(r.value, 0.8);
  assert.deepEqual(r.rule, { kind: 'youden' });
  assert.deepEqual(r.choice, choice);

  // As `cxrtune calibrate` wrote it (no chosenBy), with a calibrate-only rule.
  const cal = thresholdRecordOf({
    threshold: 0.5,
    thresholdChoice: { rule: 'keep', value: 0.5, calibrated: true, created: 'x' },
  });
  assert.deepEqual([cal.rule, cal.choice?.calibrated, cal.choice?.chosenBy], [{ kind: 'keep' }, true, undefined]);
  // No record (a fixed threshold, or a checkpoint from before the record): the value is the rule.
  assert.deepEqual(thresholdRecordOf({ threshold: 0.35 }), {
    value: 0.35,
    rule: { kind: 'fixed', value: 0.35 },
    choice: null,
  });
  assert.throws(
    () => thresholdRecordOf({ threshold: 1.5 }),
    /^Error: model\.json: threshold 1\.5 is not a number in \[0, 1\]$/,
  );
  assert.throws(
    () => thresholdRecordOf({ threshold: 0.5, thresholdChoice: { rule: 'best' } }, 'runs/m/model.json'),
    /^Error: runs\/m\/model\.json: thresholdChoice: unknown threshold rule 'best'/,
  );
  assert.throws(
    () => thresholdRecordOf({ threshold: 0.5, thresholdChoice: { value: 1 } }),
    /thresholdChoice has no rule/,
  );
});

test('--threshold: one parser and one help text for train, calibrate and evaluate, each with its forms', () => {
  assert.equal(thresholdArg('train')('0.3'), 0.3);
  assert.equal(thresholdArg('evaluate')('Specificity:0.9'), 'specificity:0.9');
  assert.equal(thresholdArg('calibrate')('mapped'), 'mapped');
  assert.equal(thresholdArg('evaluate')('keep'), 'keep');
  assert.throws(() => thresholdArg('train')('mapped'), /'mapped' is a calibrate rule; train takes/);
  const program = new Command('cxrtune');
  registerTrainCommand(program);
  registerCalibrateCommand(program);
  registerEvaluateCommand(program);
  const help = (name: string) =>
    program.commands
      .find((c) => c.name() === name)!
      .helpInformation()
      .replace(/\s+/g, ' ');
  for (const name of ['train', 'calibrate', 'evaluate']) {
    assert.match(help(name), /--threshold <rule> decision threshold on the positive probability: youden|keep/);
    assert.match(help(name), /specificity:X \(the most sensitive threshold reaching specificity X\)/, name);
  }
  assert.doesNotMatch(help('train'), /mapped/);
  assert.match(help('calibrate'), /mapped \(the same decisions as before calibration\)/);
  assert.match(help('evaluate'), /default: keep, the checkpoint's/);
  assert.doesNotMatch(help('evaluate'), /--target-sensitivity/);
  assert.equal(
    thresholdOption('evaluate', { where: 'x', byDefault: 'y' }).description,
    [
      "decision threshold on the positive probability: keep (the checkpoint's threshold)",
      'youden (max sensitivity + specificity − 1)',
      'sensitivity:X (the most specific threshold reaching sensitivity X)',
      'specificity:X (the most sensitive threshold reaching specificity X)',
      'a number in [0, 1]; a rule is chosen on x and recorded with its value (default: y)',
    ].join(' | '),
  );
});

test('evaluate: a bad --threshold and the former --target-sensitivity are refused, naming flag and form', async () => {
  const run = async (...args: string[]) => {
    const program = new Command('cxrtune').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    registerEvaluateCommand(program);
    try {
      await program.parseAsync(['evaluate', '--model', 'm', '--manifest', 'm.csv', '--out', 'o', ...args], {
        from: 'user',
      });
    } catch (e) {
      return (e as Error).message;
    }
    return 'accepted';
  };
  assert.equal(
    await run('--target-sensitivity', '0.9'),
    "error: option '--target-sensitivity <s>' argument '0.9' is invalid. " +
      '--target-sensitivity is replaced: use --threshold sensitivity:0.9 ' +
      '(the threshold reaching it on this set; metrics.json keeps atTargetSensitivity)',
  );
  assert.equal(
    await run('--threshold', 'mapped'),
    "error: option '--threshold <rule>' argument 'mapped' is invalid. " +
      "'mapped' is a calibrate rule; evaluate takes keep, youden, sensitivity:X, specificity:X or a number in [0, 1]",
  );
  assert.match(await run('--threshold', '2'), /--threshold <rule>.*a fixed threshold must be in \[0, 1\]/);
});
