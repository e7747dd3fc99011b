// Plots as standalone SVG, rendered headlessly with Vega-Lite → Vega (no browser, no canvas:
// Vega's 'none' renderer + toSVG). Specs are plain objects so a report can embed them too.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { LrFindResult } from '../../recipe/lrFinder.js';

export type VegaLiteSpec = TopLevelSpec;

/** Renders a Vega-Lite spec to an SVG document. */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * The LR range test (the paper's Fig. 7): raw and smoothed loss against the LR on a log axis,
 * the proposed α_max marked with a rule and a point, and the proposed range shaded.
 */
export function lrFinderSpec(r: LrFindResult, title = 'LR range test'): VegaLiteSpec {
  const values = r.lrs.flatMap((lr, i) => [
    ...(Number.isFinite(r.losses[i]!) ? [{ lr, loss: r.losses[i]!, series: 'loss' }] : []),
    ...(Number.isFinite(r.smoothed[i]!) ? [{ lr, loss: r.smoothed[i]!, series: 'smoothed loss' }] : []),
  ]);
  const finite = r.smoothed.filter(Number.isFinite);
  // Clip the y axis a little above the start so the blow-up does not flatten the curve.
  const yMax = Math.max(...finite.slice(0, Math.max(3, Math.floor(finite.length / 2)))) * 1.5;
  const yMin = Math.min(...finite) * 0.9;
  const by = r.proposed.by;
  const sIdx = r.suggestionIndex[by];
  const mark = {
    lr: r.proposed.lrMax,
    loss: r.smoothed[sIdx] ?? finite[finite.length - 1]!,
    label: `${by}: ${r.proposed.lrMax.toExponential(1)}`,
  };
  const x = {
    field: 'lr',
    type: 'quantitative' as const,
    scale: { type: 'log' as const },
    title: 'learning rate (log)',
    axis: { format: '.0e' },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: title,
      subtitle:
        `proposed range ${r.proposed.lrMin.toExponential(1)} – ` +
        `${r.proposed.lrMax.toExponential(1)} (${r.stopped})`,
    },
    width: 520,
    height: 320,
    layer: [
      {
        data: { values: [{ lo: r.proposed.lrMin, hi: r.proposed.lrMax }] },
        mark: { type: 'rect', opacity: 0.12, color: '#2ca02c' },
        encoding: { x: { field: 'lo', type: 'quantitative', scale: { type: 'log' } }, x2: { field: 'hi' } },
      },
      {
        data: { values },
        mark: { type: 'line', clip: true },
        encoding: {
          x,
          y: {
            field: 'loss',
            type: 'quantitative',
            title: 'training loss',
            scale: { domain: [yMin, yMax], zero: false },
          },
          color: {
            field: 'series',
            type: 'nominal',
            scale: { range: ['#c7c7c7', '#1f77b4'] },
            legend: { orient: 'top-left', title: null },
          },
        },
      },
      { data: { values: [mark] }, mark: { type: 'rule', color: '#d62728', strokeDash: [4, 3] }, encoding: { x } },
      {
        data: { values: [mark] },
        mark: { type: 'point', filled: true, size: 90, color: '#d62728' },
        encoding: { x, y: { field: 'loss', type: 'quantitative' } },
      },
      {
        data: { values: [mark] },
        mark: { type: 'text', align: 'left', dx: 6, dy: -10, color: '#d62728' },
        encoding: { x, y: { field: 'loss', type: 'quantitative' }, text: { field: 'label' } },
      },
    ],
  } as VegaLiteSpec;
}

export async function lrFinderSvg(r: LrFindResult, title?: string): Promise<string> {
  return renderSvg(lrFinderSpec(r, title));
}
