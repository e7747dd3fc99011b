// Multinomial logistic regression with L2 regularisation on standardised features: the
// probe the shortcut audit fits on a network's penultimate features (which source?) and on
// provenance cues (which label?). Small and dependency-free on purpose: the npm options
// (ml-logistic-regression) fit one-vs-rest by plain gradient steps without a penalty or
// standardisation, and the audit needs a deterministic, convex fit it can cross-validate.
//
// Objective (K classes, weights W [K × d], biases b [K], bias not penalised):
//   mean_i −ln softmax(W z_i + b)[y_i]  +  (λ/2) ‖W‖²,   z = (x − mean) / sd (train statistics)
// minimised by Nesterov-accelerated gradient descent with step 1/L, L = λ + ½·λ_max(ZᵀZ/n)
// (the loss Hessian is bounded by ½ ZᵀZ/n ⊗ I; λ_max by power iteration). The problem is
// strongly convex (λ > 0 on W; b is pinned by the data unless a class is absent), so the
// minimiser is unique and the fit does not depend on the start.

export interface LogisticOptions {
  /** L2 strength λ on the weights (default 0.01, per mean-loss unit). */
  lambda?: number;
  /** Iteration cap (default 500). */
  maxIter?: number;
  /** Stop when the gradient's max-norm falls below this (default 1e-6). */
  tol?: number;
}

interface LogisticModel {
  classes: number;
  dims: number;
  mean: Float64Array;
  sd: Float64Array;
  /** [K × d] row-major, in standardised units. */
  weights: Float64Array;
  bias: Float64Array;
  iterations: number;
  converged: boolean;
}

/** Column means and (population) standard deviations; a constant column gets sd 1. */
export function standardiser(x: ArrayLike<number>, n: number, d: number): { mean: Float64Array; sd: Float64Array } {
  const mean = new Float64Array(d);
  const sd = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x[i * d + j]!;
  for (let j = 0; j < d; j++) mean[j] /= n;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) sd[j] += (x[i * d + j]! - mean[j]!) ** 2;
  for (let j = 0; j < d; j++) {
    const s = Math.sqrt(sd[j]! / n);
    sd[j] = s > 1e-12 ? s : 1;
  }
  return { mean, sd };
}

function standardise(x: ArrayLike<number>, n: number, d: number, mean: Float64Array, sd: Float64Array): Float64Array {
  const z = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) z[i * d + j] = (x[i * d + j]! - mean[j]!) / sd[j]!;
  return z;
}

/** Largest eigenvalue of ZᵀZ/n by power iteration (an upper-side estimate is fine: it sets the step). */
function gramMaxEigen(z: Float64Array, n: number, d: number): number {
  let v = new Float64Array(d).fill(1 / Math.sqrt(d));
  let lambda = 0;
  const u = new Float64Array(n);
  for (let it = 0; it < 50; it++) {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += z[i * d + j]! * v[j]!;
      u[i] = s;
    }
    const w = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) w[j] += z[i * d + j]! * u[i]!;
    let norm = 0;
    for (let j = 0; j < d; j++) norm += w[j]! * w[j]!;
    norm = Math.sqrt(norm);
    const next = norm / n;
    if (norm === 0) return 0;
    for (let j = 0; j < d; j++) w[j] /= norm;
    v = w;
    if (Math.abs(next - lambda) <= 1e-6 * next) return next * 1.02;
    lambda = next;
  }
  return lambda * 1.05;
}

/** Softmax probabilities [n × K] of standardised rows z under (W, b). */
function forward(
  z: Float64Array,
  n: number,
  d: number,
  K: number,
  W: Float64Array,
  b: Float64Array,
  out: Float64Array,
): void {
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let k = 0; k < K; k++) {
      let s = b[k]!;
      for (let j = 0; j < d; j++) s += W[k * d + j]! * z[i * d + j]!;
      out[i * K + k] = s;
      if (s > max) max = s;
    }
    let sum = 0;
    for (let k = 0; k < K; k++) sum += out[i * K + k] = Math.exp(out[i * K + k]! - max);
    for (let k = 0; k < K; k++) out[i * K + k]! /= sum;
  }
}

/**
 * Fits rows x [n × d] (row-major) to labels y in 0..K−1. K defaults to max(y)+1; classes
 * absent from y get probability → 0 (their bias falls without bound, capped by maxIter).
 */
