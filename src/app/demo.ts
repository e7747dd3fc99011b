// `cxrtune demo` (npm run demo): the whole method end to end, printing where it is.
// Default: the embedded phantoms (generated on the fly, no download) → LR range test →
// discriminative one-cycle training (bf16 where the CPU has it) → evaluation with intervals
// → top losses, Grad-CAM and the pointing game → report.html; sized to finish in a few
// minutes on 2 cores. `--data DIR` (../shared/data layout) or `--manifest M` runs the paper's
// protocol on real data instead (D_A built with the paper-da preset, paper preset schedule,
// LR range from the finder, optional ImageNet weights with --pretrained).
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildDataset, paperDaPreset } from '../data/build.js';
import { writePhantoms } from '../data/phantom.js';
import { formatSummaryTable } from '../data/summary.js';
import { projectRoot } from '../engine/native.js';
import { cpuHasBf16, physicalCores } from '../engine/runtime.js';
import { weightsInfo, weightsRef } from '../engine/weights/weightsFile.js';
import { ARCHS, type Arch, type Precision } from '../engine/types.js';
import type { TrainerCallback } from '../recipe/callbacks.js';
import { formatDuration } from '../recipe/progressBar.js';
import { audit } from './audit.js';
import { camCheck, type CamCheckResult } from './camCheck.js';
import { evaluate, formatEvaluation, type Evaluation } from './evaluate.js';
import { trainRun, type RunSummary } from './experiment.js';
import { explainTopLosses } from './explain.js';
import { runLrFind } from './lrFind.js';
import { familyOf } from '../engine/models/registry.js';
import { presetValues } from './presets.js';
import { buildReport, headlineEvaluation } from './report/report.js';
import { resolveTrainConfig } from './trainConfig.js';

export interface DemoOptions {
  out: string;
  /** ../shared/data-style folder: build D_A with the paper-da preset. */
  data?: string;
  /** Or any manifest with train/valid splits. */
  manifest?: string;
  /** Weights file/folder, 'auto' (default: CXRTUNE_PRETRAINED, else the shared MobileNetV2 when present) or 'none'. */
  pretrained?: string;
  arch?: Arch;
  size?: number;
  epochs?: number;
  batch?: number;
  /** Phantoms: how many (half covid). */
  n?: number;
  seed?: number;
  precision?: Precision;
  threads?: number;
  log?: (line: string) => void;
  callbacks?: TrainerCallback[];
  signal?: AbortSignal;
}

export interface DemoResult {
  out: string;
  mode: 'phantoms' | 'real';
  pretrained: string | null;
  arch: Arch;
  seconds: number;
  steps: { name: string; seconds: number }[];
  /** The shortcut audit's overall verdict and headline line. */
  audit: { verdict: string; headline: string };
  run: RunSummary;
  /** The validation split's evaluation (its protocol: evaluation.protocol). */
  evaluation: Evaluation;
  /** Real data: figure1 as an external set, when ../shared/data has it. */
  external: Evaluation | null;
  /** The figure the report headlines: source-held-out, else external, else (labelled INTERNAL) the validation. */
  headline: Evaluation;
  gradcam: CamCheckResult | null;
  report: string;
  lr: { lrMin: number; lrMax: number; from: 'lr-find' | 'preset'; why: string; proposed: { lrMin: number; lrMax: number } };
}

const MARKER = '.cxrtune-demo';


/**
 * Phantom demo settings, chosen so a 2-core CPU finishes in a few minutes with clear results:
 * ImageNet MobileNetV2 fine-tuned (97 % validation accuracy after one epoch) when its weights
 * are on this machine, else ResNet-18 from scratch (needs more epochs).
 */
export const PHANTOM_DEMO = { n: 720, size: 128, arch: 'resnet18' as Arch, epochs: 6, pretrainedEpochs: 4, batch: 16, lrFindIterations: 60 };

/** Where `--pretrained auto` looks: $CXRTUNE_PRETRAINED, then the shared folder beside the project. */
export function autoPretrained(): string | null {
  const env = process.env.CXRTUNE_PRETRAINED;
  if (env) return existsSync(env) ? resolve(env) : null;
  const shared = join(projectRoot(), '..', 'shared', 'pretrained', 'mobilenet_v2-imagenet-ptq.safetensors');
  return existsSync(shared) ? shared : null;
}

/**
 * The training range is the LR finder's proposal (its suggestion as α_max, α_min = α_max/100,
 * recipe/lrFinder.ts), as in the paper. Only a sweep that proposes nothing usable (no finite
 * suggestion) falls back to the family's paper preset, and the result says why.
 */
