// What every section of the report uses: a JSON file read, a Vega-Lite plot inlined as SVG,
// and an evaluation protocol's coloured badge.
import { readFileSync } from 'node:fs';
import { protocolLabel, type Protocol } from '../evaluate/protocol.js';
import { inlineSvg } from './html.js';
import { renderSvg, type VegaLiteSpec } from './plots.js';

export const readJson = <T>(f: string): T => JSON.parse(readFileSync(f, 'utf8')) as T;

export const plot = async (spec: VegaLiteSpec) => `<div class="plot">${inlineSvg(await renderSvg(spec))}</div>`;

const PROTOCOL_CLASS: Record<Protocol, string> = {
  'source-held-out': 'good',
  external: 'good',
  internal: 'warnText',
};

export function protocolBadge(p: Protocol): string {
  return `<span class="${PROTOCOL_CLASS[p]}">${protocolLabel(p)}</span>`;
}
