// `cxrtune demo` (npm run demo): the whole method end to end, printing where it is.
// Default: the embedded phantoms (generated on the fly, no download) → LR range test →
// discriminative one-cycle training (bf16 where the CPU has it) → evaluation with intervals
// → top losses, Grad-CAM and the pointing game → report.html; sized to finish in a few
// minutes on 2 cores. `--data DIR` (../shared/data layout) or `--manifest M` runs a real-data
// recipe instead (app/realDataRecipe.ts): by default the recommended one, chosen on
// source-held-out validation (adult-mixed data, held-out hospitals, lungs cropped by a segmenter
// trained or reused first); `--recipe paper` is the paper's protocol (paper-da, paper preset).
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { adultMixedPreset, buildDataset, paperDaPreset } from '../../data/build.js';
import { readManifest } from '../../data/manifest.js';
import { LUNG_MASK_COLUMNS } from '../../data/inputImage.js';
import { loadSegmenter } from '../../engine/segmentation/segmenterCheckpoint.js';
import { demoSegmenter } from './demoSegmenter.js';
import { fillManifestMasks } from '../lungs/predictMasks.js';
import { DEFAULT_CROP_MARGIN, type Crop, type Equalize, type Standardize } from '../../engine/preprocessing.js';
import { recipeNamed, type RealDataRecipe, type RecipeName } from './realDataRecipe.js';
import { writePhantoms } from '../../data/phantom.js';
import { formatSummaryTable } from '../../data/summary.js';
import { projectRoot } from '../../engine/native.js';
import { cpuHasBf16, physicalCores } from '../../engine/runtime.js';
import { weightsInfo, weightsRef } from '../../engine/weights/weightsFile.js';
import { ARCHS, type Arch, type Precision } from '../../engine/types.js';
import type { TrainerCallback } from '../../recipe/callbacks.js';
import { formatDuration } from '../../util/progressLine.js';
import { audit } from '../interpret/audit.js';
import { camCheck, type CamCheckResult } from '../interpret/camCheck.js';
import { evaluate, formatEvaluation, type Evaluation } from '../evaluate/evaluate.js';
import { startRun, type RunSummary } from '../train/experiment.js';
import { explainTopLosses } from '../interpret/explain.js';
import { runLrFind } from '../train/lrFind.js';
import { familyOf } from '../../engine/models/registry.js';
import { presetValues } from '../train/presets.js';
import { buildReport } from '../report/report.js';
import { headlineEvaluation } from '../report/summarySection.js';
import { resolveTrainConfig } from '../train/trainConfig.js';

