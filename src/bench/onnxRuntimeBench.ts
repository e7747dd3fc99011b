// `cxrtune bench --vs-onnxruntime`: the engine's predict against ONNX Runtime (onnxruntime-node,
// CPU execution provider) on the same network — the file `cxrtune export` writes from the same
// weights — with the same threads: batch --batch images/s and batch-1 latency, fp32, in
// interleaved rounds (who goes first alternates), medians and the range of the per-round ratios,
// as --vs-python reports them (benchRounds.ts).
import { loadavg } from 'node:os';
import * as ort from 'onnxruntime-node';
import { Model } from '../engine/model.js';
import { channelsLastFor } from '../engine/models/registry.js';
import { classifierGraph } from '../engine/onnx/classifierOnnx.js';
import { deviceInfo, getThreads, manualSeed, setThreads } from '../engine/runtime.js';
import type { Arch, Batch } from '../engine/types.js';
import { benchBatch } from './bench.js';
import { median, summariseRatios, timed } from './benchRounds.js';

export interface OrtBenchConfig {
  arch: Arch;
  size: number;
  batch: number;
  threads?: number;
  steps: number;
  warmup: number;
  rounds: number;
}

export interface OrtBenchResult {
  arch: Arch;
  size: number;
  batch: number;
  precision: 'fp32';
  threads: number;
  /** The engine predicts in channels_last where the family's CPU setting says so (as cxrtune loads it). */
  engine_channels_last: boolean;
  predict_img_s: number;
  ort_predict_img_s: number;
  /** Ours ÷ ONNX Runtime's images/s: ≥ 1 means the engine is at least as fast. */
  predict_ratio: number;
  predict_ratio_spread: [number, number];
  latency_ms: number;
  ort_latency_ms: number;
  /** ONNX Runtime's ms ÷ ours. */
  latency_ratio: number;
  latency_ratio_spread: [number, number];
  /** Whether each ratio's rounds agree within MAX_RATIO_SPREAD over ≥ 3 rounds. */
  conclusive: { predict: boolean; latency: boolean };
  rounds: number;
  load: [number, number];
  ort_version: string;
  /** What ran the engine's convolutions (info().inferenceConv). */
  engine_conv: 'onednn' | 'mkldnn_prepacked';
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function benchVsOnnxRuntime(c: OrtBenchConfig): Promise<OrtBenchResult> {
  if (c.threads) setThreads(c.threads);
  const threads = getThreads();
  manualSeed(0);
  const channelsLast = channelsLastFor(c.arch, 'cpu', 'inference');
  const model = await Model.create({ arch: c.arch, numClasses: 2, ...(channelsLast ? { channelsLast } : {}) });
  const bytes = classifierGraph({
    arch: c.arch,
    state: await model.state(),
    size: c.size,
    normalisation: model.spec.normalisation,
  }).encode({ name: c.arch, doc: 'bench', metadata: {}, producerVersion: 'bench' });
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const batch = benchBatch(c.batch, c.size);
  const one: Batch = { pixels: batch.pixels.subarray(0, c.size * c.size), shape: [1, c.size, c.size, 1] };
  const feed = (b: Batch) => ({ pixels: new ort.Tensor('uint8', b.pixels, b.shape) });
  const sides = {
    ours: { predict: () => model.predict(batch), latency: () => model.predict(one) },
    ort: { predict: () => session.run(feed(batch)), latency: () => session.run(feed(one)) },
  };
  const t = {
    ours: { predict: [] as number[], latency: [] as number[] },
    ort: { predict: [] as number[], latency: [] as number[] },
  };
  const load0 = loadavg()[0]!;
  for (let r = 0; r < c.rounds; r++) {
    for (const k of ['predict', 'latency'] as const) {
      for (const side of r % 2 ? (['ort', 'ours'] as const) : (['ours', 'ort'] as const)) {
        await pause(100); // let the other side's worker threads stop spinning
        t[side][k].push(await timed(sides[side][k], c.warmup, k === 'latency' ? c.steps * 4 : c.steps));
      }
    }
  }
  await session.release();
  const imgS = (secs: number[]) => secs.map((s) => (c.steps * c.batch) / s);
  const ms = (secs: number[]) => secs.map((s) => (s * 1000) / (c.steps * 4));
  const pr = summariseRatios(t.ort.predict.map((o, i) => o / t.ours.predict[i]!));
  const lr = summariseRatios(t.ort.latency.map((o, i) => o / t.ours.latency[i]!));
  return {
    arch: c.arch,
    size: c.size,
    batch: c.batch,
    precision: 'fp32',
    threads,
    engine_channels_last: channelsLast,
    predict_img_s: median(imgS(t.ours.predict)),
    ort_predict_img_s: median(imgS(t.ort.predict)),
    predict_ratio: pr.median,
    predict_ratio_spread: pr.spread,
    latency_ms: median(ms(t.ours.latency)),
    ort_latency_ms: median(ms(t.ort.latency)),
    latency_ratio: lr.median,
    latency_ratio_spread: lr.spread,
    conclusive: { predict: pr.conclusive, latency: lr.conclusive },
    rounds: c.rounds,
    load: [load0, loadavg()[0]!],
    ort_version: ort.env.versions.node ?? 'unknown',
    engine_conv: deviceInfo().inferenceConv,
  };
}

/** The side-by-side table. */
export function formatOrtTable(rs: OrtBenchResult[], maxSpread: number): string {
  const f = (x: number, d = 1) => x.toFixed(d);
  const ratio = (x: number, s: [number, number], ok: boolean) =>
    `${ok ? x.toFixed(2) : 'noise'} (${s[0].toFixed(2)}–${s[1].toFixed(2)})`;
  const head = [
    'arch',
    'size',
    'batch',
    'predict img/s',
    'onnxruntime',
    'ratio (range)',
    'batch-1 ms',
    'onnxruntime',
    'ratio (range)',
  ];
  const rows = rs.map((r) => [
    r.arch,
    String(r.size),
    String(r.batch),
    f(r.predict_img_s),
    f(r.ort_predict_img_s),
    ratio(r.predict_ratio, r.predict_ratio_spread, r.conclusive.predict),
    f(r.latency_ms),
    f(r.ort_latency_ms),
    ratio(r.latency_ratio, r.latency_ratio_spread, r.conclusive.latency),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const lines = [head, ...rows].map((r) => r.map((c, i) => c.padStart(w[i]!)).join('  '));
  const r0 = rs[0];
  if (r0)
    lines.push(
      `fp32, ${r0.threads} threads on both sides, onnxruntime-node ${r0.ort_version} (CPU execution provider), ` +
        `engine convolutions ${r0.engine_conv}, ` +
        `medians of ${r0.rounds} interleaved rounds; ratios > 1: cxrtune faster (batch-1: ONNX Runtime's ms ÷ ours); ` +
        `'noise': rounds disagree by more than ${maxSpread}× or fewer than 3 rounds; load average ` +
        rs.map((r) => r.load.map((l) => l.toFixed(1)).join('→')).join(', '),
    );
  return lines.join('\n');
}
