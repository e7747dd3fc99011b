// Figures for more than two classes (COVID-19 / other pneumonia / normal): the C × C confusion
// matrix at arg-max, and per class its sensitivity (recall), PPV and specificity with Wilson
// intervals and its one-vs-rest AUC with the stratified bootstrap interval.
//
// Choices:
// - Decisions are the arg-max class (ties to the lower index): a threshold is a two-class notion.
// - No resamples asked (bootstrap 0): the AUC without an interval (NaN ends).
// - One-vs-rest AUC ranks images by the class's own probability, class against all others, the
//   usual reading for a screening question ("is it this class?"); the macro mean is their average.
import { auc, bootstrapAuc, type AucInterval, type BootstrapOptions } from './roc.js';
import { wilson, type Proportion } from './wilson.js';

export interface ClassFigures {
  class: number;
  /** Images of this class. */
  support: number;
  sensitivity: Proportion;
  ppv: Proportion;
  specificity: Proportion;
  auc: AucInterval;
}

export interface MultiClassSummary {
  numClasses: number;
  /** confusion[actual][predicted]. */
  confusion: number[][];
  accuracy: Proportion;
  perClass: ClassFigures[];
  /** Mean of the classes' one-vs-rest AUCs (NaN where a class is absent). */
  macroAuc: number;
}

/** The AUC without resamples: an interval of NaN ends, recorded as 0 iterations. */
function pointAuc(scores: Float64Array, labels: ArrayLike<number>, c: number, seed: number): AucInterval {
  const value = auc(scores, labels, c);
  return { value, lo: NaN, hi: NaN, level: 0.95, iterations: 0, seed, method: 'stratified percentile bootstrap' };
}

/** The arg-max class of each row (ties to the lower index). */
export function argMax(probs: ArrayLike<number>, numClasses: number): Int32Array {
  if (!Number.isInteger(numClasses) || numClasses < 2 || probs.length % numClasses !== 0)
    throw new Error(`multiClass: ${probs.length} probabilities do not form rows of ${numClasses} classes`);
  const n = probs.length / numClasses;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < numClasses; c++) if (probs[i * numClasses + c]! > probs[i * numClasses + best]!) best = c;
    out[i] = best;
  }
  return out;
}

export function summarizeMultiClass(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  numClasses: number,
  opts: Omit<BootstrapOptions, 'positiveClass'> = {},
): MultiClassSummary {
  const predicted = argMax(probs, numClasses);
  const n = predicted.length;
  if (labels.length !== n) throw new Error(`multiClass: ${n} rows of probabilities but ${labels.length} labels`);
  const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    if (!Number.isInteger(y) || y < 0 || y >= numClasses)
      throw new Error(`multiClass: label at row ${i} is not one of the ${numClasses} classes (${y})`);
    confusion[y]![predicted[i]!]!++;
  }
  let correct = 0;
  for (let c = 0; c < numClasses; c++) correct += confusion[c]![c]!;
  const perClass: ClassFigures[] = [];
  for (let c = 0; c < numClasses; c++) {
    const tp = confusion[c]![c]!;
    const support = confusion[c]!.reduce((a, b) => a + b, 0);
    const calledC = confusion.reduce((a, row) => a + row[c]!, 0);
    const negatives = n - support;
    const tn = negatives - (calledC - tp);
    const column = new Float64Array(n);
    for (let i = 0; i < n; i++) column[i] = probs[i * numClasses + c]!;
    perClass.push({
      class: c,
      support,
      sensitivity: wilson(tp, support),
      ppv: wilson(tp, calledC),
      specificity: wilson(tn, negatives),
      auc:
        opts.iterations === 0
          ? pointAuc(column, labels, c, opts.seed ?? 0)
          : bootstrapAuc(column, labels, { ...opts, positiveClass: c }),
    });
  }
  const macroAuc = perClass.reduce((a, f) => a + f.auc.value, 0) / numClasses;
  return { numClasses, confusion, accuracy: wilson(correct, n), perClass, macroAuc };
}
