// k-fold cross-validation of the audit's logistic probes: folds are grouped (all rows of a
// patient fall in one fold, so a probe never scores an image of a patient it was fitted on)
// and stratified (each class's groups are dealt round-robin over the folds in a seeded
// order, so every fold sees every class in about its share). Standardisation statistics are
// fitted on each training fold only (fitLogistic does that), so no fold leaks into its test.
import { Rng } from '../util/rng.js';
import { fitLogistic, predictLogistic, type LogisticOptions } from './logisticRegression.js';

/**
 * Fold (0..k−1) of each row. A group's class is its first row's class; groups are shuffled
 * per class with the seed and dealt round-robin, continuing the deal across classes so the
 * fold sizes stay within one group of each other.
 */
export function groupedFolds(y: ArrayLike<number>, groups: readonly string[], k: number, seed = 0): Int32Array {
  const n = y.length;
  if (groups.length !== n) throw new Error(`groupedFolds: ${groups.length} groups for ${n} rows`);
  if (!(Number.isInteger(k) && k >= 2)) throw new Error(`groupedFolds: k must be an integer ≥ 2 (got ${k})`);
  const classOf = new Map<string, number>();
  for (let i = 0; i < n; i++) if (!classOf.has(groups[i]!)) classOf.set(groups[i]!, y[i]!);
  const byClass = new Map<number, string[]>();
  for (const [g, c] of classOf) byClass.set(c, [...(byClass.get(c) ?? []), g]);
  const rng = Rng.derive(seed, 'cv-folds');
  const foldOf = new Map<string, number>();
  let next = 0;
  for (const c of [...byClass.keys()].sort((a, b) => a - b)) {
    for (const g of rng.shuffle([...byClass.get(c)!].sort())) foldOf.set(g, next++ % k);
  }
  return Int32Array.from(groups, (g) => foldOf.get(g)!);
}

interface CrossValidated {
  /** Out-of-fold class probabilities [n × K]: each row scored by the probe fitted without its fold. */
  probs: Float64Array;
  classes: number;
  folds: number;
  /** Rows whose arg-max matches y. */
  correct: number;
  /** Folds whose fit stopped at the iteration cap. */
  unconverged: number;
}

/**
 * Cross-validated probabilities of a logistic probe: x [n × d], y in 0..K−1, one group per
 * row (patients). k is lowered to the number of groups when there are fewer.
 */
export function crossValidate(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  d: number,
  groups: readonly string[],
  o: LogisticOptions & { k?: number; seed?: number } = {},
): CrossValidated {
  const n = y.length;
  let K = 0;
  for (let i = 0; i < n; i++) K = Math.max(K, y[i]! + 1);
  if (K < 2) throw new Error('crossValidate: the target has a single class; nothing to predict');
  const k = Math.min(o.k ?? 5, new Set(groups).size);
  if (k < 2) throw new Error('crossValidate: need at least 2 groups (patients) to cross-validate');
  const fold = groupedFolds(y, groups, k, o.seed ?? 0);
  const probs = new Float64Array(n * K);
  let unconverged = 0;
  for (let f = 0; f < k; f++) {
    const train: number[] = [];
    const test: number[] = [];
    for (let i = 0; i < n; i++) (fold[i] === f ? test : train).push(i);
    if (!test.length) continue;
    const pick = (rows: number[]) => {
      const out = new Float64Array(rows.length * d);
      rows.forEach((r, q) => {
        for (let j = 0; j < d; j++) out[q * d + j] = x[r * d + j]!;
      });
      return out;
    };
    const ty = Int32Array.from(train, (r) => y[r]!);
    const m = fitLogistic(pick(train), ty, d, { ...o, classes: K });
    if (!m.converged) unconverged++;
    const p = predictLogistic(m, pick(test));
    test.forEach((r, q) => {
      for (let c = 0; c < K; c++) probs[r * K + c] = p[q * K + c]!;
    });
  }
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < K; c++) if (probs[i * K + c]! > probs[i * K + best]!) best = c;
    if (best === y[i]) correct++;
  }
  return { probs, classes: K, folds: k, correct, unconverged };
}