interface DemoOptions {
  out: string;
  /** ../shared/data-style folder: build D_A with the paper-da preset. */
  data?: string;
  /** Or any manifest with train/valid splits. */
  manifest?: string;
  /** Real data: which recipe (default recommended). */
  recipe?: RecipeName;
  /** Real data: a lung segmenter to use instead of the cached or newly trained one. */
  lungs?: string;
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

interface DemoResult {
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
  /** Real data: the recipe run (null on phantoms). */
  recipe: RealDataRecipe | null;
  /** Real data: the lung segmenter used, where it came from, and what it cropped. */
  lungs: { dir: string; from: string; crop: boolean; note: string } | null;
  lr: {
    lrMin: number;
    lrMax: number;
    from: 'lr-find' | 'preset';
    why: string;
    proposed: { lrMin: number; lrMax: number };
  };
}

const MARKER = '.cxrtune-demo';

/**
 * Phantom demo settings, chosen so a 2-core CPU finishes in a few minutes with clear results:
 * ImageNet MobileNetV2 fine-tuned (97 % validation accuracy after one epoch) when its weights
 * are on this machine, else ResNet-18 from scratch (needs more epochs).
 */
const PHANTOM_DEMO = {
  n: 720,
  size: 128,
  arch: 'resnet18' as Arch,
  epochs: 6,
  pretrainedEpochs: 4,
  batch: 16,
  lrFindIterations: 60,
};

const sharedMobileNetV2 = () =>
  join(projectRoot(), '..', 'shared', 'pretrained', 'mobilenet_v2-imagenet-ptq.safetensors');

/** Where `--pretrained auto` looks: $CXRTUNE_PRETRAINED, then the shared folder beside the project. */
export function autoPretrained(): string | null {
  const env = process.env.CXRTUNE_PRETRAINED;
  if (env) return existsSync(env) ? resolve(env) : null;
  const shared = sharedMobileNetV2();
  return existsSync(shared) ? shared : null;
}

/**
 * The training range is the LR finder's proposal (its suggestion as α_max, α_min = α_max/100,
 * recipe/lrFinder.ts), as in the paper. Only a sweep that proposes nothing usable (no finite
 * suggestion) falls back to the family's paper preset, and the result says why.
 */
function chooseLr(
  proposed: { lrMin: number; lrMax: number },
  fallback: { lrMin: number; lrMax: number },
): { lrMin: number; lrMax: number; from: 'lr-find' | 'preset'; why: string } {
  if (Number.isFinite(proposed.lrMax) && proposed.lrMax > 0 && Number.isFinite(proposed.lrMin) && proposed.lrMin > 0) {
    return { ...proposed, from: 'lr-find', why: "the LR finder's proposal" };
  }
  return {
    ...fallback,
    from: 'preset',
    why: `the LR finder proposed no usable range (α_max ${proposed.lrMax}); the paper preset's range instead`,
  };
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
  /** Real data: the recipe; its crop is dropped (with a note) when no lung field can be had. */
  recipe: RealDataRecipe | null;
  /** Real data: the segmenter once the lung step has run. */
  segmenter: string | null;
  total: number;
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const t0 = performance.now();
  const log = o.log ?? (() => undefined);
  const out = resolve(o.out);
  if (existsSync(out)) {
    // Only ever remove a folder an earlier demo made.
    if (!existsSync(join(out, MARKER)))
      throw new Error(`${o.out} exists and is not a demo folder; choose another --out`);
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
  log(
    c.pretrained
      ? `weights: ImageNet ${c.arch} from ${c.pretrained} (--pretrained none trains from scratch)`
      : `weights: none — ${c.arch} from random initialisation` +
          (o.pretrained === 'none' ? '' : ' (no pretrained file found; --pretrained FILE to fine-tune)'),
  );
  // A marker first: a crashed demo's folder can still be cleaned by the next one.
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, MARKER), 'made by cxrtune demo\n');

  const built = await demoData(c);
  step('data');
  const { manifest, lungs } = await demoLungs(c, built);
  if (c.real) step('lungs');
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
  return {
    out,
    mode: c.real ? 'real' : 'phantoms',
    pretrained: c.pretrained,
    arch: c.arch,
    seconds: (performance.now() - t0) / 1000,
    steps,
    run,
    evaluation,
    external,
    headline,
    gradcam,
    audit: { verdict: shortcut.verdict, headline: shortcut.findings[0]!.text },
    report: reportFile,
    lr: { ...lr, proposed: { lrMin: proposed.lrMin, lrMax: proposed.lrMax } },
    recipe: c.recipe,
    lungs,
  };
}

/** Settings from the options: real data or phantoms, weights (and the arch they declare), sizes. */
async function demoContext(o: DemoOptions, out: string, log: (line: string) => void): Promise<DemoContext> {
  const real = Boolean(o.data || o.manifest);
  const seed = o.seed ?? 0;
  const precision: Precision = o.precision ?? (cpuHasBf16() ? 'bf16' : 'fp32');
  const threads = o.threads ?? physicalCores();
  const pretrained =
    o.pretrained === 'none'
      ? null
      : !o.pretrained || o.pretrained === 'auto'
        ? autoPretrained()
        : weightsRef(o.pretrained);
  let arch: Arch = o.arch ?? PHANTOM_DEMO.arch;
  if (pretrained && !o.arch) {
    const meta = (await weightsInfo(pretrained)).metadata;
    if (meta.arch && (ARCHS as readonly string[]).includes(meta.arch)) arch = meta.arch as Arch;
  }
  const recipe = real ? { ...recipeNamed(o.recipe ?? 'recommended') } : null;
  if (recipe && !o.arch && !(pretrained && o.pretrained && o.pretrained !== 'auto')) arch = recipe.arch;
  const size = o.size ?? recipe?.size ?? PHANTOM_DEMO.size;
  const batch = o.batch ?? recipe?.batch ?? PHANTOM_DEMO.batch;
  const epochs = o.epochs ?? recipe?.epochs ?? (pretrained ? PHANTOM_DEMO.pretrainedEpochs : PHANTOM_DEMO.epochs);
  return {
    o,
    out,
    runDir: join(out, 'run'),
    log,
    real,
    seed,
    precision,
    threads,
    pretrained,
    arch,
    size,
    batch,
    epochs,
    recipe,
    segmenter: null,
    total: real ? 8 : 7,
  };
}

