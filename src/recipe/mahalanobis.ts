// The distance of an image's pooled features to a model's training images: a Gaussian fitted to the
// training features, its covariance shrunk towards a multiple of the identity (Ledoit & Wolf 2004,
// the closed-form intensity scikit-learn's ledoit_wolf uses), the distance Mahalanobis' under it
// (Lee et al. 2018 use the same class of score for out-of-distribution inputs).
//
// Choices:
// - Shrinkage, because a model's penultimate features have more dimensions (MobileNetV2 1280,
//   ResNet-50 2048) than a clinic has training images: the sample covariance is singular then.
// - Stored in low-rank form, because a browser must read it too: the k leading eigenvectors of the
//   shrunk covariance with their variances, and one variance for the rest of the space (the mean of
//   the remaining shrunk eigenvalues, probabilistic PCA's form). With k = the sample's rank it is
//   exactly the Ledoit-Wolf Mahalanobis distance (the rest of the space then has variance ρ·μ).
// - The eigen-decomposition runs on the n×n Gram matrix when n ≤ D (same non-zero spectrum).
import { symmetricEigen } from './symmetricEigen.js';

export interface ShrunkGaussian {
  /** Feature dimension D. */
  dim: number;
  /** Images it was fitted on. */
  n: number;
  mean: number[];
  /** Ledoit-Wolf intensity ρ in [0, 1]: Σ = (1 − ρ) S + ρ (tr S / D) I. */
  shrinkage: number;
  /** k×D row-major: the leading eigenvectors of Σ (orthonormal). */
  components: number[];
  /** Σ's variance along each component (k values, descending). */
  variances: number[];
  /** Σ's mean variance over the D − k directions the components leave out. */
  residualVariance: number;
}

/** Fits the shrunk Gaussian to n feature rows (row-major n×D), keeping at most maxComponents directions. */
export function fitShrunkGaussian(x: ArrayLike<number>, n: number, D: number, maxComponents = 256): ShrunkGaussian {
  if (!(Number.isInteger(n) && n >= 2)) throw new Error(`a feature Gaussian needs at least 2 images (got ${n})`);
  if (x.length !== n * D) throw new Error(`features hold ${x.length} values, not ${n}×${D}`);
  const mean = new Float64Array(D);
  for (let i = 0; i < n; i++) for (let j = 0; j < D; j++) mean[j] = mean[j]! + x[i * D + j]!;
  for (let j = 0; j < D; j++) mean[j] = mean[j]! / n;
  const xc = new Float64Array(n * D);
  let sumNorm4 = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < D; j++) {
      const v = x[i * D + j]! - mean[j]!;
      if (!Number.isFinite(v)) throw new Error(`feature ${j} of image ${i} is not a finite number`);
      xc[i * D + j] = v;
      s += v * v;
    }
    sumNorm4 += s * s;
  }
  const { values, vectors } = sampleSpectrum(xc, n, D);
  let trace = 0;
  let frob2 = 0;
  for (const l of values) {
    trace += l;
    frob2 += l * l;
  }
  const mu = trace / D;
  const delta = (frob2 - (trace * trace) / D) / D;
  const beta = Math.min(delta, Math.max(0, (sumNorm4 - n * frob2) / (n * n * D)));
  const shrinkage = delta > 0 ? beta / delta : 1;
  const rank = values.filter((l) => l > 1e-12 * Math.max(trace, Number.MIN_VALUE)).length;
  const k = Math.min(maxComponents, rank, D);
  const variances = Array.from(values.subarray(0, k), (l) => (1 - shrinkage) * l + shrinkage * mu);
  let kept = 0;
  for (let i = 0; i < k; i++) kept += values[i]!;
  const residualVariance = D > k ? ((1 - shrinkage) * Math.max(0, trace - kept)) / (D - k) + shrinkage * mu : 0;
  return {
    dim: D,
    n,
    mean: Array.from(mean),
    shrinkage,
    components: Array.from(vectors.subarray(0, k * D)),
    variances,
    residualVariance,
  };
}

/** Eigenvalues (descending) and unit eigenvectors (rows of D) of S = XcᵀXc / n. */
function sampleSpectrum(xc: Float64Array, n: number, D: number): { values: Float64Array; vectors: Float64Array } {
  if (D <= n) {
    const s = new Float64Array(D * D);
    for (let i = 0; i < n; i++)
      for (let a = 0; a < D; a++) {
        const va = xc[i * D + a]!;
        if (va === 0) continue;
        for (let b = a; b < D; b++) s[a * D + b] = s[a * D + b]! + va * xc[i * D + b]!;
      }
    for (let a = 0; a < D; a++)
      for (let b = a; b < D; b++) {
        const v = s[a * D + b]! / n;
        s[a * D + b] = v;
        s[b * D + a] = v;
      }
    const e = symmetricEigen(s, D);
    return { values: e.values.map((l) => Math.max(0, l)), vectors: e.vectors };
  }
  // Gram route: K/n = Xc Xcᵀ / n shares S's non-zero eigenvalues; v = Xcᵀ u / √(n λ).
  const g = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let c = 0; c < D; c++) s += xc[i * D + c]! * xc[j * D + c]!;
      g[i * n + j] = s / n;
      g[j * n + i] = s / n;
    }
  const e = symmetricEigen(g, n);
  const values = e.values.map((l) => Math.max(0, l));
  const vectors = new Float64Array(n * D);
  for (let k = 0; k < n; k++) {
    const l = values[k]!;
    if (!(l > 0)) continue;
    const scale = 1 / Math.sqrt(n * l);
    for (let i = 0; i < n; i++) {
      const u = e.vectors[k * n + i]! * scale;
      if (u === 0) continue;
      for (let c = 0; c < D; c++) vectors[k * D + c] = vectors[k * D + c]! + u * xc[i * D + c]!;
    }
  }
  return { values, vectors };
}

/** Mahalanobis distance of one feature vector (D values) under the fitted Gaussian. */
export function mahalanobisDistance(g: ShrunkGaussian, f: ArrayLike<number>): number {
  const D = g.dim;
  if (f.length !== D) throw new Error(`a feature vector of ${f.length} values, the Gaussian has ${D}`);
  const d = new Float64Array(D);
  let norm2 = 0;
  for (let j = 0; j < D; j++) {
    d[j] = f[j]! - g.mean[j]!;
    norm2 += d[j]! * d[j]!;
  }
  let q = 0;
  let inPlane = 0;
  for (let k = 0; k < g.variances.length; k++) {
    let p = 0;
    for (let j = 0; j < D; j++) p += g.components[k * D + j]! * d[j]!;
    q += (p * p) / g.variances[k]!;
    inPlane += p * p;
  }
  if (D > g.variances.length && g.residualVariance > 0) q += Math.max(0, norm2 - inPlane) / g.residualVariance;
  return Math.sqrt(q);
}
