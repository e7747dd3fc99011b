// reproduce's records and tables: each run's figures, Table 3 as arms × sets (mean ± sd over
// seeds, the median seed's interval, the paired difference against the baseline), the mixed
// precision comparison, and the markdown printout (reproduce.md).
import { meanSd, pairedDifference, type MeanSd, type PairedDifference } from '../../recipe/pairedDifference.js';
import type { Protocol } from '../evaluate/protocol.js';
import { protocolLabel } from '../evaluate/protocol.js';
import type { Precision } from '../../engine/types.js';
import { formatDuration } from '../../util/progressLine.js';
import { ARM_LABEL, BASELINE, type Arm } from './ablations.js';
import type { ReproduceResult } from './reproduce.js';

export interface Interval {
  value: number;
  lo: number;
  hi: number;
}

export interface Figures {
  name: string;
  protocol: Protocol;
  n: number;
  auc: Interval;
  sensitivity: Interval;
  specificity: Interval;
  accuracy: Interval;
  threshold: number;
}

export interface ReproduceRun {
  arm: Arm;
  seed: number;
  precision: Precision;
  runDir: string;
  status: string;
  bestEpoch: number;
  seconds: number;
  imagesPerSecond: number;
  peakRssMiB: number;
  valid: Figures;
  external: Figures | null;
}

export const METRICS = ['auc', 'sensitivity', 'specificity'] as const;
type Metric = (typeof METRICS)[number];
type SetName = 'valid' | 'external';

export interface ArmRow {
  arm: Arm;
  set: SetName;
  name: string;
  protocol: Protocol;
  seeds: number[];
  /** Per metric: mean ± sd over seeds, the median seed's own interval, the paired difference against the baseline. */
  metrics: Record<Metric, { over: MeanSd; median: Interval; vsBaseline: PairedDifference | null }>;
}

export interface ArmTable {
  rows: ArmRow[];
  /** The paper arm against the baseline on AUC, per set: does its claim hold here? */
  claim: { set: SetName; protocol: Protocol; difference: PairedDifference; says: string }[];
  cost: { arm: Arm; seconds: MeanSd; imagesPerSecond: MeanSd; peakRssMiB: MeanSd }[];
}

export interface ReproduceTaskResult {
  task: string;
  title: string;
  why: string;
  arch: string;
  epochs: number;
  size: number;
  precisionUsed: Precision;
  lr: { lrMin: number; lrMax: number; from: string; why: string };
  arms: { arm: Arm; label: string }[];
  baseline: Arm;
  runs: ReproduceRun[];
  table: ArmTable;
  precision: { compared: boolean; note: string };
  report: { file: string; seed: number; run: string } | null;
  seconds: number;
}

/** The headline set of a run: its external set where the validation is INTERNAL, else the validation. */
export const headlineOf = (r: ReproduceRun): Figures =>
  r.valid.protocol === 'internal' && r.external ? r.external : r.valid;

const bySeed = (runs: ReproduceRun[]) => [...runs].sort((a, b) => a.seed - b.seed);

/** The run whose `metric` is the median of the arm's (the lower middle one for an even count). */
function medianInterval(runs: ReproduceRun[], set: SetName, metric: Metric): Interval {
  const have = runs.filter((r) => r[set]).sort((a, b) => a[set]![metric].value - b[set]![metric].value);
  const mid = have[Math.floor((have.length - 1) / 2)];
  return mid ? mid[set]![metric] : { value: NaN, lo: NaN, hi: NaN };
}

