// LR range test (Smith 2015; the paper's Fig. 7): train for a few iterations while the LR
// grows exponentially, watch the loss, and suggest a range. Pure: the caller provides a
// `step(lr, i)` that trains one batch at that LR and returns the loss, and restores the
// weights (and optimizer state) it started from afterwards — this module never sees them.
//
// Choices:
// - LR at iteration i of N: start·(end/start)^(i/(N−1)), so the sweep hits both ends
//   (fastai uses i/N and never reaches `end`).
// - Smoothing: EMA avg_i = β·avg_{i−1} + (1−β)·loss_i, reported with bias correction
//   avg_i / (1 − β^(i+1)) (fastai's SmoothenValue). β = 0.98.
// - Stop after the first iteration whose smoothed loss exceeds divergeFactor (4) × the lowest
//   smoothed loss so far, or whose loss is NaN/±Inf. That iteration is still recorded (it shows
//   the blow-up on the plot).
// - Suggestions are computed, as in fastai, on the smoothed losses with the first ⌊N/10⌋
//   iterations and the last 5 recorded ones left out (the start is flat noise, the end is the
//   blow-up); non-finite points are dropped; if fewer than 3 points remain, the untrimmed
//   finite points are used.
//     steepest:     the LR at the left end of the segment where the smoothed loss falls
//                   fastest per unit of ln(LR) (most negative finite difference).
//     valley:       fastai's heuristic (fastai ≥ 2.5): find the longest decreasing
//                   subsequence of the smoothed losses (O(n²) DP; lds[i] = length of the
//                   longest strictly decreasing subsequence ending at i); take the span
//                   [start, end] of the first longest one, start = end − lds[end]; and pick
//                   index start + ⌊(end−start)/3⌋ + ⌊(end−start)/6⌋ — about half way down the
//                   valley, before the bottom.
//     minimumDiv10: the LR of the lowest smoothed loss, divided by 10.
// - Proposed range: α_max = the chosen suggestion (steepest by default), α_min = α_max/100
//   (the paper's pairs 1e-3..1e-1 and 1e-4..1e-2 span a factor of 100).

export type Suggestion = 'steepest' | 'valley' | 'minimumDiv10';

export interface LrFindOptions {
  start?: number;
  end?: number;
  iterations?: number;
  beta?: number;
  divergeFactor?: number;
  suggestion?: Suggestion;
  /** α_max / α_min of the proposed range. Default 100. */
  rangeRatio?: number;
  /** Called after every iteration (progress display). */
  onStep?: (info: { i: number; lr: number; loss: number; smoothed: number }) => void;
}

export interface LrFindResult {
  lrs: number[];
  losses: number[];
  smoothed: number[];
  /** Why the sweep ended. */
  stopped: 'completed' | 'diverged' | 'non-finite';
  suggestions: { steepest: number; valley: number; minimumDiv10: number };
  /** Indices (into lrs) of the suggestion points (minimumDiv10: of the minimum itself). */
  suggestionIndex: { steepest: number; valley: number; minimumDiv10: number };
  proposed: { lrMin: number; lrMax: number; by: Suggestion };
  options: { start: number; end: number; iterations: number; beta: number; divergeFactor: number };
}

/** Thrown when the sweep gives too little to suggest anything; carries what was recorded. */
export class LrFindError extends Error {
  constructor(
    message: string,
    readonly partial: { lrs: number[]; losses: number[]; smoothed: number[] },
  ) {
    super(message);
    this.name = 'LrFindError';
  }
}

