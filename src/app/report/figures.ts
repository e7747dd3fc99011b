// How the report writes an evaluation's numbers: each at the precision it supports. A figure with
// an interval gets the decimals that show the interval's width to two significant digits (never
// more than the report's usual 3 for AUC, 1 for a percentage); a threshold, compared with a
// probability, gets 3 significant digits; a set of one class says what it can measure.
import type { Summary } from '../../recipe/metrics.js';
import type { Interval } from './html.js';

/** Decimals that show `width` to two significant digits, between 0 and `max`. */
export function decimalsFor(width: number, max: number): number {
  if (!(width > 0) || !Number.isFinite(width)) return max;
  return Math.min(max, Math.max(0, 1 - Math.floor(Math.log10(width))));
}

/** "0.81 (0.65–0.93)", or with `percent` "93 % (81–98)": a figure and its interval, at the interval's precision. */
export function intervalText(x: Interval, o: { percent?: boolean } = {}): string {
  if (!Number.isFinite(x.value)) return 'n/a';
  const k = o.percent ? 100 : 1;
  const unit = o.percent ? ' %' : '';
  const max = o.percent ? 1 : 3;
  if (!Number.isFinite(x.lo) || !Number.isFinite(x.hi)) return `${(k * x.value).toFixed(max)}${unit}`;
  const d = decimalsFor(k * (x.hi - x.lo), max);
  const f = (v: number) => (k * v).toFixed(d);
  return `${f(x.value)}${unit} (${f(x.lo)}–${f(x.hi)})`;
}

/** A proportion as a percentage with its Wilson interval; '—' when no row could count towards it. */
export function rateText(p: Interval & { den: number }): string {
  return p.den ? intervalText(p, { percent: true }) : '—';
}

/** A decision threshold: 3 significant digits (0.5934655070304871 → 0.593). */
export function thresholdText(t: number): string {
  return Number.isFinite(t) ? String(Number(t.toPrecision(3))) : 'n/a';
}

/** What a set of one class can measure, or null when it holds both. */
export function oneClassText(
  m: Pick<Summary, 'positives' | 'negatives' | 'sensitivity' | 'specificity'>,
): string | null {
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const only = (n: number, what: string, measured: string, rate: Interval & { den: number }, unmeasured: string) =>
    `one class only (${plural(n, what)}): ${measured} ${rateText(rate)}; AUC and ${unmeasured} need both classes`;
  if (m.positives > 0 && m.negatives === 0)
    return only(m.positives, 'positive', 'sensitivity', m.sensitivity, 'specificity');
  if (m.negatives > 0 && m.positives === 0)
    return only(m.negatives, 'negative', 'specificity', m.specificity, 'sensitivity');
  return null;
}

/** The AUC with its interval, or why a set cannot have one. */
export function aucText(m: Pick<Summary, 'positives' | 'negatives' | 'auc'>): string {
  return m.positives > 0 && m.negatives > 0 ? intervalText(m.auc) : 'needs both classes';
}