/** Table 3: each arm at the task's precision, on each set, over the seeds it and the baseline share. */
export function armTable(all: ReproduceRun[], arms: Arm[], precision: Precision): ArmTable {
  const runs = all.filter((r) => r.precision === precision);
  const of = (arm: Arm) => bySeed(runs.filter((r) => r.arm === arm));
  const base = of(BASELINE);
  const rows: ArmRow[] = [];
  const claim: ArmTable['claim'] = [];
  for (const set of ['valid', 'external'] as const) {
    if (!runs.some((r) => r[set])) continue;
    for (const arm of arms) {
      const mine = of(arm);
      if (!mine.length || !mine[0]![set]) continue;
      const value = (r: ReproduceRun | undefined, m: Metric) => r?.[set]?.[m].value ?? NaN;
      const metrics = {} as ArmRow['metrics'];
      for (const m of METRICS) {
        // Paired by seed: the baseline's run of each of this arm's seeds (NaN where it has none).
        const paired = mine.map((r) =>
          value(
            base.find((b) => b.seed === r.seed),
            m,
          ),
        );
        metrics[m] = {
          over: meanSd(mine.map((r) => value(r, m))),
          median: medianInterval(mine, set, m),
          vsBaseline:
            arm === BASELINE
              ? null
              : pairedDifference(
                  mine.map((r) => value(r, m)),
                  paired,
                ),
        };
      }
      const first = mine[0]![set]!;
      rows.push({ arm, set, name: first.name, protocol: first.protocol, seeds: mine.map((r) => r.seed), metrics });
      if (arm === 'paper' && metrics.auc.vsBaseline) {
        // A set of one class (figure1: positives only) has no AUC: its claim is read on the rate it has.
        const on = claimMetric(metrics);
        const difference = metrics[on].vsBaseline!;
        claim.push({ set, protocol: first.protocol, difference, says: claimText(difference, on) });
      }
    }
  }
  const cost = arms
    .map((arm) => of(arm))
    .filter((r) => r.length)
    .map((r) => ({
      arm: r[0]!.arm,
      seconds: meanSd(r.map((x) => x.seconds)),
      imagesPerSecond: meanSd(r.map((x) => x.imagesPerSecond)),
      peakRssMiB: meanSd(r.map((x) => x.peakRssMiB)),
    }));
  return { rows, claim, cost };
}

/** The metric a claim is read on: the AUC, or on a set without one (a single class) the rate it has. */
function claimMetric(metrics: ArmRow['metrics']): Metric {
  if ((metrics.auc.vsBaseline?.n ?? 0) >= 2) return 'auc';
  const has = (m: Metric) => (metrics[m].vsBaseline?.n ?? 0) >= 2;
  return has('sensitivity') ? 'sensitivity' : has('specificity') ? 'specificity' : 'auc';
}

/**
 * The paper's claim (its recipe beats the traditional baseline) read off the paired difference of
 * the AUC, or of the sensitivity or specificity on a set of one class.
 */
export function claimText(d: PairedDifference, metric: Metric = 'auc'): string {
  if (d.n < 2) return 'not testable: fewer than two paired seeds';
  const k = metric === 'auc' ? 1 : 100;
  const digits = metric === 'auc' ? 3 : 1;
  const name = metric === 'auc' ? 'ΔAUC' : `Δ${metric} (points; one class, so no AUC)`;
  const iv =
    `${name} ${signed(k * d.mean, digits)} (95 % ${signed(k * d.lo, digits)} to ${signed(k * d.hi, digits)}, ` +
    `${d.n} seeds)`;
  if (d.verdict === 'a') return `holds: ${iv}`;
  if (d.verdict === 'b') return `reversed — the traditional baseline is better: ${iv}`;
  return `not shown — the interval includes no difference: ${iv}`;
}

const signed = (x: number, digits = 3) =>
  Number.isNaN(x) ? '—' : `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(digits)}`;
const pct = (x: number) => (Number.isNaN(x) ? '—' : (100 * x).toFixed(1));

/** One Table 3 cell; a figure a set cannot have (specificity without negatives) is a bare dash. */
export function cell(metric: Metric, c: ArmRow['metrics'][Metric]): string {
  if (Number.isNaN(c.over.mean)) return '—';
  const scale = metric === 'auc' ? (x: number) => (Number.isNaN(x) ? '—' : x.toFixed(3)) : pct;
  const sd = Number.isNaN(c.over.sd) ? '' : ` ± ${scale(c.over.sd)}`;
  return `${scale(c.over.mean)}${sd} [${scale(c.median.lo)}–${scale(c.median.hi)}]`;
}

function diffCell(metric: Metric, d: PairedDifference | null): string {
  if (!d) return 'baseline';
  const digits = metric === 'auc' ? 3 : 1;
  const k = metric === 'auc' ? 1 : 100;
  if (d.n < 2) return d.n ? signed(k * d.mean, digits) : '—';
  return `${signed(k * d.mean, digits)} (${signed(k * d.lo, digits)} to ${signed(k * d.hi, digits)})`;
}

