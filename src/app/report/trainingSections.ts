// The report's training sections: the run configuration table, the LR range test (Fig. 7),
// LR and momentum per layer group (trace.csv) and the training curves per epoch.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Model } from '../../engine/model.js';
import type { Arch } from '../../engine/types.js';
import type { EpochResult } from '../../recipe/callbacks.js';
import { layerGroups, type GroupMode } from '../../recipe/discriminative.js';
import type { LrFindResult } from '../../recipe/lrFinder.js';
import { scheduleSpec, trainingCurvesSpec, type TracePoint } from './trainingPlots.js';
import { escapeHtml, num, table, type Cell } from './html.js';
import { lrFinderSpec } from './plots.js';
import { plot, readJson } from './sectionParts.js';

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

export function configTable(cfg: Record<string, unknown>): string {
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

/** The LR range test's curve and suggestions, and whether the run used its proposal. */
export async function lrFinderSection(
  o: { lrFind?: string },
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
export async function scheduleSection(traceFile: string, arch: string, cfg: Record<string, unknown>): Promise<string> {
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

/** Loss, accuracy, sensitivity, specificity and AUC per epoch (history.json): the plot and its table. */
export async function trainingCurvesSection(history: EpochResult[]): Promise<string> {
  return (
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
    )
  );
}
