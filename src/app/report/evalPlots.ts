// Vega-Lite specs for the evaluation figures (rendered by plots.ts' renderSvg): confusion
// matrix (Fig. 8), ROC, precision–recall, reliability and the "where does it look" histogram.
// The training figures are trainingPlots.ts.
import type { Calibration, Confusion, PrPoint, RocPoint } from '../../recipe/metrics.js';
import type { VegaLiteSpec } from './plots.js';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
const fin = (x: number) => Number.isFinite(x);

/** 2×2 confusion matrix, rows = actual, columns = predicted, counts and row shares. */
export function confusionSpec(cm: Confusion, classes: [string, string], title = 'Confusion matrix'): VegaLiteSpec {
  const [neg, pos] = classes;
  const cells = [
    { actual: pos, predicted: pos, n: cm.tp, what: 'TP' },
    { actual: pos, predicted: neg, n: cm.fn, what: 'FN' },
    { actual: neg, predicted: pos, n: cm.fp, what: 'FP' },
    { actual: neg, predicted: neg, n: cm.tn, what: 'TN' },
  ].map((c) => {
    const row = c.actual === pos ? cm.tp + cm.fn : cm.tn + cm.fp;
    return {
      ...c,
      label: `${c.what} ${c.n}${row ? ` (${((100 * c.n) / row).toFixed(1)} %)` : ''}`,
      share: row ? c.n / row : 0,
    };
  });
  const x = {
    field: 'predicted',
    type: 'nominal' as const,
    sort: [neg, pos],
    title: 'predicted',
    axis: { labelAngle: 0 },
  };
  const y = { field: 'actual', type: 'nominal' as const, sort: [neg, pos], title: 'actual' };
  return {
    $schema: SCHEMA,
    title,
    width: 260,
    height: 220,
    data: { values: cells },
    layer: [
      {
        mark: 'rect',
        encoding: {
          x,
          y,
          color: { field: 'share', type: 'quantitative', scale: { domain: [0, 1], scheme: 'blues' }, legend: null },
        },
      },
      {
        mark: { type: 'text', fontSize: 15 },
        encoding: {
          x,
          y,
          text: { field: 'label' },
          color: { condition: { test: 'datum.share > 0.5', value: 'white' }, value: 'black' },
        },
      },
    ],
  } as VegaLiteSpec;
}

export function rocSpec(
  roc: RocPoint[],
  auc: { value: number; lo: number; hi: number },
  op?: { fpr: number; tpr: number; label: string }[],
  title = 'ROC curve',
): VegaLiteSpec {
  const pts = roc.filter((p) => fin(p.fpr) && fin(p.tpr)).map((p) => ({ fpr: p.fpr, tpr: p.tpr }));
  const sub = `AUC ${auc.value.toFixed(3)}${fin(auc.lo) ? ` (95 % CI ${auc.lo.toFixed(3)}–${auc.hi.toFixed(3)})` : ''}`;
  const x = {
    field: 'fpr',
    type: 'quantitative' as const,
    title: '1 − specificity (false positive rate)',
    scale: { domain: [0, 1] },
  };
  const y = {
    field: 'tpr',
    type: 'quantitative' as const,
    title: 'sensitivity (true positive rate)',
    scale: { domain: [0, 1] },
  };
  return {
    $schema: SCHEMA,
    title: { text: title, subtitle: sub },
    width: 300,
    height: 300,
    layer: [
      {
        data: {
          values: [
            { fpr: 0, tpr: 0 },
            { fpr: 1, tpr: 1 },
          ],
        },
        mark: { type: 'line', color: '#bbb', strokeDash: [4, 4] },
        encoding: { x, y },
      },
      {
        data: { values: pts },
        mark: { type: 'line', interpolate: 'step-after', color: '#1f77b4' },
        encoding: { x, y, order: { field: 'fpr' } },
      },
      ...(op?.length
        ? [
            {
              data: { values: op },
              mark: { type: 'point', filled: true, size: 80, color: '#d62728' },
              encoding: { x, y },
            },
            {
              data: { values: op },
              mark: { type: 'text', align: 'left', dx: 7, dy: 10, color: '#d62728' },
              encoding: { x, y, text: { field: 'label' } },
            },
          ]
        : []),
    ],
  } as VegaLiteSpec;
}

