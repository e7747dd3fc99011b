// Early stopping as a callback: end training when the monitored metric has not improved for
// `patience` epochs. The trainer tracks the best value and its epoch (it needs them for the
// best checkpoint); this callback only decides. Epochs without improvement = epoch − bestEpoch,
// which is also right after a resume (both come from the saved trainer state).
import type { EpochResult, StopRequest, TrainerCallback } from './callbacks.js';

interface EarlyStoppingOptions {
  monitor: string;
  /** Epochs without improvement before stopping (0 = never). */
  patience: number;
  /** Total epochs: stopping after the last one is not "early". */
  epochs: number;
}

export class EarlyStopping implements TrainerCallback {
  constructor(private readonly o: EarlyStoppingOptions) {
    if (!Number.isInteger(o.patience) || o.patience < 0)
      throw new Error(`patience must be a non-negative integer (got ${o.patience})`);
  }

  onEpochEnd(r: EpochResult): StopRequest | undefined {
    const { patience, epochs, monitor } = this.o;
    if (patience === 0 || r.epoch - r.bestEpoch < patience || r.epoch + 1 >= epochs) return undefined;
    const best = Number.isFinite(r.bestValue) ? r.bestValue.toFixed(4) : 'n/a';
    return {
      status: 'early-stopped',
      stop:
        `early stopping after epoch ${r.epoch + 1}: ${monitor} has not improved for ${patience} epoch(s) ` +
        `(best ${best} at epoch ${r.bestEpoch + 1})`,
    };
  }
}
