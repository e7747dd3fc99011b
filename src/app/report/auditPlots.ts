// Vega-Lite specs for the shortcut audit (audit.json → SVG, and the report's section): the
// AUC of each test with its 95 % interval against chance and the test's limit, and each
// source's sensitivity / specificity with Wilson intervals.
import type { VegaLiteSpec } from './plots.js';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
const COLORS = {
  domain: ['pass', 'warn', 'flag', 'n/a', 'reference'],
  range: ['#2ca02c', '#e6a100', '#d62728', '#999999', '#1f77b4'],
};

export interface AuditBar {
  test: string;
  value: number;
  lo: number;
  hi: number;
  verdict: string;
  /** The value above which the test flags (drawn as a tick), if any. */
  limit?: number;
}

/** One row per test: point estimate, interval, chance line at 0.5, limit ticks. */
export function auditAucSpec(bars: AuditBar[], title = 'Shortcut audit — AUC with 95 % intervals'): VegaLiteSpec {
  const values = bars
    .filter((b) => Number.isFinite(b.value))
    .map((b) => ({
      ...b,
      lo: Number.isFinite(b.lo) ? b.lo : b.value,
      hi: Number.isFinite(b.hi) ? b.hi : b.value,
      label: b.value.toFixed(3),
    }));
  const order = values.map((v) => v.test);
  const y = { field: 'test', type: 'nominal' as const, sort: order, title: null, axis: { labelLimit: 300 } };
  const x = { field: 'value', type: 'quantitative' as const, scale: { domain: [0, 1] }, title: 'AUC (0.5 = chance)' };
  const limits = values.filter((v) => v.limit !== undefined);
  return {
    $schema: SCHEMA,
    title: {
      text: title,
      subtitle:
        'a model that reads the lungs falls to 0.5 when they are removed; metadata-only near 0.5 = unconfounded set',
    },
    width: 420,
    height: Math.max(60, 34 * values.length),
    layer: [
      {
        data: { values: [{ v: 0.5 }] },
        mark: { type: 'rule', color: '#888', strokeDash: [4, 4] },
        encoding: { x: { field: 'v', type: 'quantitative', scale: { domain: [0, 1] } } },
      },
      {
        data: { values },
        mark: { type: 'rule', strokeWidth: 2 },
        encoding: {
          y,
          x: { field: 'lo', type: 'quantitative', scale: { domain: [0, 1] }, title: 'AUC (0.5 = chance)' },
          x2: { field: 'hi' },
          color: { field: 'verdict', type: 'nominal', scale: COLORS, title: 'verdict', legend: { orient: 'bottom' } },
        },
      },
      {
        data: { values },
        mark: { type: 'point', filled: true, size: 90 },
        encoding: { y, x, color: { field: 'verdict', type: 'nominal', scale: COLORS } },
      },
      { data: { values }, mark: { type: 'text', dy: -11, fontSize: 11 }, encoding: { y, x, text: { field: 'label' } } },
      ...(limits.length
        ? [
            {
              data: { values: limits },
              mark: { type: 'tick', color: '#d62728', thickness: 2, size: 16 },
              encoding: { y, x: { field: 'limit', type: 'quantitative', scale: { domain: [0, 1] } } },
            },
          ]
        : []),
    ],
  } as VegaLiteSpec;
}

export interface SourceBar {
  source: string;
  metric: 'sensitivity' | 'specificity';
  value: number;
  lo: number;
  hi: number;
  n: number;
}

/** Sensitivity (on each source's positives) and specificity (on its negatives), Wilson intervals. */
export function perSourceSpec(
  bars: SourceBar[],
  title = 'Per source — sensitivity and specificity (95 % Wilson)',
): VegaLiteSpec {
  const values = bars
    .filter((b) => Number.isFinite(b.value))
    .map((b) => ({ ...b, row: `${b.source} — ${b.metric} (n ${b.n})` }));
  const y = {
    field: 'row',
    type: 'nominal' as const,
    sort: values.map((v) => v.row),
    title: null,
    axis: { labelLimit: 300 },
  };
  const x = { field: 'value', type: 'quantitative' as const, scale: { domain: [0, 1] }, title: 'proportion' };
  const color = {
    field: 'metric',
    type: 'nominal' as const,
    scale: { domain: ['sensitivity', 'specificity'], range: ['#d62728', '#1f77b4'] },
    legend: { orient: 'bottom' as const },
  };
  return {
    $schema: SCHEMA,
    title,
    width: 420,
    height: Math.max(60, 26 * values.length),
    data: { values },
    layer: [
      {
        mark: { type: 'rule', strokeWidth: 2 },
        encoding: {
          y,
          x: { field: 'lo', type: 'quantitative', scale: { domain: [0, 1] }, title: 'proportion' },
          x2: { field: 'hi' },
          color,
        },
      },
      { mark: { type: 'point', filled: true, size: 70 }, encoding: { y, x, color } },
    ],
  } as VegaLiteSpec;
}
