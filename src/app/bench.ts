// Engine benchmark: training and inference images/s per (arch, size, batch,
// precision), optionally against the same step in Python torch/torchvision.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { writeSafetensors } from '../engine/safetensors.js';
import { join } from 'node:path';
import { Model } from '../engine/model.js';
import { projectRoot } from '../engine/native.js';
import { getThreads, setThreads, manualSeed } from '../engine/runtime.js';
import type { Arch, Batch, Precision } from '../engine/types.js';
import { errorMessage } from '../util/errorMessage.js';

const run = promisify(execFile);

export interface BenchConfig {
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
}

export interface BenchResult {
  arch: Arch; size: number; batch: number; precision: Precision; threads: number; channels_last: boolean; device: string;
  train_img_s: number; predict_img_s: number; train_ms_per_img: number;
  python_train_img_s?: number; python_predict_img_s?: number; ratio?: number; predict_ratio?: number;
  /** Why the Python reference could not run this configuration (e.g. a missing bf16 kernel in torch 1.13). */
  python_error?: string;
}

export function benchBatch(n: number, size: number): Batch {
  const pixels = new Uint8Array(n * size * size);
  let x = 12345;
  for (let i = 0; i < pixels.length; i++) { x = (x * 1103515245 + 12345) >>> 0; pixels[i] = x >>> 24; }
  return { pixels, shape: [n, size, size, 1], labels: Int32Array.from({ length: n }, (_, i) => i % 2) };
}

export async function benchOne(c: BenchConfig): Promise<BenchResult> {
  if (c.threads) setThreads(c.threads);
  manualSeed(0);
  const model = await Model.create({ arch: c.arch, numClasses: 2, device: c.device ?? 'cpu', ...(c.channelsLast ? { channelsLast: true } : {}) });
  model.configureOptimizer({ kind: 'sgd', groups: [model.layers().flatMap((l) => l.params)] });
  // The Python reference starts from these same weights: speed can depend on the values.
  const batch = benchBatch(c.batch, c.size);
  const weights = c.vsPython ? join(mkdtempSync(join(tmpdir(), 'cxrtune-bench-')), 'init.safetensors') : '';
  if (weights) {
    const init = await model.state();
    init.set('__input.pixels', { dtype: 'U8', shape: [batch.pixels.length], data: batch.pixels });
    init.set('__input.labels', { dtype: 'I32', shape: [c.batch], data: new Uint8Array(batch.labels!.buffer) });
    await writeSafetensors(weights, init);
  }
  const hyper = [{ lr: 1e-3, momentum: 0.9, weightDecay: 0 }];
  for (let i = 0; i < c.warmup; i++) await model.trainStep(batch, hyper, { precision: c.precision });
  let t0 = performance.now();
  for (let i = 0; i < c.steps; i++) await model.trainStep(batch, hyper, { precision: c.precision });
  const trainS = (performance.now() - t0) / 1000;
  await model.predict(batch, { precision: c.precision });
  t0 = performance.now();
  for (let i = 0; i < c.steps; i++) await model.predict(batch, { precision: c.precision });
  const predS = (performance.now() - t0) / 1000;
  const threads = getThreads();
  const r: BenchResult = {
    arch: c.arch, size: c.size, batch: c.batch, precision: c.precision, threads, channels_last: !!c.channelsLast, device: c.device ?? 'cpu',
    train_img_s: (c.steps * c.batch) / trainS, predict_img_s: (c.steps * c.batch) / predS,
    train_ms_per_img: (trainS * 1000) / (c.steps * c.batch),
  };
  if (c.vsPython) {
    try {
      const py = await pythonBench({ ...c, threads }, weights);
      r.python_train_img_s = py.train_img_s;
      r.python_predict_img_s = py.predict_img_s;
      r.ratio = r.train_img_s / py.train_img_s;
      r.predict_ratio = r.predict_img_s / py.predict_img_s;
    } catch (e) {
      r.python_error = errorMessage(e);
    }
  }
  return r;
}

async function pythonBench(c: BenchConfig & { threads: number }, weights: string): Promise<{ train_img_s: number; predict_img_s: number }> {
  const py = process.env.CXRTUNE_PYTHON ?? '/usr/bin/python3';
  if (!existsSync(py)) throw new Error(`--vs-python needs ${py} with torch and torchvision (apt-get install python3-torchvision)`);
  if (c.precision === 'fp16' && !(c.device ?? 'cpu').startsWith('cuda')) throw new Error('fp16 is CUDA-only');
  const script = join(projectRoot(), 'scripts', 'bench_torch.py');
  const args = [script, c.arch, c.size, c.batch, c.precision, c.threads, c.steps, c.warmup, c.channelsLast ? 1 : 0, c.device ?? 'cpu', weights].map(String);
  try {
    const { stdout } = await run(py, args, { maxBuffer: 1 << 20, timeout: 3_600_000 });
    return JSON.parse(stdout.trim().split('\n').pop()!);
  } catch (e) {
    throw new Error(`the Python reference failed: ${((e as { stderr?: string }).stderr ?? (e as Error).message).trim().split('\n').pop()}`);
  }
}
