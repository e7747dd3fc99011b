// `cxrtune report`: one self-contained HTML file (inline SVG plots rendered from Vega-Lite,
// images as data URLs, no scripts, no network) covering a run and its evaluations: run
// configuration, data summary, LR finder (Fig. 7), LR/momentum per group, training curves,
// analogs of the paper's Tables 2–5 with intervals, confusion matrices (Fig. 8), ROC, PR,
// reliability, the shortcut audit (when RUN/audit/audit.json exists), top losses (Fig. 9),
// Grad-CAM gallery and checks (Fig. 10), limitations.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import { Model } from '../../engine/model.js';
import type { Arch } from '../../engine/types.js';
import { readManifest } from '../../data/manifest.js';
import { summarise, type DatasetSummary } from '../../data/summary.js';
import type { EpochResult } from '../../recipe/callbacks.js';
import { layerGroups, type GroupMode } from '../../recipe/discriminative.js';
import type { LrFindResult } from '../../recipe/lrFinder.js';
import { formatDuration } from '../../util/progressLine.js';
import type { CamCheckResult } from '../interpret/camCheck.js';
import type { Evaluation } from '../evaluate/evaluate.js';
import type { TopLossResult } from '../interpret/explain.js';
import { RUN_FILES } from '../train/runFolder.js';
import type { RunSummary } from '../train/fit.js';
import { flattenTrainConfig } from '../train/trainConfig.js';
import {
  confusionSpec,
  prSpec,
  reliabilitySpec,
  rocSpec,
  scheduleSpec,
  shareHistogramSpec,
  trainingCurvesSpec,
  type TracePoint,
} from './evalPlots.js';
import { escapeHtml, inlineSvg, num, pngDataUrl, table, type Cell } from './html.js';
import { aucText, oneClassText, rateText, thresholdText } from './figures.js';
import { limitations } from './limitations.js';
import { auditSection } from './auditSection.js';
import { findAudit } from '../interpret/audit.js';
import { lrFinderSpec, renderSvg, type VegaLiteSpec } from './plots.js';
import { protocolLabel, protocolOf, type Protocol } from '../evaluate/protocol.js';
import type { GroupRates } from '../../recipe/threshold.js';
import type { SourceRates } from '../evaluate/evaluate.js';

export interface ReportOptions {
  run: string;
  /** Evaluation folders (metrics.json from `cxrtune evaluate`); their explain outputs are picked up too. */
  evals?: string[];
  /** Folders with explain outputs (top_losses.json/png, gradcam_check.json, gradcam_gallery.png). */
  explain?: string[];
  /** lr_find.json (default: RUN/lr_find.json when present). */
  lrFind?: string;
  out: string;
  title?: string;
  /** Extra lines for the limitations section. */
  notes?: string[];
}

export interface ReportResult {
  file: string;
  bytes: number;
  sections: string[];
}

const readJson = <T>(f: string): T => JSON.parse(readFileSync(f, 'utf8')) as T;
const plot = async (spec: VegaLiteSpec) => `<div class="plot">${inlineSvg(await renderSvg(spec))}</div>`;

function readTrace(file: string, maxSteps = 400): TracePoint[] {
  const lines = readFileSync(file, 'utf8').trim().split('\n').slice(1);
  const pts = lines.map((l) => {
    const [step, , group, lr, momentum] = l.split(',').map(Number);
    return { step: step!, group: group!, lr: lr!, momentum: momentum! };
  });
  const steps = pts.length ? pts[pts.length - 1]!.step + 1 : 0;
  const every = Math.max(1, Math.ceil(steps / maxSteps));
  return pts.filter((p) => p.step % every === 0 || p.step === steps - 1);
}

async function groupNames(arch: string, groups: GroupMode): Promise<string[]> {
  try {
    const m = await Model.create({ arch: arch as Arch, numClasses: 2 });
    return layerGroups(m.layers(), groups).map((g) =>
      g.stages.length <= 2 ? g.stages.join('+') : `${g.stages[0]}…${g.stages[g.stages.length - 1]}`,
    );
  } catch {
    return [];
  }
}