export function chooseLr(proposed: { lrMin: number; lrMax: number }, fallback: { lrMin: number; lrMax: number }): { lrMin: number; lrMax: number; from: 'lr-find' | 'preset'; why: string } {
  if (Number.isFinite(proposed.lrMax) && proposed.lrMax > 0 && Number.isFinite(proposed.lrMin) && proposed.lrMin > 0) {
    return { ...proposed, from: 'lr-find', why: 'the LR finder\'s proposal' };
  }
  return { ...fallback, from: 'preset', why: `the LR finder proposed no usable range (α_max ${proposed.lrMax}); the paper preset's range instead` };
}

/** What every demo step reads: the options and the settings resolved from them. */
interface DemoContext {
  o: DemoOptions;
  out: string;
  runDir: string;
  log: (line: string) => void;
  real: boolean;
  seed: number;
  precision: Precision;
  threads: number;
  pretrained: string | null;
  arch: Arch;
  size: number;
  batch: number;
  epochs: number;
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const t0 = performance.now();
  const log = o.log ?? (() => undefined);
  const out = resolve(o.out);
  if (existsSync(out)) {
    // Only ever remove a folder an earlier demo made.
    if (!existsSync(join(out, MARKER))) throw new Error(`${o.out} exists and is not a demo folder; choose another --out`);
    rmSync(out, { recursive: true, force: true });
  }
  const steps: { name: string; seconds: number }[] = [];
  let ts = performance.now();
  const step = (name: string) => {
    const now = performance.now();
    steps.push({ name, seconds: (now - ts) / 1000 });
    log(`  done in ${formatDuration((now - ts) / 1000)} (total ${formatDuration((now - t0) / 1000)})`);
    ts = now;
  };
  const c = await demoContext(o, out, log);
  log(c.pretrained ? `weights: ImageNet ${c.arch} from ${c.pretrained} (--pretrained none trains from scratch)` : `weights: none — ${c.arch} from random initialisation${o.pretrained === 'none' ? '' : ' (no pretrained file found; --pretrained FILE to fine-tune)'}`);
  // A marker first: a crashed demo's folder can still be cleaned by the next one.
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, MARKER), 'made by cxrtune demo\n');

  const manifest = await demoData(c);
  step('data');
  const { proposed, lr } = await demoLrFind(c, manifest);
  step('lr-find');
  const run = await demoTrain(c, manifest, lr);
  step('train');
  const { evalDir, evaluation, external, headline } = await demoEvaluate(c, manifest);
  step('evaluate');
  const gradcam = await demoExplain(c, manifest, evalDir);
  step('explain');
  const shortcut = await demoAudit(c, manifest);
  step('audit');
  const reportFile = await demoReport(c, evalDir, external !== null);
  step('report');
  return { out, mode: c.real ? 'real' : 'phantoms', pretrained: c.pretrained, arch: c.arch, seconds: (performance.now() - t0) / 1000, steps, run, evaluation, external, headline, gradcam, audit: { verdict: shortcut.verdict, headline: shortcut.lines[0]! }, report: reportFile, lr: { ...lr, proposed: { lrMin: proposed.lrMin, lrMax: proposed.lrMax } } };
}

/** Settings from the options: real data or phantoms, weights (and the arch they declare), sizes. */
async function demoContext(o: DemoOptions, out: string, log: (line: string) => void): Promise<DemoContext> {
  const real = Boolean(o.data || o.manifest);
  const seed = o.seed ?? 0;
  const precision: Precision = o.precision ?? (cpuHasBf16() ? 'bf16' : 'fp32');
  const threads = o.threads ?? physicalCores();
  const pretrained = o.pretrained === 'none' ? null : !o.pretrained || o.pretrained === 'auto' ? autoPretrained() : weightsRef(o.pretrained);
  let arch: Arch = o.arch ?? PHANTOM_DEMO.arch;
  if (pretrained && !o.arch) {
    const meta = (await weightsInfo(pretrained)).metadata;
    if (meta.arch && (ARCHS as readonly string[]).includes(meta.arch)) arch = meta.arch as Arch;
  }
  const size = o.size ?? (real ? 224 : PHANTOM_DEMO.size);
  const batch = o.batch ?? PHANTOM_DEMO.batch;
  const epochs = o.epochs ?? (real ? 20 : pretrained ? PHANTOM_DEMO.pretrainedEpochs : PHANTOM_DEMO.epochs);
  return { o, out, runDir: join(out, 'run'), log, real, seed, precision, threads, pretrained, arch, size, batch, epochs };
}