export async function lrFind(
  step: (lr: number, i: number) => Promise<number>,
  opts: LrFindOptions = {},
): Promise<LrFindResult> {
  const start = opts.start ?? 1e-7;
  const end = opts.end ?? 10;
  const N = opts.iterations ?? 100;
  const beta = opts.beta ?? 0.98;
  const div = opts.divergeFactor ?? 4;
  const by = opts.suggestion ?? 'steepest';
  const ratio = opts.rangeRatio ?? 100;
  if (!(start > 0) || !Number.isFinite(start))
    throw new Error(`lrFind: start must be a finite number > 0, got ${start}`);
  if (!(end > start) || !Number.isFinite(end))
    throw new Error(`lrFind: end must be finite and > start (${start}), got ${end}`);
  if (!Number.isInteger(N) || N < 5) throw new Error(`lrFind: iterations must be an integer >= 5, got ${N}`);
  if (!(beta >= 0 && beta < 1)) throw new Error(`lrFind: beta must be in [0, 1), got ${beta}`);
  if (!(div > 1) || !Number.isFinite(div))
    throw new Error(`lrFind: divergeFactor must be a finite number > 1, got ${div}`);
  if (!['steepest', 'valley', 'minimumDiv10'].includes(by)) {
    throw new Error(`lrFind: suggestion must be steepest, valley or minimumDiv10, got ${JSON.stringify(by)}`);
  }
  if (!(ratio >= 1) || !Number.isFinite(ratio))
    throw new Error(`lrFind: rangeRatio must be a finite number >= 1, got ${ratio}`);

  const lrs: number[] = [];
  const losses: number[] = [];
  const smoothed: number[] = [];
  let avg = 0;
  let best = Infinity;
  let stopped: LrFindResult['stopped'] = 'completed';
  for (let i = 0; i < N; i++) {
    const lr = start * (end / start) ** (i / (N - 1));
    const loss = await step(lr, i);
    avg = beta * avg + (1 - beta) * loss;
    const s = avg / (1 - beta ** (i + 1));
    lrs.push(lr);
    losses.push(loss);
    smoothed.push(s);
    opts.onStep?.({ i, lr, loss, smoothed: s });
    if (!Number.isFinite(loss) || !Number.isFinite(s)) {
      stopped = 'non-finite';
      break;
    }
    if (s < best) best = s;
    if (s > div * best) {
      stopped = 'diverged';
      break;
    }
  }

  const idx = analysisIndices(smoothed, Math.floor(N / 10), 5);
  if (idx.length < 3) {
    throw new LrFindError(
      `lrFind: only ${idx.length} usable loss value(s) before the loss ` +
        `${stopped === 'non-finite' ? 'became NaN/Inf' : 'diverged'} ` +
        `(at lr ${lrs[lrs.length - 1]?.toExponential(2)}); lower the start LR or check the data and model`,
      { lrs, losses, smoothed },
    );
  }
  const L = idx.map((i) => lrs[i]!);
  const S = idx.map((i) => smoothed[i]!);
  const st = steepestIndex(L, S);
  const va = valleyIndex(S);
  const mi = minimumIndex(S);
  const suggestions = { steepest: L[st]!, valley: L[va]!, minimumDiv10: L[mi]! / 10 };
  const lrMax = suggestions[by];
  return {
    lrs,
    losses,
    smoothed,
    stopped,
    suggestions,
    suggestionIndex: { steepest: idx[st]!, valley: idx[va]!, minimumDiv10: idx[mi]! },
    proposed: { lrMin: lrMax / ratio, lrMax, by },
    options: { start, end, iterations: N, beta, divergeFactor: div },
  };
}

/** Indices used for the suggestions: trimmed and finite (see the file comment). */
function analysisIndices(smoothed: number[], skipStart: number, skipEnd: number): number[] {
  const finite = (i: number) => Number.isFinite(smoothed[i]!);
  const trimmed: number[] = [];
  for (let i = skipStart; i < smoothed.length - skipEnd; i++) if (finite(i)) trimmed.push(i);
  if (trimmed.length >= 3) return trimmed;
  return smoothed.map((_, i) => i).filter(finite);
}

/** Index i of the most negative (S[i+1]−S[i]) / (ln L[i+1] − ln L[i]). */
export function steepestIndex(lrs: number[], losses: number[]): number {
  let best = 0;
  let bestG = Infinity;
  for (let i = 0; i + 1 < losses.length; i++) {
    const g = (losses[i + 1]! - losses[i]!) / (Math.log(lrs[i + 1]!) - Math.log(lrs[i]!));
    if (g < bestG) {
      bestG = g;
      best = i;
    }
  }
  return best;
}

/** fastai's `valley` (see the file comment); returns an index into `losses`. */
export function valleyIndex(losses: number[]): number {
  const n = losses.length;
  const lds = new Array<number>(n).fill(1);
  let maxStart = 0;
  let maxEnd = 0;
  for (let i = 1; i < n; i++) {
    for (let j = 0; j < i; j++) {
      if (losses[i]! < losses[j]! && lds[i]! < lds[j]! + 1) lds[i] = lds[j]! + 1;
      if (lds[maxEnd]! < lds[i]!) {
        maxEnd = i;
        maxStart = maxEnd - lds[maxEnd]!;
      }
    }
  }
  const sections = (maxEnd - maxStart) / 3;
  const idx = maxStart + Math.floor(sections) + Math.floor(sections / 2);
  return Math.min(Math.max(idx, 0), n - 1);
}

export function minimumIndex(losses: number[]): number {
  let m = 0;
  for (let i = 1; i < losses.length; i++) if (losses[i]! < losses[m]!) m = i;
  return m;
}
