// What one engine bench cell is given (arch, size, batch, precision, rounds, …) and what it
// records: images/s, latency, FLOPs, the CPU's peak and, with --vs-python, Python's figures and the ratios.
import type { Arch, Precision } from '../engine/types.js';
import type { OpSummary } from './opProfile.js';

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
  /** Interleaved rounds (ours, Python, ours, …); default 5 with --vs-python, else 1. */
  rounds?: number;
  /** Also profile `steps` train and predict steps op by op (both sides with --vs-python). */
  profile?: boolean;
}

/** Op profiles of `steps` steps: ours, and Python's with --vs-python. */
export interface BenchProfile {
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
