// The report's section per evaluation: metrics.json read from each folder, then the set's data
// and protocol, per-source rates, confusion matrix (Fig. 8), ROC, PR and reliability.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { MultiClassSummary } from '../../recipe/multiClass.js';
import type { GroupRates } from '../../recipe/threshold.js';
import type { Evaluation, SourceRates } from '../evaluate/evaluationRecord.js';
import { protocolOf } from '../evaluate/protocol.js';
import { confusionSpec, prSpec, reliabilitySpec, rocSpec } from './evalPlots.js';
import { rateText, thresholdText } from './figures.js';
import { escapeHtml, table } from './html.js';
import { plot, protocolBadge, readJson } from './sectionParts.js';

/** metrics.json of each evaluation folder (or a metrics file given directly). */
export function readEvaluations(evalDirs: string[]): Evaluation[] {
  return evalDirs.map((d) => {
    const f = existsSync(join(d, 'metrics.json')) ? join(d, 'metrics.json') : d;
    if (!existsSync(f) || !f.endsWith('.json'))
      throw new Error(`${d} holds no metrics.json (run cxrtune evaluate --out ${d} first)`);
    return readJson<Evaluation>(f);
  });
}

/** Sensitivity and specificity per source at the threshold (Wilson intervals), each source's protocol beside it. */
function bySourceTable(groups: (GroupRates & Partial<Pick<SourceRates, 'protocol' | 'why'>>)[] | undefined): string {
  if (!groups || groups.length === 0) return '';
  const rate = (p: GroupRates['sensitivity']) => (p.den ? `${rateText(p)} (${p.num}/${p.den})` : '—');
  return table(
    ['source', 'protocol', 'images', 'pos / neg', 'sensitivity (95 % CI)', 'specificity (95 % CI)'],
    groups.map((g) => [
      g.group,
      g.protocol ? { html: `<span title="${escapeHtml(g.why ?? '')}">${protocolBadge(g.protocol)}</span>` } : '—',
      g.n,
      `${g.positives} / ${g.negatives}`,
      rate(g.sensitivity),
      rate(g.specificity),
    ]),
  );
}

/** More than two classes: per-class figures at arg-max and the C × C confusion matrix. */
function multiClassTables(mc: MultiClassSummary, cls: string[]): string {
  const auc = (a: { value: number; lo: number; hi: number }) =>
    Number.isFinite(a.value) ? `${a.value.toFixed(3)} (${a.lo.toFixed(3)}–${a.hi.toFixed(3)})` : '—';
  return (
    `<h3>${mc.numClasses} classes at arg-max: accuracy ${rateText(mc.accuracy)}, macro one-vs-rest AUC ` +
    `${Number.isFinite(mc.macroAuc) ? mc.macroAuc.toFixed(3) : '—'}</h3>` +
    table(
      ['class', 'images', 'sensitivity', 'PPV', 'specificity', 'one-vs-rest AUC'],
      mc.perClass.map((f) => [
        cls[f.class]!,
        f.support,
        rateText(f.sensitivity),
        rateText(f.ppv),
        rateText(f.specificity),
        auc(f.auc),
      ]),
    ) +
    '<h3>Confusion matrix, all classes (rows actual, columns predicted)</h3>' +
    table(
      ['actual \\ predicted', ...cls],
      mc.confusion.map((row, i) => [cls[i]!, ...row]),
    )
  );
}

/** One evaluation: its data and protocol, per-source rates, confusion matrix, ROC, PR and reliability. */
export async function evaluationSection(e: Evaluation): Promise<string> {
  const m = e.metrics;
  const cls = e.model.classes;
  const pc = e.model.positiveClass;
  const neg = cls.length === 2 ? cls[1 - pc]! : `not ${cls[pc]}`;
  const ops = [
    { fpr: 1 - m.specificity.value, tpr: m.sensitivity.value, label: `threshold ${thresholdText(m.threshold)}` },
  ].filter((p) => Number.isFinite(p.fpr) && Number.isFinite(p.tpr));
  const both = m.positives > 0 && m.negatives > 0;
  const pi = protocolOf(e);
  return (
    `<p class="muted">${escapeHtml(e.data.manifest)} [${escapeHtml(e.data.split)}], ${e.data.images} images from` +
    ` ${e.data.patients} patients; ${protocolBadge(pi.protocol)}: ${escapeHtml(pi.why)}. Patients vs training` +
    ` split: ${escapeHtml(e.overlap.note)}.</p>` +
    ((e.bySource ?? []).length
      ? `<h3>Per source at threshold ${thresholdText(m.threshold)}</h3>${bySourceTable(e.bySource)}`
      : '') +
    (e.multiClass ? multiClassTables(e.multiClass, cls) : '') +
    `<div class="row">${await plot(confusionSpec(m.confusion, [neg, cls[pc]!], 'Confusion matrix (Fig. 8)'))}` +
    (both
      ? (await plot(rocSpec(m.roc, m.auc, ops, 'ROC'))) +
        (await plot(prSpec(m.pr, m.averagePrecision, m.positives / m.n, 'Precision–recall')))
      : '') +
    `${await plot(reliabilitySpec(m.calibration, 'Reliability'))}</div>`
  );
}