/** 1. Data: the given manifest, the paper's D_A built from --data, or phantoms. */
async function demoData(c: DemoContext): Promise<string> {
  const { o, out, log, seed, size } = c;
  if (o.manifest) {
    const manifest = resolve(o.manifest);
    log(`[1/${c.total}] data: using ${manifest}`);
    return manifest;
  } else if (o.data) {
    const r = c.recipe!;
    log(
      r.data === 'paper-da'
        ? `[1/${c.total}] data: building the paper's D_A from ${o.data} (covid-chestxray COVID-19 frontal + ` +
            `as many negatives; ${r.splitBy}-level 70/30 split)`
        : `[1/${c.total}] data: building ${r.data} from ${o.data} (adult negatives only; validation holds out ` +
            `whole ${r.splitBy === 'patient' ? 'patients' : `${r.splitBy}s and sources`})`,
    );
    const preset = r.data === 'paper-da' ? paperDaPreset(o.data) : adultMixedPreset(o.data);
    const b = await buildDataset({ ...preset, splitBy: r.splitBy, seed, out: join(out, 'data'), onError: 'skip' });
    log(
      formatSummaryTable(b.summary)
        .split('\n')
        .map((l) => `      ${l}`)
        .join('\n'),
    );
    return b.manifestFile;
  }
  const n = o.n ?? PHANTOM_DEMO.n;
  log(
    `[1/${c.total}] data: drawing ${n} phantom radiographs (${size} px; half with ground-glass lesions) → ` +
      `${join(out, 'data')}`,
  );
  const r = await writePhantoms({ n, size, seed, out: join(out, 'data'), split: '0.7,0.3', sheetSize: 32 });
  return r.manifestFile;
}

/**
 * 2 (real data). Lung fields: a segmenter (given, cached or trained now) fills the manifest's
 * lung_mask column; the recipe's lung crop, the CAM-in-lungs figure and the audit's lungs-out
 * and frame-only tests use it. Without lung data the demo says so and goes on without them.
 */
async function demoLungs(c: DemoContext, manifest: string): Promise<{ manifest: string; lungs: DemoResult['lungs'] }> {
  const { o, out, log, precision, threads } = c;
  if (!c.real) return { manifest, lungs: null };
  const lungData = o.data ? join(resolve(o.data), 'lungs') : null;
  if (!o.lungs && !(lungData && existsSync(lungData))) {
    log(
      `[2/${c.total}] lungs: no lung segmenter (--lungs DIR) and no lungs/ ` +
        `folder${lungData ? ` in ${o.data}` : ''} to train one on`,
    );
    if (LUNG_MASK_COLUMNS.some((col) => readManifest(manifest).rows.every((r) => r.extra[col])))
      return { manifest, lungs: null };
    // The recipe goes on without its crop, and says so here, once.
    if (c.recipe) c.recipe = { ...c.recipe, crop: 'none' };
    log(
      '      lung-based steps skipped: no lung crop; the audit blanks a fixed central box instead of the ' +
        'lungs; no CAM-in-lungs figure',
    );
    return { manifest, lungs: null };
  }
  // The segmenter's encoder is a MobileNetV2: the shared ImageNet weights when present.
  const shared = sharedMobileNetV2();
  const pretrained = existsSync(shared) ? shared : undefined;
  log(
    `[2/${c.total}] lungs: segmenter ${o.lungs ? o.lungs : `trained on ${lungData} (or the cached one)`}, ` +
      `then a lung mask for every image`,
  );
  const seg = await demoSegmenter({
    ...(o.lungs ? { given: o.lungs } : {}),
    lungData: lungData ?? '',
    ...(pretrained ? { pretrained } : {}),
    precision,
    threads,
    log: (m) => log(`      ${m}`),
  });
  const dice = seg.trained?.heldOut
    ?.map((s) => `${s.source} ${s.dice.mean.toFixed(3)} (${s.dice.lo.toFixed(3)}–${s.dice.hi.toFixed(3)})`)
    .join(', ');
  log(`      segmenter ${seg.dir} (${seg.from})${dice ? `; held-out Dice ${dice}` : ''}`);
  const { model, meta } = await loadSegmenter(seg.dir);
  const withMasks = join(out, 'data', 'manifest.lungs.csv');
  const f = await fillManifestMasks(model, meta, manifest, withMasks, { precision, log: (m) => log(`      ${m}`) });
  log(`      lung masks: ${f.filled} predicted (${f.cached} from the cache), ${f.kept} kept from the data's own masks`);
  c.segmenter = seg.dir;
  const crop = c.recipe?.crop === 'lungs';
  return {
    manifest: withMasks,
    lungs: {
      dir: seg.dir,
      from: seg.from,
      crop,
      note: crop
        ? `every image cut to its lung box (${Math.round(100 * DEFAULT_CROP_MARGIN)} % margin) before ` +
          `training, evaluation, explanation and the audit`
        : 'masks for the CAM-in-lungs figure and the audit only',
    },
  };
}

