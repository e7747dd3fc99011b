// Engine benchmark: training and inference images/s and batch-1 latency per (arch, size,
// batch, precision), optionally against the same step in Python torch/torchvision. On a
// shared machine one run per side measures the neighbours, not the code (Python's own
// MobileNetV2 predict varied 30–164 img/s between runs): with --vs-python both sides stay
// alive and alternate in rounds, each round's ratio is taken, and a ratio whose rounds
// disagree by more than MAX_RATIO_SPREAD is reported as noise, not as a result.
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { writeSafetensors } from '../engine/safetensors.js';
import { join } from 'node:path';
import { Model } from '../engine/model.js';
import { cpuIsa, getThreads, setThreads, manualSeed } from '../engine/runtime.js';
import type { Arch, Batch, Precision } from '../engine/types.js';
import { errorMessage } from '../util/errorMessage.js';
import { PythonKindError, PythonReference, type TimedKind } from './pythonReference.js';
import { profileOps } from '../engine/profiler.js';
import { summariseOps, type OpSummary } from './opProfile.js';
import { cpuPeak, effectiveCpuFacts } from './cpuPeak.js';
import { channelsLastFor } from '../engine/models/registry.js';

interface BenchConfig {
  arch: Arch;
  size: number;
  batch: number;
  precision: Precision;
  threads?: number;
  steps: number;
  warmup: number;
  channelsLast?: boolean;
  vsPython?: boolean;
  device?: string;
  /** Interleaved rounds (ours, Python, ours, …); default 5 with --vs-python, else 1. */
  rounds?: number;
  /** Also profile `steps` train and predict steps op by op (both sides with --vs-python). */
  profile?: boolean;
}

/** Op profiles of `steps` steps: ours, and Python's with --vs-python. */
interface BenchProfile {
  steps: number;
  train: { ours: OpSummary; python?: OpSummary };
  predict: { ours: OpSummary; python?: OpSummary };
}

export interface BenchResult {
  arch: Arch;
  size: number;
  batch: number;
  precision: Precision;
  threads: number;
  channels_last: boolean;
  device: string;
  /** Training, and predict and latency, ran in channels_last: --channels-last, or the family's CPU settings. */
  train_channels_last?: boolean;
  predict_channels_last?: boolean;
  train_img_s: number;
  predict_img_s: number;
  train_ms_per_img: number;
  python_train_img_s?: number;
  python_predict_img_s?: number;
  ratio?: number;
  predict_ratio?: number;
  /** Why the Python reference could not run this configuration (e.g. a missing bf16 kernel in torch 1.13). */
  python_error?: string;
  /** The CPU kernels' instruction set (engine/isa.ts) and ATen's own level. */
  isa?: string;
  isa_aten?: string;
  /** Batch-1 predict latency (what serve does), median over rounds. */
  latency_ms?: number;
  python_latency_ms?: number;
  /** Python's latency ÷ ours: ≥ 1 means ours is at least as fast. */
  latency_ratio?: number;
  /** Range (min, max) of the per-round ratios. */
  ratio_spread?: [number, number];
  predict_ratio_spread?: [number, number];
  latency_ratio_spread?: [number, number];
  /** Whether each ratio's spread is within MAX_RATIO_SPREAD over ≥ 3 rounds. */
  conclusive?: { train: boolean; predict: boolean; latency: boolean };
  rounds?: number;
  /** 1-minute load average before and after (this machine is shared). */
  load?: [number, number];
  /** Forward FLOPs per image, as libtorch's profiler counts them (conv, linear, add, mul). */
  gflop_per_img?: number;
  /** Achieved GFLOP/s: training counts 3× the forward (backward ≈ 2×: input and weight gradients). */
  train_gflops?: number;
  predict_gflops?: number;
  /** This CPU's peak for the precision and threads (cpuPeak.ts), and each cell as a percentage of it. */
  peak_gflops?: number;
  peak_basis?: string;
  train_peak_pct?: number;
  predict_peak_pct?: number;
  profile?: BenchProfile;
}

export function benchBatch(n: number, size: number): Batch {
  const pixels = new Uint8Array(n * size * size);
  let x = 12345;
  for (let i = 0; i < pixels.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    pixels[i] = x >>> 24;
  }
  return { pixels, shape: [n, size, size, 1], labels: Int32Array.from({ length: n }, (_, i) => i % 2) };
}