export function prSpec(pr: PrPoint[], ap: number, prevalence: number, title = 'Precision–recall'): VegaLiteSpec {
  const pts = [
    { recall: 0, precision: pr[0]?.precision ?? 1 },
    ...pr.filter((p) => fin(p.recall) && fin(p.precision)).map((p) => ({ recall: p.recall, precision: p.precision })),
  ];
  const x = {
    field: 'recall',
    type: 'quantitative' as const,
    title: 'recall (sensitivity)',
    scale: { domain: [0, 1] },
  };
  const y = { field: 'precision', type: 'quantitative' as const, title: 'precision (PPV)', scale: { domain: [0, 1] } };
  return {
    $schema: SCHEMA,
    title: {
      text: title,
      subtitle: `average precision ${fin(ap) ? ap.toFixed(3) : 'n/a'}; prevalence ${(100 * prevalence).toFixed(1)} %`,
    },
    width: 300,
    height: 300,
    layer: [
      {
        data: {
          values: [
            { recall: 0, precision: prevalence },
            { recall: 1, precision: prevalence },
          ],
        },
        mark: { type: 'line', color: '#bbb', strokeDash: [4, 4] },
        encoding: { x, y },
      },
      {
        data: { values: pts },
        mark: { type: 'line', interpolate: 'step-before', color: '#9467bd' },
        encoding: { x, y, order: { field: 'recall' } },
      },
    ],
  } as VegaLiteSpec;
}

/**
 * Reliability diagram: observed vs mean predicted per bin (point size = count) over the diagonal, plus a count
 * histogram.
 */
export function reliabilitySpec(cal: Calibration, title = 'Reliability'): VegaLiteSpec {
  const bins = cal.bins.map((b) => ({
    mid: (b.lo + b.hi) / 2,
    lo: b.lo,
    hi: b.hi,
    count: b.count,
    pred: b.meanPredicted,
    obs: b.observed,
  }));
  const used = bins.filter((b) => b.count > 0);
  const what = cal.mode === 'positive' ? 'fraction positive' : 'accuracy';
  const pred = cal.mode === 'positive' ? 'mean predicted P(positive)' : 'mean confidence';
  return {
    $schema: SCHEMA,
    title: {
      text: title,
      subtitle: `ECE ${cal.ece.toFixed(3)}, MCE ${cal.mce.toFixed(3)} (${cal.bins.length} bins, ${cal.mode})`,
    },
    vconcat: [
      {
        width: 300,
        height: 260,
        layer: [
          {
            data: {
              values: [
                { pred: 0, obs: 0 },
                { pred: 1, obs: 1 },
              ],
            },
            mark: { type: 'line', color: '#bbb', strokeDash: [4, 4] },
            encoding: { x: { field: 'pred', type: 'quantitative' }, y: { field: 'obs', type: 'quantitative' } },
          },
          {
            data: { values: used },
            mark: { type: 'line', point: true, color: '#ff7f0e' },
            encoding: {
              x: { field: 'pred', type: 'quantitative', title: pred, scale: { domain: [0, 1] } },
              y: { field: 'obs', type: 'quantitative', title: what, scale: { domain: [0, 1] } },
            },
          },
        ],
      },
      {
        width: 300,
        height: 70,
        data: { values: bins },
        mark: { type: 'bar', color: '#aaa' },
        encoding: {
          x: { field: 'lo', type: 'quantitative', title: 'bin', scale: { domain: [0, 1] } },
          x2: { field: 'hi' },
          y: { field: 'count', type: 'quantitative', title: 'images' },
        },
      },
    ],
  } as VegaLiteSpec;
}
/** Histogram of a per-image share in [0, 1] (e.g. CAM mass inside the lung field), with its mean. */
export function shareHistogramSpec(values: number[], what: string, title: string): VegaLiteSpec {
  const mean = values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
  return {
    $schema: SCHEMA,
    title: { text: title, subtitle: `${values.length} images, mean ${fin(mean) ? (100 * mean).toFixed(1) : 'n/a'} %` },
    width: 300,
    height: 180,
    layer: [
      {
        data: { values: values.map((v) => ({ v })) },
        mark: { type: 'bar', color: '#17becf' },
        encoding: {
          x: { field: 'v', type: 'quantitative', bin: { extent: [0, 1], step: 0.05 }, title: what },
          y: { aggregate: 'count', type: 'quantitative', title: 'images' },
        },
      },
      {
        data: { values: [{ m: mean }] },
        mark: { type: 'rule', color: '#d62728', strokeDash: [4, 3] },
        encoding: { x: { field: 'm', type: 'quantitative' } },
      },
    ],
  } as VegaLiteSpec;
}
