// Wilson score interval for a binomial proportion (Wilson 1927; Newcombe 1998, method 3).
// Chosen over the Wald interval because it stays inside [0, 1] and keeps its coverage at
// the small counts and extreme proportions clinical test sets have (e.g. 103/108).

/** z for a two-sided 95 % interval (Φ⁻¹(0.975)). */
export const Z95 = 1.959963984540054;

export interface Proportion {
  /** num/den (NaN when den = 0). */
  value: number;
  /** Wilson interval; [0, 1] when den = 0 (nothing known). */
  lo: number;
  hi: number;
  num: number;
  den: number;
}

export function wilson(num: number, den: number, z = Z95): Proportion {
  if (!Number.isInteger(num) || !Number.isInteger(den) || num < 0 || den < 0 || num > den) {
    throw new Error(`wilson: need integers 0 <= num <= den, got ${num}/${den}`);
  }
  if (!(z > 0) || !Number.isFinite(z)) throw new Error(`wilson: z must be a finite number > 0, got ${z}`);
  if (den === 0) return { value: NaN, lo: 0, hi: 1, num, den };
  const p = num / den;
  const z2 = z * z;
  const denom = 1 + z2 / den;
  const centre = (p + z2 / (2 * den)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / den + z2 / (4 * den * den));
  // Exact ends at 0 and den (the formula gives them up to round-off).
  const lo = num === 0 ? 0 : Math.max(0, centre - half);
  const hi = num === den ? 1 : Math.min(1, centre + half);
  return { value: p, lo, hi, num, den };
}
