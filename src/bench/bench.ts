// Engine benchmark: training and inference images/s and batch-1 latency per (arch, size,
// batch, precision), optionally against the same step in Python torch/torchvision. On a
// shared machine one run per side measures the neighbours, not the code (Python's own
// MobileNetV2 predict varied 30–164 img/s between runs): with --vs-python both sides stay
// alive and alternate in rounds, each round's ratio is taken, and a ratio whose rounds
// disagree by more than MAX_RATIO_SPREAD is reported as noise, not as a result.
// Beside it: benchRecord (a cell's config and result), benchRounds (timing, ratios), benchFlops.
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { writeSafetensors } from '../engine/safetensors.js';
import { join } from 'node:path';
import { Model } from '../engine/model.js';
import { cpuIsa, getThreads, setThreads, manualSeed } from '../engine/runtime.js';
import type { Batch } from '../engine/types.js';
import { errorMessage } from '../util/errorMessage.js';
import { PythonReference } from './pythonReference.js';
import { channelsLastFor } from '../engine/models/registry.js';
import { flopFigures, forwardFlopsPerImage, profileBoth } from './benchFlops.js';
import type { BenchConfig, BenchProfile, BenchResult } from './benchRecord.js';
import { median, pythonFigures, runRounds, timed, type Timings, type TimedRunner } from './benchRounds.js';

export function benchBatch(n: number, size: number): Batch {
  const pixels = new Uint8Array(n * size * size);
  let x = 12345;
  for (let i = 0; i < pixels.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    pixels[i] = x >>> 24;
  }
  return { pixels, shape: [n, size, size, 1], labels: Int32Array.from({ length: n }, (_, i) => i % 2) };
}

export async function benchOne(c: BenchConfig): Promise<BenchResult> {
  if (c.threads) setThreads(c.threads);
  manualSeed(0);
  // Training and inference in the memory formats cxrtune runs them in: the family's CPU settings
  // (Learner.forTraining, Learner.load), or channels_last everywhere with --channels-last.
  const trainCl = !!c.channelsLast || channelsLastFor(c.arch, c.device ?? 'cpu', 'train');
  const model = await Model.create({
    arch: c.arch,
    numClasses: 2,
    device: c.device ?? 'cpu',
    ...(trainCl ? { channelsLast: true } : {}),
  });
  model.configureOptimizer({ kind: 'sgd', groups: [model.layers().flatMap((l) => l.params)] });
  const inferCl = !!c.channelsLast || channelsLastFor(c.arch, c.device ?? 'cpu', 'inference');
  const infer =
    inferCl === trainCl
      ? model
      : await Model.create({
          arch: c.arch,
          numClasses: 2,
          device: c.device ?? 'cpu',
          ...(inferCl ? { channelsLast: true } : {}),
        });
  if (infer !== model) await infer.loadState(await model.state());
  const batch = benchBatch(c.batch, c.size);
  const one: Batch = { pixels: batch.pixels.subarray(0, c.size * c.size), shape: [1, c.size, c.size, 1] };
  const weights = c.vsPython ? await writeInitWeights(model, batch, c.batch) : '';
  const hyper = [{ lr: 1e-3, momentum: 0.9, weightDecay: 0 }];
  const ours: TimedRunner = {
    train: (w, n) => timed(() => model.trainStep(batch, hyper, { precision: c.precision }), w, n),
    predict: (w, n) => timed(() => infer.predict(batch, { precision: c.precision }), w, n),
    latency: (w, n) => timed(() => infer.predict(one, { precision: c.precision }), w, n),
  };
  const threads = getThreads();
  let py: PythonReference | null = null;
  let pythonError: string | undefined;
  // Python's torch on a CPU without native bf16 runs bf16 on its reference kernels too, where one
  // resnet18 step at 224 px takes many minutes: not started, and said so in the table.
  const isa = cpuIsa();
  if (c.vsPython && c.precision === 'bf16' && (c.device ?? 'cpu') === 'cpu' && !isa.fastBf16) {
    pythonError =
      `not run: no native bf16 kernels at ${isa.level} (Python's torch would run bf16 on its reference ` +
      `kernels, minutes per step)`;
  } else if (c.vsPython) {
    try {
      py = await PythonReference.start({ ...c, threads, weights });
    } catch (e) {
      pythonError = errorMessage(e);
    }
  }
  const rounds = Math.max(1, c.rounds ?? (py ? 5 : 1));
  const load0 = loadavg()[0]!;
  let t: Timings;
  let profile: BenchProfile | undefined;
  try {
    const run = await runRounds(c, rounds, ours, py);
    t = run.t;
    pythonError = run.error ?? pythonError;
    if (run.closed) py = null;
    if (c.profile) profile = await profileBoth(c, model, infer, batch, hyper, py);
  } finally {
    py?.close();
  }
  // With --profile the profiled predicts already counted the FLOPs; else one profiled predict.
  const flopsPerImg = profile
    ? profile.predict.ours.flops / (c.steps * c.batch)
    : await forwardFlopsPerImage(infer, batch, c);
  const perImg = (secs: number[], n: number) => secs.map((s) => n / s);
  const trainImgS = perImg(t.ours.train, c.steps * c.batch);
  const predImgS = perImg(t.ours.predict, c.steps * c.batch);
  const r: BenchResult = {
    arch: c.arch,
    size: c.size,
    batch: c.batch,
    precision: c.precision,
    threads,
    channels_last: !!c.channelsLast,
    device: c.device ?? 'cpu',
    train_channels_last: trainCl,
    predict_channels_last: inferCl,
    train_img_s: median(trainImgS),
    predict_img_s: median(predImgS),
    train_ms_per_img: 1000 / median(trainImgS),
    latency_ms: median(t.ours.latency.map((s) => (s * 1000) / (c.steps * 4))),
    rounds,
    load: [load0, loadavg()[0]!],
    isa: isa.level,
    isa_aten: isa.aten,
    ...flopFigures(flopsPerImg, median(trainImgS), median(predImgS), c.precision, threads, c.device),
    ...(profile ? { profile } : {}),
  };
  Object.assign(r, pythonFigures(t, c, perImg));
  if (pythonError) r.python_error = pythonError;
  return r;
}

/** The Python reference starts from these same weights (and input): speed can depend on the values. */
async function writeInitWeights(model: Model, batch: Batch, n: number): Promise<string> {
  const weights = join(mkdtempSync(join(tmpdir(), 'cxrtune-bench-')), 'init.safetensors');
  const init = await model.state();
  init.set('__input.pixels', { dtype: 'U8', shape: [batch.pixels.length], data: batch.pixels });
  init.set('__input.labels', { dtype: 'I32', shape: [n], data: new Uint8Array(batch.labels!.buffer) });
  await writeSafetensors(weights, init);
  return weights;
}