/** 1. Data: the given manifest, the paper's D_A built from --data, or phantoms. */
async function demoData(c: DemoContext): Promise<string> {
  const { o, out, log, seed, size } = c;
  if (o.manifest) {
    const manifest = resolve(o.manifest);
    log(`[1/7] data: using ${manifest}`);
    return manifest;
  } else if (o.data) {
    log(`[1/7] data: building the paper's D_A from ${o.data} (covid-chestxray COVID-19 frontal + as many negatives; patient-level 70/30 split)`);
    const r = await buildDataset({ ...paperDaPreset(o.data), seed, out: join(out, 'data'), onError: 'skip' });
    log(formatSummaryTable(r.summary).split('\n').map((l) => `      ${l}`).join('\n'));
    return r.manifestFile;
  }
  const n = o.n ?? PHANTOM_DEMO.n;
  log(`[1/7] data: drawing ${n} phantom radiographs (${size} px; half with ground-glass lesions) → ${join(out, 'data')}`);
  const r = await writePhantoms({ n, size, seed, out: join(out, 'data'), split: '0.7,0.3', sheetSize: 32 });
  return r.manifestFile;
}

/** 2. LR range test, and the training range chosen from it. */
async function demoLrFind(c: DemoContext, manifest: string) {
  const { arch, pretrained, precision, runDir, size, batch, seed, threads, real, log } = c;
  log(`[2/7] lr-find: ${arch}${pretrained ? ' (pretrained)' : ''}, ${precision}, exponential sweep 1e-6 → 1`);
  const lf = await runLrFind({
    manifest, arch, pretrained, out: runDir, size, batch, seed, start: 1e-6, end: 1,
    iterations: real ? 100 : PHANTOM_DEMO.lrFindIterations, precision, threads, log: (m) => log(`      ${m}`),
  });
  const proposed = lf.result.proposed;
  // Real data follows the paper (its preset's range, replaced by the finder's where it proposes one in a sane window).
  const paper = presetValues(familyOf(arch).paperPreset, arch);
  const lr = chooseLr(proposed, { lrMin: paper.lrMin!, lrMax: paper.lrMax! });
  log(`      finder proposes ${proposed.lrMin.toExponential(1)}..${proposed.lrMax.toExponential(1)} (${proposed.by}) → training with α ${lr.lrMin.toExponential(1)}..${lr.lrMax.toExponential(1)}: ${lr.why}`);
  return { proposed, lr };
}

/** 3. Train with discriminative LRs over the chosen range; a diverged or interrupted run stops the demo. */
async function demoTrain(c: DemoContext, manifest: string, lr: { lrMin: number; lrMax: number }): Promise<RunSummary> {
  const { o, arch, pretrained, precision, runDir, size, batch, epochs, seed, threads, real, log } = c;
  const preset = real ? familyOf(arch).paperPreset : null;
  const cfg = resolveTrainConfig({}, {
    manifest, arch, out: runDir, pretrained, size, batch, epochs, precision, seed, threads,
    lrMin: lr.lrMin, lrMax: lr.lrMax, groups: 'stage', discriminative: true,
    ...(preset ? { preset } : { schedule: 'oneCycle' as const }),
    monitor: 'valid_loss',
  });
  log(`[3/7] train: ${arch}, ${epochs} epochs × ${batch}-image batches at ${size} px, ${cfg.schedule} schedule per iteration, discriminative LRs over ${cfg.groups} groups, ${cfg.optimizer}, ${precision}`);
  const run = await trainRun(cfg, { log: (m) => log(`      ${m}`), ...(o.callbacks ? { callbacks: o.callbacks } : {}), ...(o.signal ? { signal: o.signal } : {}) });
  if (run.status === 'diverged' || run.status === 'interrupted') throw new Error(`training ${run.status}: ${run.message}`);
  log(`      ${run.status}: best ${run.monitor} ${run.best.value.toFixed(4)} at epoch ${run.best.epoch}, ${run.imagesPerSecond.toFixed(1)} images/s`);
  return run;
}

