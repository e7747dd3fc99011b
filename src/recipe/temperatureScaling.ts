// Temperature scaling (Guo et al. 2017): one scalar T > 0 divides every logit,
// p = softmax(z / T). It changes the confidence, never the ranking nor the arg-max, so AUC and
// accuracy stay; only calibration (ECE, NLL) moves. A checkpoint gives probabilities, and
// softmax is unchanged by a per-row constant, so z = ln p is a valid set of logits.
//
// Fit: minimise the mean negative log-likelihood over β = 1/T. NLL(β) = mean_i
// [ln Σ_k exp(β z_ik) − β z_iy] is convex in β (a log-sum-exp of linear functions), with
// NLL'(β) = mean_i (E_pβ[z_i] − z_iy) and NLL''(β) = mean_i Var_pβ(z_i) ≥ 0, so Newton's
// method from β = 1, kept inside a bracket by bisection, finds the unique minimum. β is
// bounded to [1e-3, 1e3] (T in [1e-3, 1e3]): on a perfectly separated sample the NLL keeps
// falling as β grows, and the bound is the answer there (reported as `atBound`).

export interface TemperatureFit {
  temperature: number;
  /** Mean NLL at T = 1 and at the fitted T. */
  nllBefore: number;
  nllAfter: number;
  iterations: number;
  /** The minimum lies at (or beyond) a bound of [1e-3, 1e3]: the sample is separated. */
  atBound: boolean;
}

const BETA_MIN = 1e-3;
const BETA_MAX = 1e3;
const EPS = 1e-12;

/** Logits ln p for [n × C] probabilities (clamped at 1e-12). */
export function logitsOfProbs(probs: ArrayLike<number>): Float64Array {
  const z = new Float64Array(probs.length);
  for (let i = 0; i < probs.length; i++) z[i] = Math.log(Math.max(probs[i]!, EPS));
  return z;
}

/** Mean NLL and its first two derivatives in β, for logits z [n × C]. */
export function temperatureNll(
  z: ArrayLike<number>,
  labels: ArrayLike<number>,
  C: number,
  beta: number,
): { nll: number; d1: number; d2: number } {
  const n = labels.length;
  let nll = 0;
  let d1 = 0;
  let d2 = 0;
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let k = 0; k < C; k++) max = Math.max(max, beta * z[i * C + k]!);
    let s = 0;
    let ez = 0;
    let ez2 = 0;
    for (let k = 0; k < C; k++) {
      const zk = z[i * C + k]!;
      const e = Math.exp(beta * zk - max);
      s += e;
      ez += e * zk;
      ez2 += e * zk * zk;
    }
    ez /= s;
    ez2 /= s;
    const zy = z[i * C + labels[i]!]!;
    nll += max + Math.log(s) - beta * zy;
    d1 += ez - zy;
    d2 += Math.max(0, ez2 - ez * ez);
  }
  return { nll: nll / n, d1: d1 / n, d2: d2 / n };
}

function check(probs: ArrayLike<number>, labels: ArrayLike<number>, C: number, what: string): void {
  if (!(Number.isInteger(C) && C >= 2)) throw new Error(`${what}: need at least 2 classes (got ${C})`);
  if (probs.length !== labels.length * C)
    throw new Error(`${what}: ${probs.length} probabilities for ${labels.length} rows × ${C} classes`);
  if (labels.length < 2) throw new Error(`${what}: need at least 2 labelled images (got ${labels.length})`);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    if (!(Number.isInteger(y) && y >= 0 && y < C))
      throw new Error(`${what}: label ${y} at row ${i} is not a class index below ${C}`);
  }
}

/** The temperature minimising the NLL of softmax(ln p / T) on (probs [n × C], labels). */
export function fitTemperature(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  numClasses: number,
): TemperatureFit {
  check(probs, labels, numClasses, 'temperature scaling');
  const z = logitsOfProbs(probs);
  const f = (b: number) => temperatureNll(z, labels, numClasses, b);
  let lo = BETA_MIN;
  let hi = BETA_MAX;
  // Every row scores its classes alike (e.g. p = 0.5 everywhere): the NLL is flat in β, keep T = 1.
  if (f(1).d2 === 0) return done(1, 0, false);
  // Still falling at the upper bound (or flat there to round-off): the sample is separated.
  if (f(hi).d1 <= 0) return done(BETA_MAX, 0, true);
  if (f(lo).d1 > 0) return done(BETA_MIN, 0, true);
  let beta = 1;
  let it = 0;
  for (; it < 100; it++) {
    const { d1, d2 } = f(beta);
    if (Math.abs(d1) < 1e-10) break;
    if (d1 > 0) hi = beta;
    else lo = beta;
    let next = d2 > 0 ? beta - d1 / d2 : NaN;
    if (!(next > lo && next < hi)) next = Math.sqrt(lo * hi); // bisect (in log space) when Newton leaves the bracket
    if (Math.abs(next - beta) <= 1e-12 * beta) {
      beta = next;
      break;
    }
    beta = next;
  }
  return done(beta, it, false);

  function done(b: number, iterations: number, atBound: boolean): TemperatureFit {
    return { temperature: 1 / b, nllBefore: f(1).nll, nllAfter: f(b).nll, iterations, atBound };
  }
}

/** softmax(ln p / T) per row of [n × C] probabilities. */
export function applyTemperature(probs: ArrayLike<number>, numClasses: number, temperature: number): Float32Array {
  if (!(temperature > 0 && Number.isFinite(temperature)))
    throw new Error(`temperature must be a finite number > 0 (got ${temperature})`);
  const C = numClasses;
  const out = new Float32Array(probs.length);
  const n = probs.length / C;
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let k = 0; k < C; k++) max = Math.max(max, Math.log(Math.max(probs[i * C + k]!, EPS)) / temperature);
    let s = 0;
    for (let k = 0; k < C; k++)
      s += out[i * C + k] = Math.exp(Math.log(Math.max(probs[i * C + k]!, EPS)) / temperature - max);
    for (let k = 0; k < C; k++) out[i * C + k]! /= s;
  }
  return out;
}
