// Paired comparison of two recipes trained with the same seeds (the paper's Table 3 as an
// ablation): for each seed s, Δ_s = a_s − b_s of one figure (an AUC, a sensitivity).
//
// Choices:
// - The interval is Student's t over seeds (n − 1 degrees of freedom): what varies between two
//   trainings of one recipe is the seed, and a clinic trains once, so the question is whether the
//   difference holds from seed to seed, not on one test set. Pairing by seed removes what the two
//   share (the data split, the test images, the first batch order).
// - 95 % only: the t quantiles are tabulated (two-sided 0.975 quantiles for 1–30 degrees of
//   freedom, e.g. Abramowitz & Stegun table 26.10); above 30 the normal's 1.96 is within 2 %.
// - Fewer than two seeds give no interval (NaN ends), never a made-up one.
import { Z95 } from './wilson.js';

/** t_{0.975, df} for df = 1..30. */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11,
  2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** Two-sided 95 % Student t quantile for `df` degrees of freedom. */
export function t95(df: number): number {
  if (!Number.isInteger(df) || df < 1)
    throw new Error(`t95: degrees of freedom must be a positive integer (got ${df})`);
  return df <= T975.length ? T975[df - 1]! : Z95;
}

export interface MeanSd {
  mean: number;
  /** Sample standard deviation (n − 1); NaN for one value. */
  sd: number;
  /** 95 % t interval of the mean; NaN ends below two values. */
  lo: number;
  hi: number;
  n: number;
}

/** Mean, sample sd and 95 % t interval of the mean; NaN values (a run without the figure) are left out. */
export function meanSd(values: readonly number[]): MeanSd {
  const v = values.filter((x) => !Number.isNaN(x));
  const n = v.length;
  if (n === 0) return { mean: NaN, sd: NaN, lo: NaN, hi: NaN, n };
  const mean = v.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, sd: NaN, lo: NaN, hi: NaN, n };
  const sd = Math.sqrt(v.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  const half = (t95(n - 1) * sd) / Math.sqrt(n);
  return { mean, sd, lo: mean - half, hi: mean + half, n };
}

export interface PairedDifference extends MeanSd {
  /** The per-seed differences a_s − b_s, in the order given. */
  differences: number[];
  /** Whether the interval excludes 0: 'a' or 'b' is better, or 'neither' (also when there is no interval). */
  verdict: 'a' | 'b' | 'neither';
}

/** a_s − b_s over the seeds both have (a NaN on either side drops that seed), with mean, sd and t interval. */
export function pairedDifference(a: readonly number[], b: readonly number[]): PairedDifference {
  if (a.length !== b.length) throw new Error(`pairedDifference: ${a.length} values against ${b.length}`);
  const differences: number[] = [];
  for (let i = 0; i < a.length; i++) if (!Number.isNaN(a[i]!) && !Number.isNaN(b[i]!)) differences.push(a[i]! - b[i]!);
  const m = meanSd(differences);
  const verdict = m.lo > 0 ? 'a' : m.hi < 0 ? 'b' : 'neither';
  return { ...m, differences, verdict };
}