function configTable(cfg: Record<string, unknown>): string {
  const show = (v: unknown) =>
    v === null ? '—' : Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? JSON.stringify(v) : String(v);
  const keys = Object.keys(cfg).filter((k) => k !== 'manifestSha256');
  const half = Math.ceil(keys.length / 2);
  const rows: Cell[][] = [];
  for (let i = 0; i < half; i++) {
    const a = keys[i]!;
    const b = keys[i + half];
    rows.push([a, show(cfg[a]), b ?? '', b ? show(cfg[b]) : '']);
  }
  return table(['setting', 'value', 'setting', 'value'], rows, 'config');
}

function dataTable(s: DatasetSummary): string {
  const order = ['train', 'valid', 'test', '(none)'];
  const splits = Object.keys(s.imagesPerSplit).sort(
    (a, b) => ((order.indexOf(a) + 10) % 14) - ((order.indexOf(b) + 10) % 14) || (a < b ? -1 : 1),
  );
  const rows: Cell[][] = [];
  for (const label of Object.keys(s.counts).sort()) {
    for (const source of Object.keys(s.counts[label]!).sort()) {
      const c = s.counts[label]![source]!;
      const vals = splits.map((sp) => c[sp] ?? 0);
      rows.push([label, source, ...vals, vals.reduce((a, b) => a + b, 0)]);
    }
  }
  rows.push([{ html: '<b>all images</b>' }, '', ...splits.map((sp) => s.imagesPerSplit[sp] ?? 0), s.images]);
  rows.push([{ html: '<b>patients</b>' }, '', ...splits.map((sp) => s.patientsPerSplit[sp] ?? 0), '']);
  return (
    table(['label', 'source', ...splits, 'total'], rows) +
    `<p>Patients shared between splits: <b>${s.sharedPatients}</b>` +
    `${s.sharedPatients ? ' — <span class="bad">leak</span>' : ' (patient-level split)'}.</p>` +
    (s.notes.length ? `<ul>${s.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>` : '')
  );
}

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

