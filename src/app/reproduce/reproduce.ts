// `cxrtune reproduce`: the paper's comparisons regenerated on real data, every figure with its
// protocol and an interval. Per task, the data is built once (the demo's steps: the recipe's
// preset, split and lung crop), then every ablation arm (ablations.ts) trains with the same seeds
// and is evaluated on the task's validation split and external set. Table 3 is the arms' figures
// as mean ± sd over seeds with paired differences against the traditional baseline; Tables 2, 4
// and 5 and Figures 7–10 are the report of the paper arm's median seed (report.html); mixed
// precision is set against fp32 on the paper arm where the CPU computes bf16 natively.
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cpuHasBf16 } from '../../engine/runtime.js';
import type { Arch, Precision } from '../../engine/types.js';
import { formatDuration } from '../../util/progressLine.js';
import { demoContext, type DemoContext } from '../demo/demoContext.js';
import { demoData, demoLungs } from '../demo/demoData.js';
import { demoExplain, demoExternalSet } from '../demo/demoEvaluation.js';
import { demoLrFind, demoTrain } from '../demo/demoTraining.js';
import { evaluate } from '../evaluate/evaluate.js';
import type { Evaluation } from '../evaluate/evaluationRecord.js';
import { protocolOf } from '../evaluate/protocol.js';
import { buildReport } from '../report/report.js';
import { ARM_LABEL, armFlags, BASELINE, type Arm } from './ablations.js';
import { REPRODUCE_TASKS, type ReproduceTaskName } from './reproduceTasks.js';
import {
  armTable,
  formatReproduce,
  headlineOf,
  oneLine,
  type Figures,
  type ReproduceRun,
  type ReproduceTaskResult,
} from './tables.js';

const MARKER = '.cxrtune-reproduce';

/** --quick: every arm and ≥ 5 seeds, at a budget that runs in minutes on 2 cores. */
export const QUICK = { seeds: 5, epochs: 2, size: 128 };

export interface ReproduceOptions {
  /** ../shared/data-style folder; without it, phantoms (the method's mechanics, INTERNAL only). */
  data?: string;
  out: string;
  tasks?: ReproduceTaskName[];
  arms: Arm[];
  seeds?: number;
  epochs?: number;
  size?: number;
  quick?: boolean;
  /** Set the paper arm's mixed precision against fp32 (default: where the CPU has native bf16). */
  precisionCheck?: boolean;
  pretrained?: string;
  arch?: Arch;
  threads?: number;
  /** Phantoms: how many. */
  n?: number;
  log?: (line: string) => void;
}

export interface ReproduceResult {
  format: 'cxrtune-reproduce/1';
  created: string;
  out: string;
  budget: { seeds: number; epochs: number | null; size: number | null; quick: boolean };
  tasks: ReproduceTaskResult[];
  seconds: number;
  files: { json: string; markdown: string };
}

export async function runReproduce(o: ReproduceOptions): Promise<ReproduceResult> {
  const t0 = performance.now();
  const log = o.log ?? (() => undefined);
  const out = resolve(o.out);
  if (existsSync(out) && readdirSync(out).length) {
    // Only ever replace a folder an earlier reproduce made.
    if (!existsSync(join(out, MARKER)))
      throw new Error(`${o.out} exists and is not a reproduce folder; choose another --out`);
    rmSync(out, { recursive: true, force: true });
  }
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, MARKER), 'made by cxrtune reproduce\n');
  const seeds = o.seeds ?? 5;
  if (!Number.isInteger(seeds) || seeds < 1) throw new Error(`--seeds must be a positive integer (got ${o.seeds})`);
  const epochs = o.epochs ?? (o.quick ? QUICK.epochs : undefined);
  const size = o.size ?? (o.quick ? QUICK.size : undefined);
  const tasks = o.tasks ?? (o.data ? (['covid', 'tb'] as const) : (['phantoms'] as const));
  const results: ReproduceTaskResult[] = [];
  for (const name of tasks) {
    const t = REPRODUCE_TASKS[name];
    if (!o.data && t.needsData) throw new Error(`task '${name}' needs --data (real radiographs)`);
    if (o.data && !t.needsData) throw new Error(`task '${name}' runs on phantoms; drop --data`);
    log(`== ${name}: ${t.title}`);
    results.push(await reproduceTask(o, name, { seeds, epochs, size }, join(out, name), log));
  }
  const result: ReproduceResult = {
    format: 'cxrtune-reproduce/1',
    created: new Date().toISOString(),
    out,
    budget: { seeds, epochs: epochs ?? null, size: size ?? null, quick: !!o.quick },
    tasks: results,
    seconds: (performance.now() - t0) / 1000,
    files: { json: join(out, 'reproduce.json'), markdown: join(out, 'reproduce.md') },
  };
  writeFileSync(result.files.json, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(result.files.markdown, formatReproduce(result));
  log(`reproduce: ${formatDuration(result.seconds)}; tables → ${result.files.markdown}`);
  return result;
}