/** 4. Evaluate on the validation split (held-out patients), and on figure1 as an external set when present. */
async function demoEvaluate(c: DemoContext, manifest: string) {
  const { o, out, runDir, seed, threads, real, log } = c;
  const evalDir = join(out, 'eval-valid');
  log(`[4/7] evaluate: validation split → ${evalDir}`);
  const evaluation = await evaluate({ model: runDir, manifest, split: 'valid', out: evalDir, name: real ? 'D_A validation' : 'phantom validation', threads });
  log(formatEvaluation(evaluation).split('\n').map((l) => `      ${l}`).join('\n'));
  // Real data: figure1's labelled images (hospitals none of the training sources come from) as an external set.
  let external: Evaluation | null = null;
  const figure1 = o.data ? join(resolve(o.data), 'figure1') : null;
  if (figure1 && existsSync(join(figure1, 'metadata.csv'))) {
    const ext = await buildDataset({ sources: [{ kind: 'figure1', path: figure1, options: {} }], labelMap: 'paper-da', views: ['PA', 'AP'], external: true, seed, out: join(out, 'data-figure1'), onError: 'skip' });
    external = await evaluate({ model: runDir, manifest: ext.manifestFile, split: 'test', out: join(out, 'eval-figure1'), name: 'figure1 (external)', threads });
    log(formatEvaluation(external).split('\n').map((l) => `      ${l}`).join('\n'));
  }
  const headline = headlineEvaluation(external ? [evaluation, external] : [evaluation])!;
  return { evalDir, evaluation, external, headline };
}

/** 5. Explain: top losses, Grad-CAM gallery and (phantoms) the pointing game. */
async function demoExplain(c: DemoContext, manifest: string, evalDir: string): Promise<CamCheckResult | null> {
  const { arch, runDir, threads, log } = c;
  log('[5/7] explain: top losses (Fig. 9), Grad-CAM gallery and checks (Fig. 10)');
  await explainTopLosses({ model: runDir, manifest, split: 'valid', out: evalDir, top: 9, threads });
  const hasMasks = readFileSync(manifest, 'utf8').split('\n', 1)[0]!.split(',').some((h) => h === 'mask' || h === 'lung_mask');
  let gradcam: CamCheckResult | null = null;
  if (hasMasks) {
    const mid = familyOf(arch).stride8Layer; // finer maps than the last block: see models/family.ts
    const say = (g: CamCheckResult) => log(`      ${g.layer}: pointing game ${(100 * g.pointing.rate).toFixed(1)} % (${g.pointing.hits}/${g.pointing.n}; chance ${(100 * g.pointing.chance).toFixed(1)} %), mean CAM mass in lesions ${(100 * g.lesionMass.mean).toFixed(1)} % (area ${(100 * g.lesionMass.chance).toFixed(1)} %), in the lung field ${(100 * g.lungMass.mean).toFixed(1)} % (area ${(100 * g.lungMass.chance).toFixed(1)} %)`);
    gradcam = await camCheck({ model: runDir, manifest, split: 'valid', out: evalDir, gallery: 8, threads, layer: mid });
    say(gradcam);
    say(await camCheck({ model: runDir, manifest, split: 'valid', out: join(evalDir, 'gradcam-last-layer'), gallery: 8, threads }));
  } else {
    // Real radiographs carry no lesion masks: the Grad-CAM gallery (Fig. 10) at the last block, as in the paper.
    gradcam = await camCheck({ model: runDir, manifest, split: 'valid', out: evalDir, gallery: 8, threads });
    log(`      Grad-CAM gallery (${gradcam.layer}) → ${gradcam.files.galleryPng}; no lesion or lung masks in this manifest, so no pointing game`);
  }
  return gradcam;
}

/** 6. Shortcut audit: does the model read the lungs, or the frame and the provenance? */
async function demoAudit(c: DemoContext, manifest: string) {
  const { runDir, threads, log } = c;
  log('[6/7] audit: frame only, lungs out, source probe, metadata-only baseline, per source');
  const shortcut = await audit({ model: runDir, manifest, split: 'valid', out: join(runDir, 'audit'), threads });
  log(shortcut.lines.map((l) => `      ${l}`).join('\n'));
  return shortcut;
}

/** 7. Report: report.html over the run and its evaluations. */
async function demoReport(c: DemoContext, evalDir: string, external: boolean): Promise<string> {
  const { o, out, runDir, real, log } = c;
  const reportFile = join(out, 'report.html');
  log(`[7/7] report → ${reportFile}`);
  await buildReport({
    run: runDir, evals: external ? [evalDir, join(out, 'eval-figure1')] : [evalDir], out: reportFile,
    title: real ? `cxrtune — the paper's protocol on ${o.data ?? o.manifest}` : 'cxrtune demo — phantoms',
  });
  return reportFile;
}
