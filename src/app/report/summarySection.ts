// The report's summary: the headline evaluation (source-held-out, else external) as cards,
// its warnings, and one line for each other figure.
import type { DatasetSummary } from '../../data/summary.js';
import type { Evaluation } from '../evaluate/evaluationRecord.js';
import { protocolLabel, protocolOf, type Protocol } from '../evaluate/protocol.js';
import { aucText, oneClassText, rateText, thresholdText } from './figures.js';
import { escapeHtml } from './html.js';
import { protocolBadge } from './sectionParts.js';

/** The figure to headline: source-held-out first, then external; internal only when nothing else exists. */
export function headlineEvaluation(evals: Evaluation[]): Evaluation | undefined {
  const by = (p: Protocol) => evals.find((e) => protocolOf(e).protocol === p);
  return by('source-held-out') ?? by('external') ?? evals[0];
}

/**
 * An evaluation's headline cards (protocol, AUC, sensitivity, specificity, accuracy) and how they
 * were measured; a set of one class shows the one rate it measures and says what needs both.
 */
export function headlineCards(e: Evaluation): string {
  const m = e.metrics;
  const oneClass = oneClassText(m);
  const cards = oneClass
    ? [
        ['protocol', protocolLabel(protocolOf(e).protocol)],
        m.positives > 0 ? ['sensitivity', rateText(m.sensitivity)] : ['specificity', rateText(m.specificity)],
      ]
    : [
        ['protocol', protocolLabel(protocolOf(e).protocol)],
        ['AUC', aucText(m)],
        ['sensitivity', rateText(m.sensitivity)],
        ['specificity', rateText(m.specificity)],
        ['accuracy', rateText(m.accuracy)],
      ];
  return (
    `<div class="cards">${cards
      .map(([k, v]) => `<div class="card"><div class="k">${k}</div><div class="v">${escapeHtml(v!)}</div></div>`)
      .join('')}</div>` +
    (oneClass ? `<p>${escapeHtml(oneClass)}.</p>` : '') +
    `<p class="muted">${protocolBadge(protocolOf(e).protocol)} — ${escapeHtml(protocolOf(e).why)}.` +
    ` On ${escapeHtml(e.name)} (${m.n} images) at threshold ${thresholdText(m.threshold)}; 95 % Wilson intervals` +
    `${oneClass ? '' : `, AUC stratified bootstrap (${m.auc.iterations} resamples)`}.</p>`
  );
}

/** One line of the summary's other figures: AUC, sensitivity and specificity, or what a one-class set measures. */
export function otherFigure(e: Evaluation): string {
  const m = e.metrics;
  const figures =
    oneClassText(m) ??
    `AUC ${aucText(m)}, sensitivity ${rateText(m.sensitivity)}, specificity ${rateText(m.specificity)}`;
  return `<li>${protocolBadge(protocolOf(e).protocol)} ${escapeHtml(e.name)}: ${escapeHtml(figures)}</li>`;
}

/**
 * Headline: the honest figure first — source-held-out, else external, with its interval.
 * An internal figure (same sources as training) is labelled INTERNAL and is not headlined on
 * real data; on phantoms every image is one source, and the headline says so.
 */
export function summarySection(evals: Evaluation[], data: DatasetSummary | null): string {
  const warnings = evals
    .filter((e) => e.overlap.sharedPatients > 0)
    .map((e) => `<p class="warn">⚠ ${escapeHtml(e.name)}: ${escapeHtml(e.overlap.note)}.</p>`)
    .join('');
  const head = headlineEvaluation(evals);
  const headProto = head ? protocolOf(head) : null;
  const oneSource = data
    ? Object.values(data.counts).every((bySrc) => Object.keys(bySrc).every((src) => src === 'phantom'))
    : false;
  let headline: string;
  if (!head) headline = '<p>No evaluation given (add --eval DIR from cxrtune evaluate).</p>';
  else if (headProto!.protocol !== 'internal') headline = headlineCards(head);
  else if (oneSource)
    headline =
      `<p class="warn">Every image comes from one source (synthetic phantoms), so only an <b>INTERNAL</b>` +
      ` figure exists: it shows that the pipeline works, not how a model would do at another` +
      ` hospital.</p>${headlineCards(head)}`;
  else
    headline =
      `<p class="warn"><b>No source-held-out or external figure.</b> The only evaluation is <b>INTERNAL</b>` +
      ` (held-out patients of the training sources), which provenance shortcuts inflate; it is listed in the tables` +
      ` below, not headlined. Build the data with <code>data build --split-by location</code> (or source) for a` +
      ` source-held-out validation, or evaluate an external set.</p>`;
  const others = evals.filter((e) => e !== head);
  const otherFigures = head && others.length ? `<p>Other figures:</p><ul>${others.map(otherFigure).join('')}</ul>` : '';
  return warnings + headline + otherFigures;
}
