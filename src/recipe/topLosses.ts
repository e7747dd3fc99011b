// Top losses (the paper's Fig. 9): the rows the model gets most wrong, by cross-entropy
// loss −ln p(actual), highest first. Ties keep row order. p(actual) is clamped to 1e-12
// before the log (the loss of a hard zero is then 27.6, not Infinity, so rows still sort and
// serialise). The predicted class is the arg-max, or, for two classes and a given threshold,
// positive when p(positive) >= threshold (the model's decision threshold).

interface LossRow {
  /** Row index in the evaluated set. */
  row: number;
  actual: number;
  predicted: number;
  /** Probability the model gave the actual class. */
  probActual: number;
  /** Probability of the predicted class. */
  probPredicted: number;
  loss: number;
}

interface TopLossOptions {
  /** Return at most k rows (default: all). */
  k?: number;
  /** Binary only: decision threshold on p(positiveClass). */
  threshold?: number;
  positiveClass?: number;
  /** Only rows whose prediction is wrong. */
  wrongOnly?: boolean;
}

const EPS = 1e-12;

/** `probs` is [N, numClasses] row-major (PredictResult.probs); labels are class indices. */
export function topLosses(
  probs: ArrayLike<number>,
  numClasses: number,
  labels: ArrayLike<number>,
  opts: TopLossOptions = {},
): LossRow[] {
  if (!Number.isInteger(numClasses) || numClasses < 2)
    throw new Error(`topLosses: numClasses must be an integer >= 2, got ${numClasses}`);
  if (probs.length !== labels.length * numClasses) {
    throw new Error(`topLosses: ${probs.length} probabilities for ${labels.length} rows of ${numClasses} classes`);
  }
  const pc = opts.positiveClass ?? 1;
  if (opts.threshold !== undefined) {
    if (numClasses !== 2) throw new Error('topLosses: a threshold applies to two classes only');
    if (!(opts.threshold >= 0 && opts.threshold <= 1))
      throw new Error(`topLosses: threshold must be in [0, 1], got ${opts.threshold}`);
    if (pc !== 0 && pc !== 1) throw new Error(`topLosses: positiveClass must be 0 or 1, got ${pc}`);
  }
  const k = opts.k ?? labels.length;
  if (!Number.isInteger(k) || k < 0) throw new Error(`topLosses: k must be a non-negative integer, got ${k}`);
  const rows: LossRow[] = [];
  for (let i = 0; i < labels.length; i++) {
    const actual = labels[i]!;
    if (!Number.isInteger(actual) || actual < 0 || actual >= numClasses) {
      throw new Error(`topLosses: label at row ${i} is not a class index in [0, ${numClasses}) (${actual})`);
    }
    const o = i * numClasses;
    let predicted = 0;
    if (opts.threshold !== undefined) {
      predicted = probs[o + pc]! >= opts.threshold ? pc : 1 - pc;
    } else {
      for (let c = 1; c < numClasses; c++) if (probs[o + c]! > probs[o + predicted]!) predicted = c;
    }
    const probActual = probs[o + actual]!;
    if (!(probActual >= 0 && probActual <= 1))
      throw new Error(`topLosses: probability at row ${i} is not in [0, 1] (${probActual})`);
    if (opts.wrongOnly && predicted === actual) continue;
    rows.push({
      row: i,
      actual,
      predicted,
      probActual,
      probPredicted: probs[o + predicted]!,
      loss: -Math.log(Math.max(probActual, EPS)),
    });
  }
  rows.sort((a, b) => b.loss - a.loss || a.row - b.row);
  return rows.slice(0, k);
}
