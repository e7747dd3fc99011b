// Quantiles of a sample, in the two definitions the project reports. Metrics and their bootstrap
// intervals interpolate between order statistics (R's type 7, numpy's default); latency
// percentiles take the nearest rank, so a p95 is a latency some request really had.

/** Type-7 quantile of values already sorted ascending, q in [0, 1]; NaN for no values. */
export function linearQuantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const h = (sorted.length - 1) * q;
  const i = Math.floor(h);
  const j = Math.min(i + 1, sorted.length - 1);
  return sorted[i]! + (h - i) * (sorted[j]! - sorted[i]!);
}

/** Type-7 quantile (linear interpolation between order statistics), q in [0, 1]; NaN for no values. */
export function linearQuantile(values: ArrayLike<number>, q: number): number {
  return linearQuantileSorted(Float64Array.from(values).sort(), q);
}

/** Nearest-rank quantile: the smallest value with at least q of the sample at or below it; NaN for no values. */
export function nearestRankQuantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) return NaN;
  const s = Float64Array.from(values).sort();
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}
