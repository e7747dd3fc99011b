// The demo's training steps: the LR range test and the range chosen from it (the finder's
// proposal, a recipe's fixed range or the paper preset's), then training over that range.
import { familyOf } from '../../engine/models/registry.js';
import { runLrFind } from '../train/lrFind.js';
import { presetValues } from '../train/presets.js';
import { startRun, type RunSummary } from '../train/experiment.js';
import { resolveTrainConfig, type FlatTrainConfig } from '../train/trainConfig.js';
import { PHANTOM_DEMO, recipeImage, stepNo, type DemoContext } from './demoContext.js';

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

/** 2. LR range test, and the training range chosen from it. */
export async function demoLrFind(c: DemoContext, manifest: string) {
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

/**
 * 3. Train with discriminative LRs over the chosen range; a diverged or interrupted run stops the demo.
 * `overrides` (flat flags) replace the demo's choices: reproduce's ablations change the schedule and groups.
 */
export async function demoTrain(
  c: DemoContext,
  manifest: string,
  lr: { lrMin: number; lrMax: number },
  overrides: Partial<FlatTrainConfig> = {},
): Promise<RunSummary> {
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
      // The model carries the segmenter that made its lung masks: serve and evaluate need only --model.
      ...(c.segmenter ? { lungs: c.segmenter } : {}),
      ...(c.recipe ? { aug: c.recipe.aug, threshold: c.recipe.threshold } : {}),
      monitor: c.recipe?.monitor ?? 'valid_loss',
      ...overrides,
    },
  );
  if (c.recipe) log(`      recipe ${c.recipe.name}: ${c.recipe.summary}`);
  log(
    `[${stepNo(c, 3)}] train: ${arch}, ${epochs} epochs × ${batch}-image batches at ${size} px, ` +
      `${cfg.schedule.kind} schedule per iteration, ` +
      (cfg.transfer.discriminative
        ? `discriminative LRs over ${cfg.transfer.groups} groups, `
        : 'one LR for all layers, ') +
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