/** reproduce.md: per task, Table 3 (figures and paired differences), the claim, costs and precision. */
export function formatReproduce(r: ReproduceResult): string {
  const L: string[] = ['# cxrtune reproduce', ''];
  L.push(
    `Budget: ${r.budget.seeds} seeds per arm${r.budget.epochs ? `, ${r.budget.epochs} epochs` : ''}` +
      `${r.budget.size ? ` at ${r.budget.size} px` : ''}${r.budget.quick ? ' (--quick)' : ''}; ` +
      `${(r.seconds / 60).toFixed(1)} min in all.`,
    '',
    "Each cell: mean ± sd over seeds [the 95 % interval of the median seed's run]; AUC as a fraction, " +
      'sensitivity and specificity in %. Δ: the paired difference against the traditional baseline, ' +
      'mean (95 % t interval over seeds). Every figure names its protocol.',
    '',
  );
  for (const t of r.tasks) {
    L.push(`## ${t.task}: ${t.title}`, '', `${t.why}.`, '');
    L.push(
      `${t.arch}, ${t.epochs} epochs at ${t.size} px, ${t.precisionUsed}; LR range α ` +
        `${t.lr.lrMin.toExponential(1)}..${t.lr.lrMax.toExponential(1)} (${t.lr.why}).`,
      '',
    );
    L.push('### Table 3 — the recipe against the traditional baseline, as ablations', '');
    L.push('| set | arm | AUC | Δ AUC | sensitivity | Δ sens. | specificity | Δ spec. |');
    L.push('|---|---|---|---|---|---|---|---|');
    for (const row of t.table.rows) {
      const m = row.metrics;
      L.push(
        `| ${protocolLabel(row.protocol)} ${row.name} | ${ARM_LABEL[row.arm]} | ${cell('auc', m.auc)} | ` +
          `${diffCell('auc', m.auc.vsBaseline)} | ${cell('sensitivity', m.sensitivity)} | ` +
          `${diffCell('sensitivity', m.sensitivity.vsBaseline)} | ${cell('specificity', m.specificity)} | ` +
          `${diffCell('specificity', m.specificity.vsBaseline)} |`,
      );
    }
    L.push('');
    for (const c of t.table.claim) L.push(`- The paper's claim on ${protocolLabel(c.protocol)}: ${c.says}.`);
    L.push('', '| arm | training s | images/s | peak RSS MiB |', '|---|---|---|---|');
    for (const c of t.table.cost)
      L.push(
        `| ${ARM_LABEL[c.arm]} | ${c.seconds.mean.toFixed(0)} ± ${(c.seconds.sd || 0).toFixed(0)} | ` +
          `${c.imagesPerSecond.mean.toFixed(1)} | ${c.peakRssMiB.mean.toFixed(0)} |`,
      );
    L.push('', `### Mixed precision against fp32`, '', precisionText(t), '');
    if (t.report)
      L.push(
        `Tables 2, 4 and 5 and Figures 7–10: ${t.report.file} (the paper arm's median seed, ${t.report.seed}).`,
        '',
      );
  }
  return `${L.join('\n')}\n`;
}

function precisionText(t: ReproduceTaskResult): string {
  if (!t.precision.compared) return `Not compared: ${t.precision.note}.`;
  const paper = t.runs.filter((r) => r.arm === 'paper');
  const precisions = [...new Set(paper.map((r) => r.precision))];
  const rows = precisions.map((p) => {
    const rs = bySeed(paper.filter((r) => r.precision === p));
    const auc = meanSd(rs.map((r) => headlineOf(r).auc.value));
    const mean = (f: (r: ReproduceRun) => number) => meanSd(rs.map(f)).mean;
    return (
      `| ${p} | ${mean((r) => r.seconds).toFixed(0)} | ${mean((r) => r.imagesPerSecond).toFixed(1)} | ` +
      `${mean((r) => r.peakRssMiB).toFixed(0)} | ` +
      `${auc.mean.toFixed(3)} ± ${(auc.sd || 0).toFixed(3)} (${protocolLabel(headlineOf(rs[0]!).protocol)}) |`
    );
  });
  return [
    `${t.precision.note}.`,
    '',
    '| precision | training s | images/s | peak RSS MiB | headline AUC |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

/** One run's progress line; a set of one class has no AUC, so the rate it has (as claimMetric reads it). */
export const oneLine = (r: Pick<ReproduceRun, 'valid' | 'external' | 'seconds'>) => {
  const f = (x: Figures | null) => {
    if (!x) return '';
    if (!Number.isNaN(x.auc.value)) {
      return `${x.protocol} AUC ${x.auc.value.toFixed(3)} (${x.auc.lo.toFixed(3)}–${x.auc.hi.toFixed(3)})`;
    }
    const on = Number.isNaN(x.sensitivity.value) ? 'specificity' : 'sensitivity';
    const v = x[on];
    return `${x.protocol} ${on} ${pct(v.value)} % (${pct(v.lo)}–${pct(v.hi)}; one class, no AUC)`;
  };
  return [f(r.valid), f(r.external), `${formatDuration(r.seconds)}`].filter(Boolean).join('; ');
};