/** "k/N" of phantom step k (real data has the lung step as its second). */
const stepNo = (c: DemoContext, k: number) => `${c.real ? k + 1 : k}/${c.total}`;

/** 2. LR range test, and the training range chosen from it. */
async function demoLrFind(c: DemoContext, manifest: string) {
  const { arch, pretrained, precision, runDir, size, batch, seed, threads, real, log } = c;
  log(
    `[${stepNo(c, 2)}] lr-find: ${arch}${pretrained ? ' (pretrained)' : ''}, ${precision}, exponential sweep 1e-6 → 1`,
  );
  const lf = await runLrFind({
    manifest,
    arch,
    pretrained,
    out: runDir,
    size,
    batch,
    seed,
    start: 1e-6,
    end: 1,
    ...recipeImage(c),
    iterations: real ? 100 : PHANTOM_DEMO.lrFindIterations,
    precision,
    threads,
    log: (m) => log(`      ${m}`),
  });
  const proposed = lf.result.proposed;
  // The paper's way: the finder's proposal (the family's paper preset when it proposes nothing);
  // a recipe that fixes its range (chosen on source-held-out validation) keeps it.
  const r = c.recipe;
  const fixed = r && r.lr === 'recipe' && 'oneCycle' in r.schedule ? r.schedule.oneCycle : null;
  const paper = presetValues(familyOf(arch).paperPreset, arch);
  const lr = fixed
    ? {
        ...fixed,
        from: 'preset' as const,
        why: `the ${r!.name} recipe's range (chosen on source-held-out validation; docs/generalisation-experiments.md)`,
      }
    : chooseLr(proposed, { lrMin: paper.schedule.lrMin, lrMax: paper.schedule.lrMax });
  log(
    `      finder proposes ${proposed.lrMin.toExponential(1)}..${proposed.lrMax.toExponential(1)} ` +
      `(${proposed.by}) → training with α ${lr.lrMin.toExponential(1)}..${lr.lrMax.toExponential(1)}: ` +
      `${lr.why}`,
  );
  return { proposed, lr };
}

/** The recipe's image preprocessing (phantoms: the defaults). */
function recipeImage(c: DemoContext): { crop?: Crop; standardize?: Standardize; equalize?: Equalize } {
  return c.recipe ? { crop: c.recipe.crop, standardize: c.recipe.standardize, equalize: c.recipe.equalize } : {};
}