const PROTOCOL_CLASS: Record<Protocol, string> = { 'source-held-out': 'good', external: 'good', internal: 'warnText' };
function protocolBadge(p: Protocol): string {
  return `<span class="${PROTOCOL_CLASS[p]}">${protocolLabel(p)}</span>`;
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

/** The figure to headline: source-held-out first, then external; internal only when nothing else exists. */
export function headlineEvaluation(evals: Evaluation[]): Evaluation | undefined {
  const by = (p: Protocol) => evals.find((e) => protocolOf(e).protocol === p);
  return by('source-held-out') ?? by('external') ?? evals[0];
}

function find(dirs: string[], file: string): string | null {
  for (const d of dirs) if (existsSync(join(d, file))) return join(d, file);
  return null;
}

export async function buildReport(o: ReportOptions): Promise<ReportResult> {
  const run = resolve(o.run);
  const cfgFile = join(run, RUN_FILES.config);
  if (!existsSync(cfgFile))
    throw new Error(`${o.run} is not a run folder (no ${RUN_FILES.config}); pass the folder given to train --out`);
  // By flag name, whichever form config.json has (runs before the nesting wrote it flat).
  const cfg: Record<string, unknown> = flattenTrainConfig(readJson<object>(cfgFile));
  const history = existsSync(join(run, RUN_FILES.historyJson))
    ? readJson<EpochResult[]>(join(run, RUN_FILES.historyJson))
    : [];
  const summary = existsSync(join(run, RUN_FILES.summary)) ? readJson<RunSummary>(join(run, RUN_FILES.summary)) : null;
  const evalDirs = (o.evals ?? []).map((d) => resolve(d));
  const evals = readEvaluations(evalDirs);
  const explainDirs = [...(o.explain ?? []).map((d) => resolve(d)), ...evalDirs];
  const sections: string[] = [];
  const parts: string[] = [];
  const section = (id: string, title: string, body: string) => {
    sections.push(id);
    parts.push(`<section id="${id}"><h2>${escapeHtml(title)}</h2>${body}</section>`);
  };
  const arch = String(cfg.arch);
  const manifestFile = String(cfg.manifest);
  let data: DatasetSummary | null = null;
  if (existsSync(manifestFile)) data = summarise(readManifest(manifestFile).rows);
  const positive = evals[0]?.model.classes[evals[0].model.positiveClass] ?? String(cfg.positive ?? '');

  section(
    'summary',
    'Summary',
    summarySection(evals, data) +
      (summary
        ? `<p>Run ${escapeHtml(run)}: ${escapeHtml(arch)}, ${summary.epochsDone}/${summary.epochs} epochs` +
          ` (${escapeHtml(String(summary.status))}) in ${formatDuration(summary.seconds)},` +
          ` ${num(summary.imagesPerSecond, 1)} images/s, precision ${escapeHtml(String(cfg.precision))}.</p>`
        : ''),
  );

  // The audit's verdicts and the limitations follow the headline.
  const auditFile = findAudit(run);
  if (auditFile) section('audit', 'Shortcut audit', await auditSection(auditFile));
  const lim = limitations(data, evals, positive, o.notes ?? []);
  section('limitations', 'Limitations', `<ul>${lim.map((l) => `<li>${escapeHtml(l)}</li>`).join('')}</ul>`);

  section('config', 'Run configuration', configTable(cfg));
  section(
    'data',
    'Data summary (training manifest)',
    data
      ? `<p class="muted">${escapeHtml(manifestFile)}</p>${dataTable(data)}`
      : `<p>The training manifest ${escapeHtml(manifestFile)} is not on this machine.</p>`,
  );
  section('lr-finder', 'LR range test (Fig. 7)', await lrFinderSection(o, run, arch, cfg));
  const traceFile = join(run, RUN_FILES.trace);
  if (existsSync(traceFile))
    section('schedule', 'Learning rate and momentum per layer group', await scheduleSection(traceFile, arch, cfg));
  if (history.length) {
    section(
      'training',
      'Training curves',
      (await plot(trainingCurvesSpec(history))) +
        table(
          ['epoch', 'train loss', 'valid loss', 'accuracy', 'sensitivity', 'specificity', 'AUC', 'seconds', 'images/s'],
          history.map((h) => [
            h.epoch + 1,
            num(h.trainLoss),
            num(h.valid.loss),
            num(h.valid.accuracy),
            num(h.valid.sensitivity),
            num(h.valid.specificity),
            num(h.valid.auc),
            num(h.seconds, 1),
            num(h.imagesPerSecond, 1),
          ]),
        ),
    );
  }
  section('tables', "Tables (analogs of the paper's Tables 2–5)", tablesSection(arch, cfg, summary, evals));
  for (const [k, e] of evals.entries())
    section(
      `eval-${k + 1}`,
      `Evaluation [${protocolLabel(protocolOf(e).protocol)}]: ${e.name}`,
      await evaluationSection(e),
    );

  const tl = find(explainDirs, 'top_losses.json');
  if (tl) section('top-losses', 'Top losses (Fig. 9)', topLossesSection(tl));
  const gc = find(explainDirs, 'gradcam_check.json');
  if (gc) section('gradcam', 'Grad-CAM (Fig. 10) — where does the model look?', await gradcamSection(gc));
  const html = pageHtml(o.title ?? `cxrtune report — ${basename(run)}`, run, sections, parts);
  const file = resolve(o.out);
  await writeFileAtomic(file, html);
  return { file, bytes: Buffer.byteLength(html), sections };
}

/** metrics.json of each evaluation folder (or a metrics file given directly). */
function readEvaluations(evalDirs: string[]): Evaluation[] {
  return evalDirs.map((d) => {
    const f = existsSync(join(d, 'metrics.json')) ? join(d, 'metrics.json') : d;
    if (!existsSync(f) || !f.endsWith('.json'))
      throw new Error(`${d} holds no metrics.json (run cxrtune evaluate --out ${d} first)`);
    return readJson<Evaluation>(f);
  });
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
function summarySection(evals: Evaluation[], data: DatasetSummary | null): string {
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

/** The LR range test's curve and suggestions, and whether the run used its proposal. */
async function lrFinderSection(
  o: ReportOptions,
  run: string,
  arch: string,
  cfg: Record<string, unknown>,
): Promise<string> {
  const lrFile = o.lrFind
    ? resolve(o.lrFind)
    : existsSync(join(run, 'lr_find.json'))
      ? join(run, 'lr_find.json')
      : null;
  if (!lrFile || !existsSync(lrFile))
    return '<p>No lr_find.json for this run (cxrtune lr-find --out RUN writes one).</p>';
  const r = readJson<LrFindResult>(lrFile);
  // JSON turned non-finite losses into null; the plot skips them.
  r.losses = r.losses.map((x) => (x === null ? NaN : x));
  r.smoothed = r.smoothed.map((x) => (x === null ? NaN : x));
  return (
    (await plot(lrFinderSpec(r, `LR range test — ${arch}`))) +
    `<p>Suggestions: steepest ${r.suggestions.steepest.toExponential(2)}, valley` +
    ` ${r.suggestions.valley.toExponential(2)}, minimum/10 ${r.suggestions.minimumDiv10.toExponential(2)}. Proposed` +
    ` α_min..α_max = ${r.proposed.lrMin.toExponential(1)}..${r.proposed.lrMax.toExponential(1)}; the run used` +
    ` ${Number(cfg.lrMin).toExponential(1)}..${Number(cfg.lrMax).toExponential(1)}${
      Number(cfg.lrMax) === r.proposed.lrMax && Number(cfg.lrMin) === r.proposed.lrMin
        ? " — the finder's proposal"
        : " — not the finder's proposal (set by a flag, a --config file or a preset)"
    }.</p>`
  );
}

/** LR and momentum per layer group over the iterations (trace.csv). */
async function scheduleSection(traceFile: string, arch: string, cfg: Record<string, unknown>): Promise<string> {
  const names = await groupNames(arch, cfg.groups as GroupMode);
  return (
    (await plot(scheduleSpec(readTrace(traceFile), names))) +
    `<p>${escapeHtml(String(cfg.schedule))} schedule per iteration; ${
      cfg.discriminative
        ? `discriminative: ${names.length || '?'} groups (${escapeHtml(String(cfg.groups))}),` +
          ` ${escapeHtml(String(cfg.spacing))} spacing from α_min (input side) to the schedule's α_t (head)`
        : 'one LR for all layers (traditional)'
    }; momentum ${escapeHtml(String(cfg.momentumMode))} to the LR.</p>`
  );
}

/** Tables 2–5 analogs. */
function tablesSection(
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

/** One evaluation: its data and protocol, per-source rates, confusion matrix, ROC, PR and reliability. */
async function evaluationSection(e: Evaluation): Promise<string> {
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
    `<div class="row">${await plot(confusionSpec(m.confusion, [neg, cls[pc]!], 'Confusion matrix (Fig. 8)'))}` +
    (both
      ? (await plot(rocSpec(m.roc, m.auc, ops, 'ROC'))) +
        (await plot(prSpec(m.pr, m.averagePrecision, m.positives / m.n, 'Precision–recall')))
      : '') +
    `${await plot(reliabilitySpec(m.calibration, 'Reliability'))}</div>`
  );
}

/** Top losses (Fig. 9) from top_losses.json and its image. */
function topLossesSection(tl: string): string {
  const r = readJson<Omit<TopLossResult, 'files'> & { split: string; layer: string }>(tl);
  const png = tl.replace(/\.json$/, '.png');
  return (
    `<p>The images the model gets most wrong (highest cross-entropy), each with the Grad-CAM (${escapeHtml(r.layer)})` +
    ` of the predicted class. ${r.wrong} of ${r.evaluated} images are misclassified.</p>` +
    (existsSync(png) ? `<img class="gallery" alt="top losses" src="${pngDataUrl(readFileSync(png))}">` : '') +
    table(
      ['#', 'predicted', 'actual', 'loss', 'p(actual)', 'image'],
      r.items.map((it, i) => [i + 1, it.predicted, it.actual, num(it.loss), num(it.probActual), basename(it.path)]),
    )
  );
}

/** Grad-CAM gallery and checks (Fig. 10) from gradcam_check.json and the checks of other layers beside it. */
async function gradcamSection(gc: string): Promise<string> {
  const r = readJson<CamCheckResult>(gc);
  // Further checks (other layers) in sub-folders of the same folder.
  const dirOf = gc.slice(0, -'/gradcam_check.json'.length);
  const others = readdirSync(dirOf, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dirOf, d.name, 'gradcam_check.json')))
    .map((d) => readJson<CamCheckResult>(join(dirOf, d.name, 'gradcam_check.json')));
  const checks = [r, ...others].filter((c) => c.pointing.n || c.lungMass.n);
  const gpng = gc.replace(/gradcam_check\.json$/, 'gradcam_gallery.png');
  const lungs = r.perImage.filter((p) => p.lungMass !== undefined).map((p) => p.lungMass!);
  return (
    (existsSync(gpng) ? `<img class="gallery" alt="Grad-CAM gallery" src="${pngDataUrl(readFileSync(gpng))}">` : '') +
    (checks.length
      ? table(
          ['measure', 'layer', 'value', 'chance level', 'images'],
          checks.flatMap(
            (c) =>
              [
                [
                  'pointing game (peak of the positive-class CAM inside a lesion)',
                  c.layer,
                  c.pointing.n
                    ? `${num(100 * c.pointing.rate, 1)} % (${c.pointing.hits}/${c.pointing.n})`
                    : 'n/a (no lesion masks)',
                  c.pointing.n ? `${num(100 * c.pointing.chance, 1)} %` : '',
                  c.pointing.n,
                ],
                [
                  'mean share of CAM mass inside the lesions',
                  c.layer,
                  c.lesionMass.n ? `${num(100 * c.lesionMass.mean, 1)} %` : 'n/a',
                  c.lesionMass.n ? `${num(100 * c.lesionMass.chance, 1)} %` : '',
                  c.lesionMass.n,
                ],
                [
                  'mean share of CAM mass inside the lung field',
                  c.layer,
                  c.lungMass.n ? `${num(100 * c.lungMass.mean, 1)} %` : 'n/a (no lung masks)',
                  c.lungMass.n ? `${num(100 * c.lungMass.chance, 1)} %` : '',
                  c.lungMass.n,
                ],
              ] as Cell[][],
          ),
        )
      : `<p>Grad-CAM (${escapeHtml(r.layer)}) of the positive class on positives and of the predicted class on the` +
        ` others. This set has no lesion or lung masks, so where the model looks is shown, not measured.</p>`) +
    (lungs.length
      ? await plot(shareHistogramSpec(lungs, 'share of Grad-CAM mass inside the lung field', 'Where does it look?'))
      : '') +
    `<p class="muted">Gallery and histogram: layer ${escapeHtml(r.layer)}; split ${escapeHtml(r.split)}. A deeper` +
    ` layer is more semantic but coarser (a 4×4 map at stride 32 cannot point inside a lesion a few percent of the` +
    ` image wide). Chance level: the share of the image the mask covers (a random point's hit rate; a uniform` +
    ` heatmap's mass).</p>`
  );
}

/** The self-contained page: inline style, a strict CSP (no scripts, no network), a nav over the sections. */
function pageHtml(title: string, run: string, sections: string[], parts: string[]): string {
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
