// Platt scaling (Platt 1999): the positive-class probability becomes σ(a·s + b), where
// s = ln(p / (1 − p)) is the model's log-odds (for two classes, the logit difference). Two
// parameters: a rescales the confidence like 1/T, b shifts it — the part a new hospital
// needs when its prevalence or its images move every score the same way.
//
// Fit: maximum likelihood of (a, b) by Newton's method with a backtracking line search on
// the cross-entropy (convex in (a, b); Lin, Lin & Weng 2007 for the numerics). Targets are
// Platt's smoothed ones by default, t₊ = (N₊ + 1)/(N₊ + 2) and t₋ = 1/(N₋ + 2): on a
// small site sample they keep a separable sample from sending a to infinity. `smooth: false`
// uses the 0/1 labels (plain logistic regression on s).

interface PlattOptions {
  /** Platt's smoothed targets (default true). */
  smooth?: boolean;
  maxIter?: number;
}

export interface PlattFit {
  a: number;
  b: number;
  /** Mean cross-entropy against the targets at (1, 0) (no change) and at the fit. */
  lossBefore: number;
  lossAfter: number;
  iterations: number;
  converged: boolean;
  targets: { positive: number; negative: number };
}

const EPS = 1e-12;

/** Log-odds of a probability, clamped to ±ln(1e12). */
export function logOdds(p: number): number {
  const q = Math.min(1 - EPS, Math.max(EPS, p));
  return Math.log(q / (1 - q));
}

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** ln(1 + e^x) without overflow. */
function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/** Mean cross-entropy of σ(a s + b) against targets t. */
function loss(s: ArrayLike<number>, t: ArrayLike<number>, a: number, b: number): number {
  let l = 0;
  for (let i = 0; i < s.length; i++) {
    const f = a * s[i]! + b;
    // −[t ln σ(f) + (1 − t) ln(1 − σ(f))] = softplus(f) − t f
    l += softplus(f) - t[i]! * f;
  }
  return l / s.length;
}

/**
 * Fits (a, b) on positive-class probabilities `pos` and binary outcomes `isPositive`.
 * Needs at least one positive and one negative.
 */
export function fitPlatt(pos: ArrayLike<number>, isPositive: ArrayLike<boolean>, o: PlattOptions = {}): PlattFit {
  const n = pos.length;
  if (n !== isPositive.length) throw new Error(`Platt scaling: ${n} probabilities but ${isPositive.length} labels`);
  let np = 0;
  for (let i = 0; i < n; i++) if (isPositive[i]) np++;
  const nn = n - np;
  if (np === 0 || nn === 0)
    throw new Error(`Platt scaling needs positives and negatives in the sample (got ${np} positive, ${nn} negative)`);
  const smooth = o.smooth ?? true;
  const tp = smooth ? (np + 1) / (np + 2) : 1;
  const tn = smooth ? 1 / (nn + 2) : 0;
  const s = new Float64Array(n);
  const t = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const p = pos[i]!;
    if (!(p >= 0 && p <= 1)) throw new Error(`Platt scaling: probability at row ${i} is outside [0, 1] (${p})`);
    s[i] = logOdds(p);
    t[i] = isPositive[i] ? tp : tn;
  }
  let a = 1;
  let b = 0;
  let cur = loss(s, t, a, b);
  const lossBefore = cur;
  const maxIter = o.maxIter ?? 100;
  let it = 0;
  let converged = false;
  for (; it < maxIter; it++) {
    // Gradient and Hessian of the mean loss in (a, b).
    let ga = 0,
      gb = 0,
      haa = 0,
      hab = 0,
      hbb = 0;
    for (let i = 0; i < n; i++) {
      const q = sigmoid(a * s[i]! + b);
      const r = q - t[i]!;
      const w = q * (1 - q);
      ga += r * s[i]!;
      gb += r;
      haa += w * s[i]! * s[i]!;
      hab += w * s[i]!;
      hbb += w;
    }
    ga /= n;
    gb /= n;
    haa /= n;
    hab /= n;
    hbb /= n;
    if (Math.max(Math.abs(ga), Math.abs(gb)) < 1e-10) {
      converged = true;
      break;
    }
    // Newton direction, with a tiny ridge so a flat direction does not blow up.
    const r = 1e-12;
    const det = (haa + r) * (hbb + r) - hab * hab;
    let da = -((hbb + r) * ga - hab * gb) / det;
    let db = -((haa + r) * gb - hab * ga) / det;
    if (!Number.isFinite(da) || !Number.isFinite(db)) {
      da = -ga;
      db = -gb;
    }
    let step = 1;
    let next = loss(s, t, a + da, b + db);
    while (next > cur + 1e-4 * step * (ga * da + gb * db) && step > 1e-10) {
      step /= 2;
      next = loss(s, t, a + step * da, b + step * db);
    }
    if (step <= 1e-10) {
      converged = true;
      break;
    } // no descent left: at the minimum to round-off
    a += step * da;
    b += step * db;
    cur = next;
  }
  return { a, b, lossBefore, lossAfter: cur, iterations: it, converged, targets: { positive: tp, negative: tn } };
}

/** σ(a · logit(p) + b). */
export function applyPlatt(p: number, a: number, b: number): number {
  return sigmoid(a * logOdds(p) + b);
}
