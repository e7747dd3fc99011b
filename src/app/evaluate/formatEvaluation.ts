// An evaluation's printout: one paragraph of its headline numbers, for the CLI and the demo.
import type { MultiClassSummary } from '../../recipe/multiClass.js';
import type { Evaluation } from './evaluationRecord.js';
import { protocolLabel } from './protocol.js';

/** One paragraph of the headline numbers (CLI and demo output). */
export function formatEvaluation(e: Evaluation): string {
  const m = e.metrics;
  const pct = (p: { value: number; lo: number; hi: number }) =>
    Number.isFinite(p.value)
      ? `${(100 * p.value).toFixed(1)} % (${(100 * p.lo).toFixed(1)}–${(100 * p.hi).toFixed(1)})`
      : 'n/a';
  const c = m.confusion;
  const rate = (p: { value: number; lo: number; hi: number; num: number; den: number }) =>
    p.den
      ? `${(100 * p.value).toFixed(1)} % (${(100 * p.lo).toFixed(1)}–${(100 * p.hi).toFixed(1)}, ${p.num}/${p.den})`
      : '—';
  // The rule is named when it is not the checkpoint's value or the number given.
  const rule = e.model.thresholdRule;
  const ruleText = rule && rule !== 'keep' && rule !== String(m.threshold) ? ` (rule ${rule})` : '';
  const posName = e.model.classes[e.model.positiveClass];
  const counts = `${m.n} images (${m.positives} ${posName}, ${m.negatives} other)`;
  return [
    ...(e.protocol ? [`[${protocolLabel(e.protocol.protocol)}] ${e.protocol.why}`] : []),
    `${e.name}: ${counts}, threshold ${Number(m.threshold.toFixed(4))}${ruleText}`,
    ...(e.model.thresholdNote ? [`  note: ${e.model.thresholdNote}`] : []),
    `  TP ${c.tp}  FN ${c.fn}  TN ${c.tn}  FP ${c.fp}`,
    `  accuracy    ${pct(m.accuracy)}`,
    `  sensitivity ${pct(m.sensitivity)}`,
    `  specificity ${pct(m.specificity)}`,
    `  PPV ${pct(m.ppv)}   NPV ${pct(m.npv)}   F1 ${Number.isFinite(m.f1) ? m.f1.toFixed(3) : 'n/a'}`,
    '  AUC         ' +
      (Number.isFinite(m.auc.value)
        ? `${m.auc.value.toFixed(3)} (${m.auc.lo.toFixed(3)}–${m.auc.hi.toFixed(3)}, bootstrap)`
        : 'n/a') +
      `   ECE ${m.calibration.ece.toFixed(3)}`,
    ...(m.youden
      ? [
          `  Youden threshold ${m.youden.threshold.toFixed(3)}: sensitivity ` +
            `${(100 * m.youden.sensitivity).toFixed(1)} %, specificity ` +
            `${(100 * m.youden.specificity).toFixed(1)} %`,
        ]
      : []),
    ...(m.positives === 0 || m.negatives === 0
      ? [
          `  one class only (${m.positives ? `${m.positives} ${posName}` : `${m.negatives} other`}): ` +
            `${m.positives ? 'sensitivity' : 'specificity'} is the figure this set can give; ` +
            'AUC and the other rate need both classes',
        ]
      : []),
    ...((e.bySource ?? []).length
      ? [
          `  per source at threshold ${Number(m.threshold.toFixed(4))}:`,
          ...e.bySource.map(
            (g) =>
              `    ${g.group.padEnd(20)} ${(g.protocol ? `[${protocolLabel(g.protocol)}]` : '').padEnd(17)} ` +
              `n ${String(g.n).padEnd(5)} sensitivity ${rate(g.sensitivity).padEnd(28)} specificity ` +
              `${rate(g.specificity)}`,
          ),
        ]
      : []),
    ...(e.multiClass ? multiClassLines(e.multiClass, e.model.classes, pct) : []),
    `  patients vs training split: ${e.overlap.note}`,
  ].join('\n');
}

/** More than two classes: accuracy, per-class figures at arg-max, one-vs-rest AUCs and the confusion matrix. */
function multiClassLines(
  mc: MultiClassSummary,
  classes: string[],
  pct: (p: { value: number; lo: number; hi: number }) => string,
): string[] {
  const w = Math.max(9, ...classes.map((c) => c.length));
  const auc = (a: { value: number; lo: number; hi: number }) =>
    Number.isFinite(a.value) ? `${a.value.toFixed(3)} (${a.lo.toFixed(3)}–${a.hi.toFixed(3)})` : 'n/a';
  return [
    `  ${mc.numClasses} classes at arg-max: accuracy ${pct(mc.accuracy)}, macro one-vs-rest AUC ` +
      `${Number.isFinite(mc.macroAuc) ? mc.macroAuc.toFixed(3) : 'n/a'}`,
    ...mc.perClass.map(
      (f) =>
        `    ${classes[f.class]!.padEnd(w)} n ${String(f.support).padEnd(5)} sensitivity ${pct(f.sensitivity)}  ` +
        `PPV ${pct(f.ppv)}  specificity ${pct(f.specificity)}  AUC ${auc(f.auc)}`,
    ),
    `  confusion (rows actual, columns predicted): ${classes.map((c) => c.padStart(w)).join(' ')}`,
    ...mc.confusion.map(
      (row, i) => `    ${classes[i]!.padEnd(w)} ${' '.repeat(37)}${row.map((v) => String(v).padStart(w)).join(' ')}`,
    ),
  ];
}
