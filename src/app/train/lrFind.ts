// `cxrtune lr-find`: the LR range test on the model `train` would build (the same Learner, the
// same defaults as TrainConfig), written as lr_find.json + lr_find.svg with the proposed range.
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import type { LrFindOptions, LrFindResult, Suggestion } from '../../recipe/lrFinder.js';
import { openRunData } from './dataSource.js';
import { Learner } from './learner.js';
import { lrFinderSvg } from '../report/plots.js';
import { writeJson } from './runFolder.js';
import { DEFAULTS, type TrainConfig } from './trainConfig.js';

/** Sweep settings, and the TrainConfig fields that build and feed the model (defaults: train's). */
export type LrFindRunOptions = Partial<
  Pick<
    TrainConfig,
    | 'pretrained'
    | 'size'
    | 'fit'
    | 'equalize'
    | 'crop'
    | 'cropMargin'
    | 'standardize'
    | 'batch'
    | 'seed'
    | 'optimizer'
    | 'wd'
    | 'precision'
    | 'mode'
    | 'batchNorm'
    | 'unfoldBn'
    | 'aug'
    | 'balanced'
    | 'device'
    | 'threads'
  >
> &
  Pick<TrainConfig, 'manifest' | 'arch' | 'out'> & {
    start?: number;
    end?: number;
    iterations?: number;
    suggestion?: Suggestion;
    /** SGD momentum / Adam β1 during the sweep (default: train's momMax). */
    momentum?: number;
    log?: (msg: string) => void;
    onStep?: LrFindOptions['onStep'];
  };

interface LrFindRunResult {
  result: LrFindResult;
  files: { json: string; svg: string };
  seconds: number;
}

export async function runLrFind(o: LrFindRunOptions): Promise<LrFindRunResult> {
  const t0 = performance.now();
  const defined = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as LrFindRunOptions;
  const c = { ...DEFAULTS, ...defined, pretrained: o.pretrained ?? null };
  const momentum = o.momentum ?? c.momMax;
  const data = openRunData({
    manifest: c.manifest,
    size: c.size,
    fit: c.fit,
    equalize: c.equalize,
    crop: c.crop,
    cropMargin: c.cropMargin,
    standardize: c.standardize,
    batch: c.batch,
    seed: c.seed,
    aug: c.aug,
    balanced: c.balanced,
  });
  const learner = await Learner.forTraining(c, data, { ...(o.log ? { log: o.log } : {}) });
  const result = await learner.lrFind({
    ...(o.start !== undefined ? { start: o.start } : {}),
    ...(o.end !== undefined ? { end: o.end } : {}),
    ...(o.iterations !== undefined ? { iterations: o.iterations } : {}),
    ...(o.suggestion ? { suggestion: o.suggestion } : {}),
    optimizer: c.optimizer,
    momentum,
    weightDecay: c.wd,
    precision: c.precision,
    transfer: c.mode,
    batchNorm: c.batchNorm,
    ...(o.onStep ? { onStep: o.onStep } : {}),
  });
  const out = resolve(o.out);
  const files = { json: join(out, 'lr_find.json'), svg: join(out, 'lr_find.svg') };
  await writeJson(files.json, {
    ...result,
    arch: c.arch,
    pretrained: c.pretrained,
    manifest: resolve(c.manifest),
    manifestSha256: data.manifestSha256,
    size: c.size,
    fit: c.fit,
    equalize: c.equalize,
    crop: c.crop,
    cropMargin: c.cropMargin,
    standardize: c.standardize,
    batch: c.batch,
    seed: c.seed,
    optimizer: c.optimizer,
    momentum,
    wd: c.wd,
    precision: c.precision,
    mode: c.mode,
  });
  await writeFileAtomic(
    files.svg,
    await lrFinderSvg(result, `LR range test — ${c.arch}${c.pretrained ? ' (pretrained)' : ''}`),
  );
  return { result, files, seconds: (performance.now() - t0) / 1000 };
}
