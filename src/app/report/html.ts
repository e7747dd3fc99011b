// Small helpers for self-contained HTML: escaping, data URLs, tables, inline SVG.

export function escapeHtml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

export function pngDataUrl(png: Uint8Array): string {
  return `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
}

/**
 * An SVG document as an inline element (drops the XML prolog; ids are made unique so several plots can share
 * a page).
 */
let svgCounter = 0;
export function inlineSvg(svg: string): string {
  const k = ++svgCounter;
  const body = svg.replace(/^<\?xml[^>]*>\s*/, '');
  // Vega's clip-path ids (clip1, …) repeat across documents; prefix them per plot.
  return body.replace(/id="([^"]+)"/g, `id="p${k}-$1"`).replace(/url\(#([^)]+)\)/g, `url(#p${k}-$1)`);
}

export type Cell = string | number | { html: string };

/** A table; numbers are right-aligned. Strings are escaped; {html} is trusted markup. */
export function table(header: string[], rows: Cell[][], cls = ''): string {
  const cell = (c: Cell, tag: string) => {
    if (typeof c === 'number') return `<${tag} class="num">${escapeHtml(String(c))}</${tag}>`;
    if (typeof c === 'string') return `<${tag}>${escapeHtml(c)}</${tag}>`;
    return `<${tag}>${c.html}</${tag}>`;
  };
  return (
    `<table${cls ? ` class="${cls}"` : ''}><thead><tr>` +
    `${header.map((h) => cell(h, 'th')).join('')}</tr></thead><tbody>` +
    rows.map((r) => `<tr>${r.map((c) => cell(c, 'td')).join('')}</tr>`).join('') +
    '</tbody></table>'
  );
}

export interface Interval {
  value: number;
  lo: number;
  hi: number;
}

/** "95.4 % (89.6–98.0)" */
export function pctCi(p: Interval, digits = 1): string {
  if (!Number.isFinite(p.value)) return 'n/a';
  const f = (x: number) => (100 * x).toFixed(digits);
  return Number.isFinite(p.lo) ? `${f(p.value)} % (${f(p.lo)}–${f(p.hi)})` : `${f(p.value)} %`;
}

export function num(x: number | null | undefined, digits = 3): string {
  return x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(digits);
}
