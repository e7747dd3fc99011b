// The demo's settings: its options and result, the phantom run's sizes, where `--pretrained auto`
// looks, and the context every step reads (resolved once from the options), with the step counter.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Crop, Equalize, Standardize } from '../../engine/preprocessing.js';
import { projectRoot } from '../../engine/native.js';
import { cpuHasBf16, physicalCores } from '../../engine/runtime.js';
import { weightsInfo, weightsRef } from '../../engine/weights/weightsFile.js';
import { ARCHS, type Arch, type Precision } from '../../engine/types.js';
import type { TrainerCallback } from '../../recipe/callbacks.js';
import type { CamCheckResult } from '../interpret/camCheck.js';
import type { Evaluation } from '../evaluate/evaluationRecord.js';
import type { RunSummary } from '../train/experiment.js';
import { recipeNamed, type DemoTaskName, type RealDataRecipe, type RecipeName } from './realDataRecipe.js';

export interface DemoOptions {
  out: string;
  /** ../shared/data-style folder: build D_A with the paper-da preset. */
  data?: string;
  /** Or any manifest with train/valid splits. */
  manifest?: string;
  /** Real data: which recipe (default recommended). */
  recipe?: RecipeName;
  /** Real data: which task (default covid; tb: train in Shenzhen, score Montgomery as the external set). */
  task?: DemoTaskName;
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
  /** Real data: the task's external set (covid: figure1; tb: Montgomery), when the data folder has it. */
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

/**
 * Phantom demo settings, chosen so a 2-core CPU finishes in a few minutes with clear results:
 * ImageNet MobileNetV2 fine-tuned (97 % validation accuracy after one epoch) when its weights
 * are on this machine, else ResNet-18 from scratch (needs more epochs).
 */
export const PHANTOM_DEMO = {
  n: 720,
  size: 128,
  arch: 'resnet18' as Arch,
  epochs: 6,
  pretrainedEpochs: 4,
  batch: 16,
  lrFindIterations: 60,
};

export const sharedMobileNetV2 = () =>
  join(projectRoot(), '..', 'shared', 'pretrained', 'mobilenet_v2-imagenet-ptq.safetensors');

/** Where `--pretrained auto` looks: $CXRTUNE_PRETRAINED, then the shared folder beside the project. */
export function autoPretrained(): string | null {
  const env = process.env.CXRTUNE_PRETRAINED;
  if (env) return existsSync(env) ? resolve(env) : null;
  const shared = sharedMobileNetV2();
  return existsSync(shared) ? shared : null;
}

/** What every demo step reads: the options and the settings resolved from them. */
export interface DemoContext {
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

/** Settings from the options: real data or phantoms, weights (and the arch they declare), sizes. */
export async function demoContext(o: DemoOptions, out: string, log: (line: string) => void): Promise<DemoContext> {
  const real = Boolean(o.data || o.manifest);
  if (o.task && o.task !== 'covid' && !real)
    throw new Error(`--task ${o.task} runs on real radiographs: give --data DIR (or --manifest)`);
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
  const recipe = real ? { ...recipeNamed(o.recipe ?? 'recommended', o.task ?? 'covid') } : null;
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

/** "k/N" of phantom step k (real data has the lung step as its second). */
export const stepNo = (c: DemoContext, k: number) => `${c.real ? k + 1 : k}/${c.total}`;

/** The recipe's image preprocessing (phantoms: the defaults). */
export function recipeImage(c: DemoContext): { crop?: Crop; standardize?: Standardize; equalize?: Equalize } {
  return c.recipe ? { crop: c.recipe.crop, standardize: c.recipe.standardize, equalize: c.recipe.equalize } : {};
}