/** One task: data once, every arm × seed trained and evaluated, the tables, the median paper run's report. */
async function reproduceTask(
  o: ReproduceOptions,
  name: ReproduceTaskName,
  budget: { seeds: number; epochs: number | undefined; size: number | undefined },
  out: string,
  log: (line: string) => void,
): Promise<ReproduceTaskResult> {
  const t0 = performance.now();
  const t = REPRODUCE_TASKS[name];
  const quiet = () => undefined;
  const c = await demoContext(
    {
      out,
      ...t.demo(o.data),
      ...(o.pretrained ? { pretrained: o.pretrained } : {}),
      ...(o.arch ? { arch: o.arch } : {}),
      ...(budget.epochs ? { epochs: budget.epochs } : {}),
      ...(budget.size ? { size: budget.size } : {}),
      ...(o.threads ? { threads: o.threads } : {}),
      ...(o.n ? { n: o.n } : {}),
      seed: 1,
    },
    out,
    quiet,
  );
  mkdirSync(out, { recursive: true });
  const built = await demoData(c);
  const { manifest } = await demoLungs(c, built);
  // Fig. 7 and the arms' range: the LR range test once per task (the recipe's fixed range where it has one).
  const finder: DemoContext = { ...c, runDir: join(out, 'lr-find') };
  const { lr } = await demoLrFind(finder, manifest);
  const external = await demoExternalSet(c);
  log(
    `   data ${manifest}; α ${lr.lrMin.toExponential(1)}..${lr.lrMax.toExponential(1)} (${lr.why}); ` +
      `${c.epochs} epochs at ${c.size} px, ${c.precision}; external: ${external?.name ?? 'none'}`,
  );
  const runs: ReproduceRun[] = [];
  const trainOne = async (arm: Arm, seed: number, precision: Precision, tag = '') => {
    const runDir = join(out, 'runs', `${arm}${tag}-s${seed}`);
    const rc: DemoContext = { ...c, seed, precision, runDir, log: quiet };
    const summary = await demoTrain(rc, manifest, lr, armFlags(arm, c.arch, lr));
    const valid = await evaluate({
      model: runDir,
      manifest,
      split: 'valid',
      out: join(runDir, 'eval-valid'),
      name: `${name} validation`,
      threads: c.threads,
    });
    const ext = external
      ? await evaluate({
          model: runDir,
          manifest: external.manifest,
          split: 'test',
          out: join(runDir, 'eval-external'),
          name: external.name,
          threads: c.threads,
        })
      : null;
    const run: ReproduceRun = {
      arm,
      seed,
      precision,
      runDir,
      status: summary.status,
      bestEpoch: summary.best.epoch,
      seconds: summary.seconds,
      imagesPerSecond: summary.imagesPerSecond,
      peakRssMiB: summary.peakRssMiB,
      valid: figures(valid),
      external: ext ? figures(ext) : null,
    };
    log(`   ${arm}${tag} seed ${seed}: ${oneLine(run)}`);
    return run;
  };
  for (let seed = 1; seed <= budget.seeds; seed++)
    for (const arm of o.arms) runs.push(await trainOne(arm, seed, c.precision));
  // Mixed precision against fp32 on the paper arm, where the CPU computes bf16 natively (elsewhere bf16 runs on
  // reference kernels many times slower than fp32, so the demo trains fp32 and there is nothing to compare).
  const precision: ReproduceTaskResult['precision'] = { compared: false, note: '' };
  const wantPrecision = o.precisionCheck ?? cpuHasBf16();
  if (!o.arms.includes('paper')) precision.note = 'the paper arm was not run';
  else if (!wantPrecision)
    precision.note = 'this CPU has no native bf16: training runs fp32, bf16 is not compared (cxrtune info)';
  else {
    const other: Precision = c.precision === 'fp32' ? 'bf16' : 'fp32';
    for (let seed = 1; seed <= budget.seeds; seed++) runs.push(await trainOne('paper', seed, other, `-${other}`));
    precision.compared = true;
    precision.note = `paper arm at ${c.precision} and ${other}, same seeds`;
  }
  const table = armTable(runs, o.arms, c.precision);
  // Tables 2, 4, 5 and Figs. 7–10: the paper arm's median seed by its headline AUC, explained and reported.
  const report = await medianReport(c, out, manifest, runs, finder.runDir, external !== null);
  return {
    task: name,
    title: t.title,
    why: t.why,
    arch: c.arch,
    epochs: c.epochs,
    size: c.size,
    precisionUsed: c.precision,
    lr: { lrMin: lr.lrMin, lrMax: lr.lrMax, from: lr.from, why: lr.why },
    arms: o.arms.map((a) => ({ arm: a, label: ARM_LABEL[a] })),
    baseline: BASELINE,
    runs,
    table,
    precision,
    report,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** The figures Table 3 compares: each with its interval and the protocol of its set. */
function figures(e: Evaluation): Figures {
  const m = e.metrics;
  return {
    name: e.name,
    protocol: protocolOf(e).protocol,
    n: m.n,
    auc: { value: m.auc.value, lo: m.auc.lo, hi: m.auc.hi },
    sensitivity: { value: m.sensitivity.value, lo: m.sensitivity.lo, hi: m.sensitivity.hi },
    specificity: { value: m.specificity.value, lo: m.specificity.lo, hi: m.specificity.hi },
    accuracy: { value: m.accuracy.value, lo: m.accuracy.lo, hi: m.accuracy.hi },
    threshold: m.threshold,
  };
}

async function medianReport(
  c: DemoContext,
  out: string,
  manifest: string,
  runs: ReproduceRun[],
  lrFindDir: string,
  external: boolean,
): Promise<ReproduceTaskResult['report']> {
  const paper = runs
    .filter((r) => r.arm === 'paper' && r.precision === c.precision)
    .sort((a, b) => headlineOf(a).auc.value - headlineOf(b).auc.value);
  if (!paper.length) return null;
  const chosen = paper[Math.floor((paper.length - 1) / 2)]!;
  const rc: DemoContext = { ...c, seed: chosen.seed, runDir: chosen.runDir, log: () => undefined };
  const evalDir = join(chosen.runDir, 'eval-valid');
  await demoExplain(rc, manifest, evalDir);
  for (const f of ['lr_find.json', 'lr_find.svg'])
    if (existsSync(join(lrFindDir, f))) copyFileSync(join(lrFindDir, f), join(chosen.runDir, f));
  const file = join(out, 'report.html');
  await buildReport({
    run: chosen.runDir,
    evals: external ? [evalDir, join(chosen.runDir, 'eval-external')] : [evalDir],
    out: file,
    title: `cxrtune reproduce — ${c.arch}, the paper arm's median seed (${chosen.seed})`,
  });
  return { file, seed: chosen.seed, run: chosen.runDir };
}
