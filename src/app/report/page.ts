// The report's self-contained HTML page around its sections: inline style, a strict CSP and a nav.
import { escapeHtml } from './html.js';

/** The self-contained page: inline style, a strict CSP (no scripts, no network), a nav over the sections. */
export function pageHtml(title: string, run: string, sections: string[], parts: string[]): string {
  const nav = sections.map((s) => `<a href="#${s}">${s.replace(/-/g, ' ')}</a>`).join(' · ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>${escapeHtml(title)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0 auto;max-width:1280px;
padding:16px 24px;color:#1d232a}
h1{font-size:24px;margin:8px 0}h2{font-size:19px;border-bottom:2px solid #dde3ea;padding-bottom:4px;margin-top:32px}
h3{font-size:15px;margin:18px 0 6px}
nav{font-size:13px;color:#567}nav a{color:#2a6bb0;text-decoration:none}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid #dde3ea;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f2f5f8}
td.num{text-align:right}
table.config td:nth-child(odd){color:#567}
.muted{color:#667;font-size:12.5px}.warn{background:#fff4d6;border:1px solid #e8c66a;padding:8px;border-radius:4px}
.bad{color:#b3261e;font-weight:600}.good{color:#1e7b34;font-weight:600}.warnText{color:#9a6700;font-weight:600}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{background:#f2f5f8;border-radius:8px;padding:10px 14px;min-width:180px}
.card .k{color:#567;font-size:12px;text-transform:uppercase}.card .v{font-size:18px;font-weight:600}
.row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}.plot svg{max-width:100%;height:auto}
img.gallery{max-width:100%;border:1px solid #dde3ea}
</style></head><body>
<h1>${escapeHtml(title)}</h1>
<p class="muted">Generated ${new Date().toISOString()} by cxrtune from ${escapeHtml(run)}.
Self-contained: opens offline.</p>
<nav>${nav}</nav>
${parts.join('\n')}
</body></html>
`;
}
