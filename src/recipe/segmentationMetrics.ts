// Overlap and boundary metrics of binary masks (row-major, non-zero = foreground), and a
// patient-cluster bootstrap interval for their mean.
//
// HD95 follows MONAI's compute_hausdorff_distance(percentile=95): the edge of a mask is the
// mask minus its erosion (4-neighbourhood, outside the image counts as background);
// directed distances go from each edge pixel of one mask to the nearest edge pixel of the
// other (exact Euclidean distance transform); HD95 = max of the two directed 95th
// percentiles, in pixels. NaN when either mask is empty.
import { Rng } from '../util/rng.js';
import { BOOTSTRAP_RESAMPLES } from './bootstrap.js';
import { linearQuantile, linearQuantileSorted } from './quantile.js';

export function dice(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const { inter, sa, sb } = overlap(a, b);
  return sa + sb === 0 ? 1 : (2 * inter) / (sa + sb);
}

export function iou(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const { inter, sa, sb } = overlap(a, b);
  const union = sa + sb - inter;
  return union === 0 ? 1 : inter / union;
}

function overlap(a: ArrayLike<number>, b: ArrayLike<number>) {
  if (a.length !== b.length) throw new Error(`masks differ in size (${a.length} vs ${b.length} pixels)`);
  let inter = 0,
    sa = 0,
    sb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ? 1 : 0,
      y = b[i] ? 1 : 0;
    sa += x;
    sb += y;
    inter += x & y;
  }
  return { inter, sa, sb };
}

/** Edge pixels: foreground with a 4-neighbour that is background or outside the image. */
export function edges(m: ArrayLike<number>, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (!m[i]) continue;
      if (x === 0 || y === 0 || x === w - 1 || y === h - 1 || !m[i - 1] || !m[i + 1] || !m[i - w] || !m[i + w])
        out[i] = 1;
    }
  return out;
}

/** Squared Euclidean distance of every pixel to the nearest non-zero pixel (Felzenszwalb–Huttenlocher). */
export function squaredDistanceTransform(m: ArrayLike<number>, w: number, h: number): Float64Array {
  const INF = 1e20;
  const d = new Float64Array(w * h);
  for (let i = 0; i < d.length; i++) d[i] = m[i] ? 0 : INF;
  const n = Math.max(w, h);
  const f = new Float64Array(n),
    g = new Float64Array(n),
    z = new Float64Array(n + 1);
  const v = new Int32Array(n);
  const pass = (len: number) => {
    let k = 0;
    v[0] = 0;
    z[0] = -Infinity;
    z[1] = Infinity;
    for (let q = 1; q < len; q++) {
      let s = (f[q]! + q * q - (f[v[k]!]! + v[k]! * v[k]!)) / (2 * q - 2 * v[k]!);
      while (s <= z[k]!) {
        k--;
        s = (f[q]! + q * q - (f[v[k]!]! + v[k]! * v[k]!)) / (2 * q - 2 * v[k]!);
      }
      k++;
      v[k] = q;
      z[k] = s;
      z[k + 1] = Infinity;
    }
    k = 0;
    for (let q = 0; q < len; q++) {
      while (z[k + 1]! < q) k++;
      g[q] = (q - v[k]!) ** 2 + f[v[k]!]!;
    }
  };
  for (let x = 0; x < w; x++) {
    for (let y = 0; y < h; y++) f[y] = d[y * w + x]!;
    pass(h);
    for (let y = 0; y < h; y++) d[y * w + x] = g[y]!;
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) f[x] = d[y * w + x]!;
    pass(w);
    for (let x = 0; x < w; x++) d[y * w + x] = g[x]!;
  }
  return d;
}

export function hausdorff95(a: ArrayLike<number>, b: ArrayLike<number>, w: number, h: number): number {
  if (a.length !== w * h || b.length !== w * h) throw new Error(`masks must hold ${w}×${h} pixels`);
  const ea = edges(a, w, h),
    eb = edges(b, w, h);
  const directed = (from: Uint8Array, to: Uint8Array) => {
    const dt = squaredDistanceTransform(to, w, h);
    const ds: number[] = [];
    for (let i = 0; i < from.length; i++) if (from[i]) ds.push(Math.sqrt(dt[i]!));
    return linearQuantile(ds, 0.95);
  };
  const ab = directed(ea, eb),
    ba = directed(eb, ea);
  return Number.isNaN(ab) || Number.isNaN(ba) ? NaN : Math.max(ab, ba);
}

export interface MeanInterval {
  mean: number;
  lo: number;
  hi: number;
  n: number;
  patients: number;
}

/**
 * Mean of `values` with a 95 % percentile-bootstrap interval that resamples patients (clusters),
 * not images, so several images of one patient do not narrow it. NaNs are left out.
 */
export function bootstrapMean(
  values: number[],
  patients: string[],
  opts: { resamples?: number; seed?: number } = {},
): MeanInterval {
  const byPatient = new Map<string, number[]>();
  values.forEach((v, i) => {
    if (Number.isNaN(v)) return;
    const k = patients[i]!;
    (byPatient.get(k) ?? byPatient.set(k, []).get(k)!).push(v);
  });
  const groups = [...byPatient.values()];
  const all = groups.flat();
  const mean = all.reduce((a, b) => a + b, 0) / (all.length || NaN);
  if (groups.length < 2) return { mean, lo: NaN, hi: NaN, n: all.length, patients: groups.length };
  const rng = new Rng(opts.seed ?? 1);
  const B = opts.resamples ?? BOOTSTRAP_RESAMPLES;
  const means = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    let s = 0,
      n = 0;
    for (let k = 0; k < groups.length; k++) {
      const g = groups[Math.floor(rng.next() * groups.length)]!;
      for (const v of g) {
        s += v;
        n++;
      }
    }
    means[b] = s / n;
  }
  means.sort();
  const lo = linearQuantileSorted(means, 0.025);
  return { mean, lo, hi: linearQuantileSorted(means, 0.975), n: all.length, patients: groups.length };
}
