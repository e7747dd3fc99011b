// The engine bench's timed rounds: train, predict and latency, ours and Python's interleaved,
// and the per-round ratios, their median and whether their spread (MAX_RATIO_SPREAD) means anything.
import { errorMessage } from '../util/errorMessage.js';
import type { BenchConfig, BenchResult } from './benchRecord.js';
import { PythonKindError, type PythonReference, type TimedKind } from './pythonReference.js';

/** Per-round ratios wider than this (max / min) say nothing: the table refuses to print them. */
export const MAX_RATIO_SPREAD = 1.3;

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Median of per-round ratios, their range, and whether the range is narrow enough to mean anything. */
export function summariseRatios(ratios: number[]): { median: number; spread: [number, number]; conclusive: boolean } {
  const lo = Math.min(...ratios);
  const hi = Math.max(...ratios);
  return { median: median(ratios), spread: [lo, hi], conclusive: ratios.length >= 3 && hi / lo <= MAX_RATIO_SPREAD };
}

export type Timings = Record<'ours' | 'python', Record<TimedKind, number[]>>;

export type TimedRunner = Record<TimedKind, (warmup: number, steps: number) => Promise<number>>;

/**
 * Timed rounds of train, predict and latency, ours and Python's interleaved; a Python failure ends its side only (the
 * caller closes it), a kind Python cannot run ends that kind only.
 */
export async function runRounds(
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
export function pythonFigures(
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

export async function timed(fn: () => Promise<unknown>, warmup: number, steps: number): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await fn();
  return (performance.now() - t0) / 1000;
}
