// Divergence as a callback: a non-finite loss, or a step whose gradients overflowed in
// fp32/bf16, or (fp16) `maxConsecutiveOverflows` skipped steps in a row, ends training at once
// with status 'diverged'. The trainer reports no epoch end for that epoch, so no checkpoint of
// the broken weights is written: the last good one stays. The message names the place and the
// LR, and what to try — in the recipe's words (the CLI adds its flags).
import type { Precision } from '../engine/types.js';
import type { StepInfo, StopRequest, TrainerCallback } from './callbacks.js';

interface DivergenceStopOptions {
  precision: Precision;
  /** fp16 only: overflowed steps in a row tolerated while the loss scale backs off (default 20). */
  maxConsecutiveOverflows?: number;
}

export class DivergenceStop implements TrainerCallback {
  private readonly max: number;

  constructor(private readonly o: DivergenceStopOptions) {
    this.max = o.maxConsecutiveOverflows ?? 20;
  }

  onStep(i: StepInfo): StopRequest | undefined {
    const lr = i.hyper[i.hyper.length - 1]!.lr.toExponential(2);
    const where = `at epoch ${i.epoch + 1}, step ${i.step + 1}/${i.totalSteps} (last group's LR ${lr})`;
    if (!Number.isFinite(i.loss)) {
      return {
        status: 'diverged',
        stop:
          `training diverged ${where}: the loss became ${i.loss}. Lower the peak LR (α_max; an LR range test ` +
          `finds one) or use fp32`,
      };
    }
    if (!i.overflow) return undefined;
    if (this.o.precision !== 'fp16') {
      return {
        status: 'diverged',
        stop:
          `training diverged ${where}: the gradients became NaN/Inf. Lower the peak LR (α_max; an LR range ` +
          `test finds one)`,
      };
    }
    if (i.consecutiveOverflows >= this.max) {
      return {
        status: 'diverged',
        stop:
          `training diverged ${where}: ${i.consecutiveOverflows} fp16 steps in a row overflowed (loss scale ` +
          `${i.lossScale} at the last). Lower the peak LR or use bf16/fp32`,
      };
    }
    return undefined;
  }
}
