// Latency of one study as the server does it — decode + predict + Grad-CAM (+ the PNGs) —
// one at a time, after warm-up. The input is a phantom radiograph saved as PNG.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Learner } from '../app/train/learner.js';
import type { Arch } from '../engine/types.js';
import { encodePng } from '../data/image.js';
import { generatePhantom } from '../data/phantom.js';
import { screenStudy } from '../app/serve/screen.js';
import { writeUntrainedCheckpoint } from './untrainedCheckpoint.js';
import { nearestRankQuantile as quantile } from '../recipe/quantile.js';

export interface StudyBenchResult {
  arch: Arch;
  size: number;
  imagePx: number;
  imageBytes: number;
  runs: number;
  medianMs: number;
  p95Ms: number;
  minMs: number;
  /** Medians of the stages. */
  decodeMs: number;
  inferMs: number;
  renderMs: number;
}

export async function phantomStudyPng(px = 1024): Promise<Buffer> {
  const p = generatePhantom(7, 1, { size: px, label: 'covid' });
  return encodePng({ pixels: p.pixels, width: px, height: px });
}

export async function benchStudy(
  arch: Arch,
  opts: { size?: number; runs?: number; warmup?: number; imagePx?: number } = {},
): Promise<StudyBenchResult> {
  const size = opts.size ?? 224;
  const runs = opts.runs ?? 20;
  const imagePx = opts.imagePx ?? 1024;
  const dir = mkdtempSync(join(tmpdir(), 'cxrtune-studybench-'));
  try {
    await writeUntrainedCheckpoint(dir, arch, size);
    const { model, meta } = await Learner.loadCheckpointDir(dir, { threads: null });
    const png = await phantomStudyPng(imagePx);
    for (let i = 0; i < (opts.warmup ?? 3); i++) await screenStudy(model, meta, png);
    const total: number[] = [],
      dec: number[] = [],
      inf: number[] = [],
      ren: number[] = [];
    for (let i = 0; i < runs; i++) {
      const r = await screenStudy(model, meta, png);
      total.push(r.timings.totalMs);
      dec.push(r.timings.decodeMs);
      inf.push(r.timings.inferMs);
      ren.push(r.timings.renderMs);
    }
    return {
      arch,
      size,
      imagePx,
      imageBytes: png.length,
      runs,
      medianMs: quantile(total, 0.5),
      p95Ms: quantile(total, 0.95),
      minMs: Math.min(...total),
      decodeMs: quantile(dec, 0.5),
      inferMs: quantile(inf, 0.5),
      renderMs: quantile(ren, 0.5),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
