// The engine bench's FLOP figures: forward FLOPs per image, GFLOP/s achieved and their share
// of this CPU's peak, and op-by-op profiles of train and predict steps (ours and Python's).
import type { Model } from '../engine/model.js';
import { profileOps } from '../engine/profiler.js';
import { cpuIsa } from '../engine/runtime.js';
import type { Batch, Precision } from '../engine/types.js';
import type { BenchConfig, BenchProfile, BenchResult } from './benchRecord.js';
import { cpuPeak, effectiveCpuFacts } from './cpuPeak.js';
import { summariseOps } from './opProfile.js';
import type { PythonReference } from './pythonReference.js';

/** Forward FLOPs per image: one profiled predict of the bench batch. */
export async function forwardFlopsPerImage(model: Model, batch: Batch, c: BenchConfig): Promise<number> {
  const { events } = await profileOps(() => model.predict(batch, { precision: c.precision }));
  return summariseOps(events).flops / c.batch;
}

/** GFLOP/s achieved and, on CPU, as a share of this CPU's peak. */
export function flopFigures(
  flopsPerImg: number,
  trainImgS: number,
  predImgS: number,
  precision: Precision,
  threads: number,
  device = 'cpu',
): Partial<BenchResult> {
  if (!(flopsPerImg > 0)) return {};
  const trainGflops = (3 * flopsPerImg * trainImgS) / 1e9;
  const predictGflops = (flopsPerImg * predImgS) / 1e9;
  const out: Partial<BenchResult> = {
    gflop_per_img: flopsPerImg / 1e9,
    train_gflops: trainGflops,
    predict_gflops: predictGflops,
  };
  const peak = device === 'cpu' ? cpuPeak(precision, threads, effectiveCpuFacts(cpuIsa().level)) : null;
  if (peak)
    Object.assign(out, {
      peak_gflops: peak.gflops,
      peak_basis: peak.basis,
      train_peak_pct: (100 * trainGflops) / peak.gflops,
      predict_peak_pct: (100 * predictGflops) / peak.gflops,
    });
  return out;
}

/** `steps` train steps and `steps` predicts under the op profiler, ours then Python's (same weights, same batch). */
export async function profileBoth(
  c: BenchConfig,
  model: Model,
  infer: Model,
  batch: Batch,
  hyper: { lr: number; momentum: number; weightDecay: number }[],
  py: PythonReference | null,
): Promise<BenchProfile> {
  const repeat = async (fn: () => Promise<unknown>) => {
    for (let i = 0; i < c.steps; i++) await fn();
  };
  const side = async (kind: 'train' | 'predict') => {
    const fn =
      kind === 'train'
        ? () => model.trainStep(batch, hyper, { precision: c.precision })
        : () => infer.predict(batch, { precision: c.precision });
    await fn(); // warm: the first call after a pause allocates
    const ours = summariseOps((await profileOps(() => repeat(fn))).events);
    const python = py ? summariseOps(await py.profile(kind, c.steps)) : undefined;
    return { ours, ...(python ? { python } : {}) };
  };
  return { steps: c.steps, train: await side('train'), predict: await side('predict') };
}
