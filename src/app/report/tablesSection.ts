// The report's tables: analogs of the paper's Tables 2–5 (training setup, training outcome,
// internal, source-held-out and external sets) and each set's Youden operating point.
import type { Evaluation } from '../evaluate/evaluationRecord.js';
import { protocolOf, type Protocol } from '../evaluate/protocol.js';
import type { RunSummary } from '../train/fitRecord.js';
import { formatDuration } from '../../util/progressLine.js';
import { aucText, rateText, thresholdText } from './figures.js';
import { escapeHtml, num, table, type Cell } from './html.js';
import { protocolBadge } from './sectionParts.js';

function metricsRow(e: Evaluation): Cell[] {
  const m = e.metrics;
  const flag = e.overlap.sharedPatients > 0 ? ' ⚠ shares patients with training' : '';
  return [
    { html: `${escapeHtml(e.name)}${flag ? `<br><span class="bad">${escapeHtml(flag)}</span>` : ''}` },
    { html: protocolBadge(protocolOf(e).protocol) },
    m.n,
    `${m.positives} / ${m.negatives}`,
    rateText(m.accuracy),
    rateText(m.sensitivity),
    rateText(m.specificity),
    rateText(m.ppv),
    rateText(m.npv),
    num(m.f1),
    num(m.balancedAccuracy),
    aucText(m),
    num(m.calibration.ece),
  ];
}

const METRIC_HEADER = [
  'set',
  'protocol',
  'images',
  'pos / neg',
  'accuracy',
  'sensitivity',
  'specificity',
  'PPV',
  'NPV',
  'F1',
  'bal. acc.',
  'AUC (95 % CI)',
  'ECE',
];

/** Tables 2–5 analogs. */
export function tablesSection(
  arch: string,
  cfg: Record<string, unknown>,
  summary: RunSummary | null,
  evals: Evaluation[],
): string {
  const t2: Cell[][] = [
    ['architecture', arch],
    ['pretrained', String(cfg.pretrained ?? 'no (random initialisation)')],
    ['image size', `${cfg.size} px`],
    ['batch', String(cfg.batch)],
    ['epochs', String(cfg.epochs)],
    ['optimizer', `${cfg.optimizer}, weight decay ${cfg.wd}`],
    [
      'schedule',
      `${cfg.schedule}, α ${cfg.lrMin}..${cfg.lrMax}, momentum ${cfg.momMin}..${cfg.momMax} (${cfg.momentumMode})`,
    ],
    ['discriminative', cfg.discriminative ? `yes — groups: ${cfg.groups}, ${cfg.spacing}` : 'no'],
    ['transfer mode', String(cfg.mode)],
    ['precision', String(cfg.precision)],
    ['augmentation', String(cfg.aug)],
    ['seed', String(cfg.seed)],
    [
      'preprocessing',
      `${cfg.fit ?? 'letterbox'}; equalize ${cfg.equalize ?? 'none'};` +
        ` ${cfg.crop === 'lungs' ? `cropped to the lungs' box (margin ${cfg.cropMargin ?? 0.1})` : 'whole image'}` +
        `${cfg.standardize === 'image' ? '; per-image standardised' : ''}`,
    ],
    ['threshold', String(cfg.threshold ?? 0.5)],
  ];
  const t3: Cell[][] = summary
    ? [
        ['status', String(summary.status)],
        ['epochs done', `${summary.epochsDone}/${summary.epochs}`],
        ['training time', formatDuration(summary.seconds)],
        ['time per epoch', formatDuration(summary.secondsPerEpoch)],
        ['throughput', `${num(summary.imagesPerSecond, 1)} images/s`],
        ['peak memory (RSS)', `${summary.peakRssMiB} MiB`],
        [`best ${summary.monitor}`, `${num(summary.best?.value, 4)} at epoch ${summary.best?.epoch}`],
      ]
    : [];
  const ofProtocol = (p: Protocol) => evals.filter((e) => protocolOf(e).protocol === p);
  const internal = ofProtocol('internal');
  const heldOut = ofProtocol('source-held-out');
  const external = ofProtocol('external');
  return (
    `<h3>Table 2 — training setup</h3>${table(['', ''], t2)}` +
    (t3.length ? `<h3>Table 3 — training outcome</h3>${table(['', ''], t3)}` : '') +
    '<h3>Table 4 — INTERNAL sets (held-out patients of the training sources: optimistic)</h3>' +
    (internal.length ? table(METRIC_HEADER, internal.map(metricsRow)) : '<p>None.</p>') +
    '<h3>Table 5a — SOURCE-HELD-OUT validation (sources or hospitals that never fed training)</h3>' +
    (heldOut.length
      ? table(METRIC_HEADER, heldOut.map(metricsRow))
      : '<p>None (build the data with --split-by source|location).</p>') +
    '<h3>Table 5b — EXTERNAL sets (sources unseen in training)</h3>' +
    (external.length ? table(METRIC_HEADER, external.map(metricsRow)) : '<p>No external set evaluated.</p>') +
    '<p class="muted">Sensitivity = TP/(TP+FN), specificity = TN/(TN+FP) (the standard definitions; the' +
    " paper's eq. 12 is wrong). Proportions: value (95 % Wilson interval). AUC: stratified percentile bootstrap.</p>" +
    evals
      .map((e) =>
        e.metrics.youden
          ? `<p>${escapeHtml(e.name)}: Youden's operating point at threshold` +
            ` ${thresholdText(e.metrics.youden.threshold)}` +
            ` gives sensitivity ${num(100 * e.metrics.youden.sensitivity, 1)} %,` +
            ` specificity ${num(100 * e.metrics.youden.specificity, 1)} % (chosen on this set: optimistic).</p>`
          : '',
      )
      .join('')
  );
}
