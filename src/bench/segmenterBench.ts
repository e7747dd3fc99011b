// Segmenter inference latency: one image per call (what an app or a predict run pays),
// median and spread over `runs` timed calls after warm-up. Timing only — never asserted in tests.
import type { Segmenter } from '../engine/segmentation/segmenter.js';
import type { Precision } from '../engine/types.js';
import { linearQuantile } from '../recipe/quantile.js';

interface SegBench {
  size: number;
  runs: number;
  precision: Precision;
  threads: number;
  medianMs: number;
  p10Ms: number;
  p90Ms: number;
  minMs: number;
  maxMs: number;
}

export async function benchSegmenter(
  model: Segmenter,
  o: { size: number; runs?: number; warmup?: number; precision?: Precision; threads: number },
): Promise<SegBench> {
  const S = o.size,
    runs = o.runs ?? 50,
    precision = o.precision ?? 'fp32';
  const px = new Uint8Array(S * S);
  for (let i = 0; i < px.length; i++) px[i] = (i * 2654435761) >>> 24;
  const batch = { pixels: px, shape: [1, S, S, 1] as [number, number, number, number] };
  for (let i = 0; i < (o.warmup ?? 5); i++) await model.predict(batch, { precision });
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await model.predict(batch, { precision });
    ms.push(performance.now() - t);
  }
  return {
    size: S,
    runs,
    precision,
    threads: o.threads,
    medianMs: linearQuantile(ms, 0.5),
    p10Ms: linearQuantile(ms, 0.1),
    p90Ms: linearQuantile(ms, 0.9),
    minMs: Math.min(...ms),
    maxMs: Math.max(...ms),
  };
}
