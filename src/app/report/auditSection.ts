// The report's "Shortcut audit" section, from an audit.json written by `cxrtune audit`:
// the overall verdict, one line per test, the AUC plot, the probe / metadata / per-source /
// leave-one-source-out tables and the contact sheet of what the model saw in each test.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AuditLine, AuditResult } from '../interpret/auditRecord.js';
import { auditBars, sourceBars } from '../interpret/auditRecord.js';
import { auditAucSpec, perSourceSpec } from './auditPlots.js';
import { escapeHtml, inlineSvg, num, pctCi, pngDataUrl, table, type Cell } from './html.js';
import { renderSvg } from './plots.js';
import { thresholdText } from './figures.js';

const CLS: Record<string, string> = { flag: 'bad', warn: 'warnText', pass: 'good', 'n/a': 'muted' };
const ci = (a: { value: number; lo: number; hi: number } | null) =>
  a && Number.isFinite(a.value) ? `${num(a.value)} (${num(a.lo)}–${num(a.hi)})` : 'n/a';

/** An audit.json's findings; one written before findings has only its lines (the headline first). */
function findingsOf(a: Omit<AuditResult, 'findings'> & { findings?: AuditLine[] }): AuditLine[] {
  return (
    a.findings ??
    (a.lines ?? []).map((text, i) => ({ check: '', verdict: i === 0 ? a.verdict : null, text }) as AuditLine)
  );
}

export async function auditSection(file: string): Promise<string> {
  const a = JSON.parse(readFileSync(file, 'utf8')) as AuditResult;
  const findings = findingsOf(a);
  const verdict = (v: string) => ({ html: `<span class="${CLS[v] ?? ''}">${escapeHtml(v.toUpperCase())}</span>` });
  const lines = findings.map((f) => `<li class="${CLS[f.verdict ?? ''] ?? ''}">${escapeHtml(f.text)}</li>`).join('');
  const plot = async (spec: Parameters<typeof renderSvg>[0]) =>
    `<div class="plot">${inlineSvg(await renderSvg(spec))}</div>`;
  const tests: Cell[][] = [
    ['model, images as they are', ci(a.full.auc), '', 'reference'],
    [
      'frame only (lungs blanked)',
      ci(a.frameOnly.auc),
      `${num(100 * a.data.blanked['frame-only'], 1)} % of the image blanked;` +
        ` ${num(a.frameOnly.retained, 2)} of the discrimination retained`,
      verdict(a.frameOnly.verdict),
    ],
    [
      'lungs out (lung fields black)',
      ci(a.lungsOut.auc),
      `${num(100 * a.data.blanked['lungs-out'], 1)} % blanked; ${num(a.lungsOut.retained, 2)} retained`,
      verdict(a.lungsOut.verdict),
    ],
    [
      'metadata-only baseline (provenance cues → label)',
      ci(a.metadata.auc),
      `strongest cues: ${a.metadata.single
        .slice(0, 3)
        .map((s) => `${s.feature} ${num(s.auc)}`)
        .join(', ')}`,
      verdict(a.metadata.verdict),
    ],
  ];
  const probe = a.sourceProbe.labels.length
    ? table(
        [
          'label',
          'images',
          'sources',
          'CV accuracy (95 % CI)',
          'guessing the largest',
          'lift',
          'AUC (2 sources)',
          'verdict',
        ],
        a.sourceProbe.labels.map((l) => [
          l.label,
          l.n,
          l.sources.map((s) => `${s.source} ${s.n}`).join(', '),
          pctCi(l.accuracy),
          `${num(100 * l.majority, 1)} %`,
          num(l.lift),
          ci(l.auc),
          verdict(l.verdict),
        ]),
      )
    : '<p>No label has images from two or more sources: the source probe does not apply.</p>';
  const per = table(
    ['source', 'images', 'pos / neg', 'accuracy', 'sensitivity', 'specificity', 'AUC'],
    a.perSource.sources.map((s) => [
      s.source,
      s.n,
      `${s.positives} / ${s.negatives}`,
      pctCi(s.accuracy),
      s.positives ? pctCi(s.sensitivity) : '—',
      s.negatives ? pctCi(s.specificity) : '—',
      ci(s.auc),
    ]),
  );
  const loso = a.leaveOneSourceOut.rows.length
    ? table(
        ['label', 'source', 'images', 'AUC, this source alone vs the other classes', 'AUC without this source'],
        a.leaveOneSourceOut.rows.map((r) => [r.label, r.source, r.n, ci(r.alone), num(r.without)]),
      )
    : '';
  const ex = join(dirname(file), 'audit_examples.png');
  const d = a.data;
  const region =
    `lung region from masks on ${d.lungRegion.masks}, fixed box on ${d.lungRegion.fixedBox}` +
    (d.lungRegion.ignoredMasks
      ? ` (${d.lungRegion.ignoredMasks} images had masks, unused: masks on only some images would make the blanked` +
        ' shape a cue)'
      : '');
  const about =
    `${escapeHtml(d.manifest)} [${escapeHtml(d.split)}]: ${d.images} images (${d.positives} positive,` +
    ` ${d.negatives} other) from ${d.patients} patients; ${region}. Model ${escapeHtml(a.model.arch)},` +
    ` threshold ${thresholdText(a.model.threshold)}; source probe on ${escapeHtml(a.model.featureLayer)}` +
    ` (${a.model.featureDims} features). AUC intervals: stratified bootstrap (${a.full.auc.iterations} resamples);` +
    ' proportions: Wilson.';
  const folds = a.sourceProbe.labels[0]?.folds ?? a.choices.folds;
  const gallery =
    '<h3>What the model saw</h3><p class="muted">Each row: the image, frame only, lungs out.</p>' +
    '<img class="gallery" alt="audit examples" src="';
  return (
    `<p class="${CLS[a.verdict] ?? ''}" style="font-size:16px">${escapeHtml(findings[0]?.text ?? '')}</p>` +
    `<p class="muted">${about}</p>` +
    `<ul>${lines}</ul>` +
    `<div class="row">${await plot(auditAucSpec(auditBars(a)))}${await plot(perSourceSpec(sourceBars(a)))}</div>` +
    table(['test', 'AUC (95 % CI)', 'detail', 'verdict'], tests) +
    `<h3>Source probe (penultimate features → source, within each label; ${folds}-fold, patient-grouped)</h3>${probe}` +
    `<h3>Per source</h3>${per}` +
    (loso ? `<h3>Leave one source out (the model as trained; no retraining)</h3>${loso}` : '') +
    (existsSync(ex) ? `${gallery}${pngDataUrl(readFileSync(ex))}">` : '') +
    `<p class="muted">Regions: ${escapeHtml(String(a.choices.regions))}.` +
    ' Verdict thresholds: src/recipe/shortcutAudit.ts (Choices).</p>'
  );
}
