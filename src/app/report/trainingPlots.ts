// Vega-Lite specs for the training figures (rendered by plots.ts' renderSvg): loss, accuracy,
// sensitivity, specificity and AUC per epoch, and the per-group LR/momentum schedule over the iterations.
import type { VegaLiteSpec } from './plots.js';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
const fin = (x: number) => Number.isFinite(x);

export interface HistoryPoint {
  epoch: number;
  trainLoss: number;
  valid: { loss: number; accuracy: number; sensitivity: number; specificity: number; auc: number };
}

export function trainingCurvesSpec(history: HistoryPoint[], title = 'Training curves'): VegaLiteSpec {
  const loss = history
    .flatMap((h) => [
      { epoch: h.epoch + 1, value: h.trainLoss, series: 'train loss' },
      { epoch: h.epoch + 1, value: h.valid.loss, series: 'valid loss' },
    ])
    .filter((d) => fin(d.value));
  const met = history
    .flatMap((h) =>
      (['accuracy', 'sensitivity', 'specificity', 'auc'] as const).map((k) => ({
        epoch: h.epoch + 1,
        value: h.valid[k],
        series: `valid ${k}`,
      })),
    )
    .filter((d) => fin(d.value));
  const x = { field: 'epoch', type: 'quantitative' as const, axis: { tickMinStep: 1 } };
  return {
    $schema: SCHEMA,
    title,
    hconcat: [
      {
        width: 280,
        height: 220,
        data: { values: loss },
        mark: { type: 'line', point: true },
        encoding: {
          x,
          y: { field: 'value', type: 'quantitative', title: 'cross-entropy' },
          color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'top' } },
        },
      },
      {
        width: 280,
        height: 220,
        data: { values: met },
        mark: { type: 'line', point: true },
        encoding: {
          x,
          y: { field: 'value', type: 'quantitative', title: 'validation metric', scale: { zero: false } },
          color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'top', columns: 2 } },
        },
      },
    ],
  } as VegaLiteSpec;
}

export interface TracePoint {
  step: number;
  group: number;
  lr: number;
  momentum: number;
}

/** LR (log scale) and momentum per discriminative group over the run's iterations. */
export function scheduleSpec(
  trace: TracePoint[],
  groupNames: string[] = [],
  title = 'Learning rate and momentum per layer group',
): VegaLiteSpec {
  const name = (g: number) => groupNames[g] ?? `group ${g}`;
  const values = trace.map((t) => ({ step: t.step, group: name(t.group), lr: t.lr, momentum: t.momentum }));
  const color = {
    field: 'group',
    type: 'nominal' as const,
    title: 'group',
    sort: [...new Set(values.map((v) => v.group))],
  };
  const x = { field: 'step', type: 'quantitative' as const, title: 'iteration' };
  return {
    $schema: SCHEMA,
    title,
    data: { values },
    hconcat: [
      {
        width: 300,
        height: 220,
        mark: { type: 'line', strokeWidth: 1.5 },
        encoding: {
          x,
          y: {
            field: 'lr',
            type: 'quantitative',
            scale: { type: 'log' },
            title: 'learning rate (log)',
            axis: { format: '.0e' },
          },
          color,
        },
      },
      {
        width: 300,
        height: 220,
        mark: { type: 'line', strokeWidth: 1.5 },
        encoding: {
          x,
          y: { field: 'momentum', type: 'quantitative', scale: { zero: false }, title: 'momentum / β1' },
          color,
        },
      },
    ],
  } as VegaLiteSpec;
}
