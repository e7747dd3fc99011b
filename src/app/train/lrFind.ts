// `cxrtune lr-find`: the LR range test on the model `train` would build (the same Learner, the
// same defaults as TrainConfig), written as lr_find.json + lr_find.svg with the proposed range.
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import type { LrFindOptions, LrFindResult, Suggestion } from '../../recipe/lrFinder.js';
import { openRunData } from './dataSource.js';
import { Learner } from './learner.js';
import { lrFinderSvg } from '../report/plots.js';
import { writeJson } from './runFolder.js';
import { completeTrainConfig, runDataOptionsOf, type TrainConfig, type TrainConfigInput } from './trainConfig.js';

/**
 * Sweep settings, and the TrainConfig settings that build and feed the model, in either form
 * (defaults: train's; the schedule, validation and distributed settings play no part).
 */
export type LrFindRunOptions = TrainConfigInput &
  Pick<TrainConfig, 'manifest' | 'arch' | 'out'> &
  LrSweepOptions & {
    log?: (msg: string) => void;
    onStep?: LrFindOptions['onStep'];
  };

/** The sweep's own settings. */
export interface LrSweepOptions {
  start?: number;
  end?: number;
  iterations?: number;
  suggestion?: Suggestion;
  /** SGD momentum / Adam β1 during the sweep (default: train's momMax). */
  momentum?: number;
}

interface LrFindRunResult {
  result: LrFindResult;
  files: { json: string; svg: string };
  seconds: number;
}

export async function runLrFind(o: LrFindRunOptions): Promise<LrFindRunResult> {
  const t0 = performance.now();
  const { start, end, iterations, suggestion, momentum: sweepMomentum, log, onStep, ...settings } = o;
  const c = { ...completeTrainConfig(settings), manifest: o.manifest, arch: o.arch, out: o.out };
  const momentum = sweepMomentum ?? c.schedule.momMax;
  const data = openRunData(runDataOptionsOf(c));
  const learner = await Learner.forTraining(c, data, { ...(log ? { log } : {}) });
  const result = await learner.lrFind({
    ...(start !== undefined ? { start } : {}),
    ...(end !== undefined ? { end } : {}),
    ...(iterations !== undefined ? { iterations } : {}),
    ...(suggestion ? { suggestion } : {}),
    optimizer: c.optimizer.kind,
    momentum,
    weightDecay: c.optimizer.wd,
    precision: c.compute.precision,
    transfer: c.transfer.mode,
    batchNorm: c.transfer.batchNorm,
    ...(onStep ? { onStep } : {}),
  });
  const out = resolve(o.out);
  const files = { json: join(out, 'lr_find.json'), svg: join(out, 'lr_find.svg') };
  await writeJson(files.json, {
    ...result,
    arch: c.arch,
    pretrained: c.pretrained,
    manifest: resolve(c.manifest),
    manifestSha256: data.manifestSha256,
    size: c.preprocessing.size,
    fit: c.preprocessing.fit,
    equalize: c.preprocessing.equalize,
    crop: c.preprocessing.crop,
    cropMargin: c.preprocessing.cropMargin,
    standardize: c.preprocessing.standardize,
    batch: c.data.batch,
    seed: c.seed,
    optimizer: c.optimizer.kind,
    momentum,
    wd: c.optimizer.wd,
    precision: c.compute.precision,
    mode: c.transfer.mode,
  });
  await writeFileAtomic(
    files.svg,
    await lrFinderSvg(result, `LR range test — ${c.arch}${c.pretrained ? ' (pretrained)' : ''}`),
  );
  return { result, files, seconds: (performance.now() - t0) / 1000 };
}
