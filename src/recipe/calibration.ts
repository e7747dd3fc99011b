// Expected calibration error and reliability bins (equal-width bins over [0, 1]).
//
// Two conventions exist for a binary classifier; we name them:
// - 'positive' (default): bin the positive-class probability p and compare each bin's mean p
//   with the fraction of positives in it — the reliability diagram a clinician reads
//   ("of the films scored 0.8, are 80 % positive?").
// - 'top-label' (Guo et al. 2017): bin the confidence max(p, 1−p) and compare it with the
//   accuracy of the predicted label (p >= 0.5 → positive) in the bin.
// ECE = Σ_b (n_b / n)·|mean confidence_b − observed_b|; MCE = max over non-empty bins.
// Bin b holds values in [b/B, (b+1)/B); the last bin also holds 1.

export type CalibrationMode = 'positive' | 'top-label';

interface ReliabilityBin {
  lo: number;
  hi: number;
  count: number;
  /** Mean p (positive) or mean confidence (top-label); NaN for an empty bin. */
  meanPredicted: number;
  /** Fraction positive (positive) or accuracy (top-label); NaN for an empty bin. */
  observed: number;
}

export interface Calibration {
  mode: CalibrationMode;
  ece: number;
  mce: number;
  bins: ReliabilityBin[];
}

export function calibration(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  opts: { bins?: number; mode?: CalibrationMode; positiveClass?: number } = {},
): Calibration {
  const B = opts.bins ?? 10;
  const mode = opts.mode ?? 'positive';
  const pc = opts.positiveClass ?? 1;
  if (!Number.isInteger(B) || B < 1) throw new Error(`calibration: bins must be a positive integer, got ${B}`);
  if (mode !== 'positive' && mode !== 'top-label') {
    throw new Error(`calibration: mode must be 'positive' or 'top-label', got ${JSON.stringify(mode)}`);
  }
  if (probs.length !== labels.length)
    throw new Error(`calibration: ${probs.length} probabilities but ${labels.length} labels`);
  const count = new Array<number>(B).fill(0);
  const sumPred = new Array<number>(B).fill(0);
  const sumObs = new Array<number>(B).fill(0);
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i]!;
    if (!(p >= 0 && p <= 1)) throw new Error(`calibration: probability at row ${i} is outside [0, 1] (${p})`);
    const isPos = labels[i] === pc;
    let c: number;
    let o: number;
    if (mode === 'positive') {
      c = p;
      o = isPos ? 1 : 0;
    } else {
      const predPos = p >= 0.5;
      c = predPos ? p : 1 - p;
      o = predPos === isPos ? 1 : 0;
    }
    const b = Math.min(B - 1, Math.floor(c * B));
    count[b]!++;
    sumPred[b]! += c;
    sumObs[b]! += o;
  }
  const n = probs.length;
  let ece = 0;
  let mce = 0;
  const bins: ReliabilityBin[] = [];
  for (let b = 0; b < B; b++) {
    const k = count[b]!;
    const meanPredicted = k ? sumPred[b]! / k : NaN;
    const observed = k ? sumObs[b]! / k : NaN;
    if (k) {
      const gap = Math.abs(meanPredicted - observed);
      ece += (k / n) * gap;
      mce = Math.max(mce, gap);
    }
    bins.push({ lo: b / B, hi: (b + 1) / B, count: k, meanPredicted, observed });
  }
  return { mode, ece: n ? ece : NaN, mce: n ? mce : NaN, bins };
}
