// `cxrtune report`: one self-contained HTML file (inline SVG plots rendered from Vega-Lite,
// images as data URLs, no scripts, no network) covering a run and its evaluations: run
// configuration, data summary, LR finder (Fig. 7), LR/momentum per group, training curves,
// analogs of the paper's Tables 2–5 with intervals, confusion matrices (Fig. 8), ROC, PR,
// reliability, the shortcut audit (when RUN/audit/audit.json exists), top losses (Fig. 9),
// Grad-CAM gallery and checks (Fig. 10), limitations.
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import { readManifest } from '../../data/manifest.js';
import { summarise, type DatasetSummary } from '../../data/summary.js';
import { taskFor, taskOfModel, type TaskRecord } from '../../data/task.js';
import type { EpochResult } from '../../recipe/callbacks.js';
import { formatDuration } from '../../util/progressLine.js';
import { findAudit } from '../interpret/auditRecord.js';
import { protocolLabel, protocolOf } from '../evaluate/protocol.js';
import { RUN_FILES } from '../train/runFolder.js';
import type { RunSummary } from '../train/fitRecord.js';
import { flattenTrainConfig } from '../train/trainConfig.js';
import { auditSection } from './auditSection.js';
import { dataTable } from './dataSection.js';
import { evaluationSection, readEvaluations } from './evaluationSection.js';
import { gradcamSection, topLossesSection } from './explainSections.js';
import { escapeHtml, num } from './html.js';
import { limitations } from './limitations.js';
import { pageHtml } from './page.js';
import { readJson } from './sectionParts.js';
import { summarySection } from './summarySection.js';
import { tablesSection } from './tablesSection.js';
import { configTable, lrFinderSection, scheduleSection, trainingCurvesSection } from './trainingSections.js';

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

function find(dirs: string[], file: string): string | null {
  for (const d of dirs) if (existsSync(join(d, file))) return join(d, file);
  return null;
}

/** What the model screens for: its evaluations' record, else its best checkpoint's, else its classes'. */
function reportTask(run: string, evals: { model: { classes: string[]; positiveClass: number; task?: TaskRecord } }[]) {
  const m = evals[0]?.model;
  if (m?.task) return m.task;
  const best = join(run, RUN_FILES.best, 'model.json');
  if (existsSync(best))
    return taskOfModel(readJson<{ classes: string[]; positiveClass: number; task?: unknown }>(best));
  return m ? taskFor(m.classes, m.positiveClass) : null;
}

/** The finding screened for, against which classes, and the intended use. */
function taskParagraph(t: TaskRecord): string {
  const others = Object.entries(t.classNames)
    .filter(([c]) => c !== t.positive)
    .map(([, name]) => name);
  return (
    `<p>Screens for <b>${escapeHtml(t.finding)}</b> (class ${escapeHtml(t.classNames[t.positive] ?? t.positive)}` +
    `${others.length ? ` against ${escapeHtml(others.join(', '))}` : ''}). ${escapeHtml(t.intendedUse)}</p>`
  );
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
  const task = reportTask(run, evals);

  section(
    'summary',
    'Summary',
    (task ? taskParagraph(task) : '') +
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
  if (history.length) section('training', 'Training curves', await trainingCurvesSection(history));
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