/** 3. Train with discriminative LRs over the chosen range; a diverged or interrupted run stops the demo. */
async function demoTrain(c: DemoContext, manifest: string, lr: { lrMin: number; lrMax: number }): Promise<RunSummary> {
  const { o, arch, pretrained, precision, runDir, size, batch, epochs, seed, threads, real, log } = c;
  const preset = real && c.recipe && 'preset' in c.recipe.schedule ? familyOf(arch).paperPreset : null;
  const cfg = resolveTrainConfig(
    {},
    {
      manifest,
      arch,
      out: runDir,
      pretrained,
      size,
      batch,
      epochs,
      precision,
      seed,
      threads,
      lrMin: lr.lrMin,
      lrMax: lr.lrMax,
      groups: 'stage',
      discriminative: true,
      ...(preset ? { preset } : { schedule: 'oneCycle' as const }),
      ...recipeImage(c),
      ...(c.recipe ? { aug: c.recipe.aug, threshold: c.recipe.threshold } : {}),
      monitor: c.recipe?.monitor ?? 'valid_loss',
    },
  );
  if (c.recipe) log(`      recipe ${c.recipe.name}: ${c.recipe.summary}`);
  log(
    `[${stepNo(c, 3)}] train: ${arch}, ${epochs} epochs × ${batch}-image batches at ${size} px, ` +
      `${cfg.schedule.kind} schedule per iteration, discriminative LRs over ${cfg.transfer.groups} groups, ` +
      `${cfg.optimizer.kind}, ${precision}`,
  );
  const ro = {
    log: (m: string) => log(`      ${m}`),
    ...(o.callbacks ? { callbacks: o.callbacks } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  };
  const prepared = await startRun(cfg, ro);
  const run = await prepared.learner.fit(prepared.cfg, ro);
  if (run.status === 'diverged' || run.status === 'interrupted')
    throw new Error(`training ${run.status}: ${run.message}`);
  log(
    `      ${run.status}: best ${run.monitor} ${run.best.value.toFixed(4)} at epoch ${run.best.epoch}, ` +
      `${run.imagesPerSecond.toFixed(1)} images/s`,
  );
  return run;
}

/** 4. Evaluate on the validation split (held-out patients), and on figure1 as an external set when present. */
async function demoEvaluate(c: DemoContext, manifest: string) {
  const { o, out, runDir, seed, threads, real, log } = c;
  const evalDir = join(out, 'eval-valid');
  log(`[${stepNo(c, 4)}] evaluate: validation split → ${evalDir}`);
  const evaluation = await evaluate({
    model: runDir,
    manifest,
    split: 'valid',
    out: evalDir,
    name: real
      ? `${c.recipe && o.data ? (c.recipe.data === 'paper-da' ? 'D_A' : c.recipe.data) : 'manifest'} validation`
      : 'phantom validation',
    threads,
  });
  log(
    formatEvaluation(evaluation)
      .split('\n')
      .map((l) => `      ${l}`)
      .join('\n'),
  );
  // Real data: figure1's labelled images (hospitals none of the training sources come from) as an external set.
  let external: Evaluation | null = null;
  const figure1 = o.data ? join(resolve(o.data), 'figure1') : null;
  if (figure1 && existsSync(join(figure1, 'metadata.csv'))) {
    const ext = await buildDataset({
      sources: [{ kind: 'figure1', path: figure1, options: {} }],
      labelMap: 'paper-da',
      views: ['PA', 'AP'],
      external: true,
      seed,
      out: join(out, 'data-figure1'),
      onError: 'skip',
    });
    let extManifest = ext.manifestFile;
    if (c.segmenter) {
      // The external images get their lung masks from the same segmenter (a lung-cropping model needs them).
      const { model, meta } = await loadSegmenter(c.segmenter);
      extManifest = join(out, 'data-figure1', 'manifest.lungs.csv');
      await fillManifestMasks(model, meta, ext.manifestFile, extManifest, { precision: c.precision });
    }
    external = await evaluate({
      model: runDir,
      manifest: extManifest,
      split: 'test',
      out: join(out, 'eval-figure1'),
      name: 'figure1 (external)',
      threads,
    });
    log(
      formatEvaluation(external)
        .split('\n')
        .map((l) => `      ${l}`)
        .join('\n'),
    );
  }
  const headline = headlineEvaluation(external ? [evaluation, external] : [evaluation])!;
  return { evalDir, evaluation, external, headline };
}

/** 5. Explain: top losses, Grad-CAM gallery and (phantoms) the pointing game. */
async function demoExplain(c: DemoContext, manifest: string, evalDir: string): Promise<CamCheckResult | null> {
  const { arch, runDir, threads, log } = c;
  log(`[${stepNo(c, 5)}] explain: top losses (Fig. 9), Grad-CAM gallery and checks (Fig. 10)`);
  await explainTopLosses({ model: runDir, manifest, split: 'valid', out: evalDir, top: 9, threads });
  const header = readFileSync(manifest, 'utf8').split('\n', 1)[0]!.split(',');
  const lesions = header.includes('mask'); // phantoms: lesion masks, so a pointing game
  const lungMasks = LUNG_MASK_COLUMNS.some((col) => header.includes(col));
  let gradcam: CamCheckResult | null = null;
  const say = (g: CamCheckResult) =>
    log(
      `      ${g.layer}: pointing game ${(100 * g.pointing.rate).toFixed(1)} % ` +
        `(${g.pointing.hits}/${g.pointing.n}; chance ${(100 * g.pointing.chance).toFixed(1)} %), mean CAM mass ` +
        `in lesions ${(100 * g.lesionMass.mean).toFixed(1)} % (area ${(100 * g.lesionMass.chance).toFixed(1)} ` +
        `%), in the lung field ${(100 * g.lungMass.mean).toFixed(1)} % (area ` +
        `${(100 * g.lungMass.chance).toFixed(1)} %)`,
    );
  if (lesions) {
    const mid = familyOf(arch).stride8Layer; // finer maps than the last block: see models/family.ts
    gradcam = await camCheck({
      model: runDir,
      manifest,
      split: 'valid',
      out: evalDir,
      gallery: 8,
      threads,
      layer: mid,
    });
    say(gradcam);
    say(
      await camCheck({
        model: runDir,
        manifest,
        split: 'valid',
        out: join(evalDir, 'gradcam-last-layer'),
        gallery: 8,
        threads,
      }),
    );
  } else {
    // Real radiographs carry no lesion masks: the Grad-CAM gallery (Fig. 10) at the last block, as in the paper,
    // and, with lung masks, the share of the evidence inside the lungs — does the model read the lungs?
    gradcam = await camCheck({ model: runDir, manifest, split: 'valid', out: evalDir, gallery: 8, threads });
    log(
      lungMasks && gradcam.lungMass.n
        ? `      Grad-CAM (${gradcam.layer}) on ${gradcam.lungMass.n} validation images: mean CAM mass inside ` +
            `the lungs ${(100 * gradcam.lungMass.mean).toFixed(1)} % (the lungs cover ` +
            `${(100 * gradcam.lungMass.chance).toFixed(1)} % of the input); gallery → ` +
            `${gradcam.files.galleryPng}`
        : `      Grad-CAM gallery (${gradcam.layer}) → ${gradcam.files.galleryPng}; no lesion or lung masks ` +
            `in this manifest, so no pointing game`,
    );
  }
  return gradcam;
}

/** 6. Shortcut audit: does the model read the lungs, or the frame and the provenance? */
async function demoAudit(c: DemoContext, manifest: string) {
  const { runDir, threads, log } = c;
  log(`[${stepNo(c, 6)}] audit: frame only, lungs out, source probe, metadata-only baseline, per source`);
  const shortcut = await audit({ model: runDir, manifest, split: 'valid', out: join(runDir, 'audit'), threads });
  log(shortcut.findings.map((l) => `      ${l.text}`).join('\n'));
  return shortcut;
}

/** 7. Report: report.html over the run and its evaluations. */
async function demoReport(c: DemoContext, evalDir: string, external: boolean): Promise<string> {
  const { o, out, runDir, real, log } = c;
  const reportFile = join(out, 'report.html');
  log(`[${stepNo(c, 7)}] report → ${reportFile}`);
  await buildReport({
    run: runDir,
    evals: external ? [evalDir, join(out, 'eval-figure1')] : [evalDir],
    out: reportFile,
    title: real
      ? `cxrtune — the ${c.recipe?.name ?? 'paper'} recipe on ${o.data ?? o.manifest}`
      : 'cxrtune demo — phantoms',
  });
  return reportFile;
}