/** Per-round ratios wider than this (max / min) say nothing: the table refuses to print them. */
export const MAX_RATIO_SPREAD = 1.3;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Median of per-round ratios, their range, and whether the range is narrow enough to mean anything. */
function summariseRatios(ratios: number[]): { median: number; spread: [number, number]; conclusive: boolean } {
  const lo = Math.min(...ratios);
  const hi = Math.max(...ratios);
  return { median: median(ratios), spread: [lo, hi], conclusive: ratios.length >= 3 && hi / lo <= MAX_RATIO_SPREAD };
}

type Timings = Record<'ours' | 'python', Record<TimedKind, number[]>>;
type TimedRunner = Record<TimedKind, (warmup: number, steps: number) => Promise<number>>;

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

/** Forward FLOPs per image: one profiled predict of the bench batch. */
async function forwardFlopsPerImage(model: Model, batch: Batch, c: BenchConfig): Promise<number> {
  const { events } = await profileOps(() => model.predict(batch, { precision: c.precision }));
  return summariseOps(events).flops / c.batch;
}

/** GFLOP/s achieved and, on CPU, as a share of this CPU's peak. */
function flopFigures(
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
async function profileBoth(
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

/**
 * Timed rounds of train, predict and latency, ours and Python's interleaved; a Python failure ends its side only (the
 * caller closes it), a kind Python cannot run ends that kind only.
 */
async function runRounds(
  c: BenchConfig,
  rounds: number,
  ours: TimedRunner,
  pyStarted: PythonReference | null,
): Promise<{ t: Timings; error?: string; closed: boolean }> {
  let py = pyStarted;
  let error: string | undefined;
  const kinds: TimedKind[] = ['train', 'predict', 'latency'];
  const pyCannot = new Set<TimedKind>();
  const t: Timings = {
    ours: { train: [], predict: [], latency: [] },
    python: { train: [], predict: [], latency: [] },
  };
  for (let r = 0; r < rounds; r++) {
    for (const k of kinds) {
      // Alternate who goes first, so a drift in the machine's load does not favour one side.
      const withPy = py && !pyCannot.has(k);
      const sides: Array<'ours' | 'python'> = withPy ? (r % 2 ? ['python', 'ours'] : ['ours', 'python']) : ['ours'];
      for (const side of sides) {
        const steps = k === 'latency' ? c.steps * 4 : c.steps;
        await pause(withPy ? 100 : 0); // let the other side's OpenMP team stop spinning
        try {
          t[side][k].push(side === 'ours' ? await ours[k](c.warmup, steps) : await py!.time(k, c.warmup, steps));
        } catch (e) {
          if (side === 'ours') throw e;
          error = errorMessage(e);
          if (e instanceof PythonKindError) {
            pyCannot.add(k);
            t.python[k] = [];
          } else {
            py?.close();
            py = null;
          }
        }
      }
    }
  }
  return { t, ...(error !== undefined ? { error } : {}), closed: py !== pyStarted };
}

/**
 * Python's figures and the ratios per round (ours ÷ Python in images/s; Python ÷ ours in
 * latency), then their median: per kind, and only for a kind Python ran in every round.
 */
function pythonFigures(
  t: Timings,
  c: BenchConfig,
  perImg: (secs: number[], n: number) => number[],
): Partial<BenchResult> {
  const out: Partial<BenchResult> = {};
  const conclusive = { train: false, predict: false, latency: false };
  const fields = {
    train: ['python_train_img_s', 'ratio', 'ratio_spread'],
    predict: ['python_predict_img_s', 'predict_ratio', 'predict_ratio_spread'],
    latency: ['python_latency_ms', 'latency_ratio', 'latency_ratio_spread'],
  } as const;
  for (const k of ['train', 'predict', 'latency'] as const) {
    const py = t.python[k];
    if (py.length === 0 || py.length !== t.ours[k].length) continue;
    const r = summariseRatios(py.map((p, i) => p / t.ours[k][i]!));
    const value =
      k === 'latency' ? median(py.map((s) => (s * 1000) / (c.steps * 4))) : median(perImg(py, c.steps * c.batch));
    const [v, m, s] = fields[k];
    Object.assign(out, { [v]: value, [m]: r.median, [s]: r.spread });
    conclusive[k] = r.conclusive;
  }
  if (Object.keys(out).length) out.conclusive = conclusive;
  return out;
}

async function timed(fn: () => Promise<unknown>, warmup: number, steps: number): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await fn();
  return (performance.now() - t0) / 1000;
}