export function fitLogistic(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  d: number,
  o: LogisticOptions & { classes?: number } = {},
): LogisticModel {
  const n = y.length;
  if (!(Number.isInteger(d) && d >= 1))
    throw new Error(`fitLogistic: feature count must be a positive integer (got ${d})`);
  if (x.length !== n * d) throw new Error(`fitLogistic: ${x.length} values for ${n} rows × ${d} features`);
  if (n < 2) throw new Error(`fitLogistic: need at least 2 rows (got ${n})`);
  let maxY = 0;
  for (let i = 0; i < n; i++) {
    const c = y[i]!;
    if (!(Number.isInteger(c) && c >= 0)) throw new Error(`fitLogistic: label ${c} at row ${i} is not a class index`);
    if (c > maxY) maxY = c;
  }
  const K = o.classes ?? maxY + 1;
  if (K < 2 || maxY >= K) throw new Error(`fitLogistic: need at least 2 classes and labels below ${K}`);
  const lambda = o.lambda ?? 0.01;
  if (!(lambda > 0)) throw new Error(`fitLogistic: lambda must be > 0 (got ${lambda})`);
  const maxIter = o.maxIter ?? 500;
  const tol = o.tol ?? 1e-6;
  const { mean, sd } = standardiser(x, n, d);
  const z = standardise(x, n, d, mean, sd);
  // Bias direction: Z has zero-mean columns, so the intercept's curvature (≤ ½) adds to L.
  const L = lambda + 0.5 * Math.max(gramMaxEigen(z, n, d), 1);
  const step = 1 / L;
  const W = new Float64Array(K * d);
  const b = new Float64Array(K);
  // Start the biases at the log class frequencies (the optimum without features).
  const freq = new Float64Array(K);
  for (let i = 0; i < n; i++) freq[y[i]!] += 1;
  for (let k = 0; k < K; k++) b[k] = Math.log(Math.max(freq[k]!, 0.5) / n);
  let Wp = W.slice();
  let bp = b.slice();
  const Wy = W.slice();
  const by = b.slice();
  const p = new Float64Array(n * K);
  const gW = new Float64Array(K * d);
  const gb = new Float64Array(K);
  let t = 1;
  let it = 0;
  let converged = false;
  for (; it < maxIter; it++) {
    // Gradient at the look-ahead point (Wy, by).
    forward(z, n, d, K, Wy, by, p);
    gW.fill(0);
    gb.fill(0);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < K; k++) {
        const r = (p[i * K + k]! - (y[i] === k ? 1 : 0)) / n;
        gb[k] += r;
        if (r !== 0) for (let j = 0; j < d; j++) gW[k * d + j] += r * z[i * d + j]!;
      }
    }
    let gmax = 0;
    for (let q = 0; q < K * d; q++) {
      gW[q] += lambda * Wy[q]!;
      gmax = Math.max(gmax, Math.abs(gW[q]!));
    }
    for (let k = 0; k < K; k++) gmax = Math.max(gmax, Math.abs(gb[k]!));
    if (gmax < tol) {
      W.set(Wy);
      b.set(by);
      converged = true;
      break;
    }
    Wp = W.slice();
    bp = b.slice();
    for (let q = 0; q < K * d; q++) W[q] = Wy[q]! - step * gW[q]!;
    for (let k = 0; k < K; k++) b[k] = by[k]! - step * gb[k]!;
    const tn = (1 + Math.sqrt(1 + 4 * t * t)) / 2;
    const mom = (t - 1) / tn;
    t = tn;
    for (let q = 0; q < K * d; q++) Wy[q] = W[q]! + mom * (W[q]! - Wp[q]!);
    for (let k = 0; k < K; k++) by[k] = b[k]! + mom * (b[k]! - bp[k]!);
  }
  return { classes: K, dims: d, mean, sd, weights: W, bias: b, iterations: it, converged };
}

/** Class probabilities [n × K] for raw rows x [n × d]. */
export function predictLogistic(m: LogisticModel, x: ArrayLike<number>): Float64Array {
  const d = m.dims;
  if (x.length % d !== 0) throw new Error(`predictLogistic: ${x.length} values are not rows of ${d} features`);
  const n = x.length / d;
  const z = standardise(x, n, d, m.mean, m.sd);
  const out = new Float64Array(n * m.classes);
  forward(z, n, d, m.classes, m.weights, m.bias, out);
  return out;
}
