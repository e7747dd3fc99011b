// Dynamic loss scaling for fp16 (the policy; the native side multiplies the loss by the scale
// it is sent, unscales the gradients, reports whether they were finite and skips the step when
// the request says so). Same rules as torch.cuda.amp.GradScaler: start at 2^16; a step whose
// gradients overflow is skipped (`skipNonFinite`, sent with every step) and the scale halves;
// after `growthInterval` (2000) consecutive clean steps the scale doubles. For fp32/bf16 the
// scaler is disabled: the scale stays 1 and nothing changes, but an overflow is still a step
// to skip (a NaN gradient is never applied).

interface GradScalerOptions {
  initScale?: number;
  growthFactor?: number;
  backoffFactor?: number;
  growthInterval?: number;
  enabled?: boolean;
  /** Skip (do not apply) a step whose loss or gradients are inf/NaN (default true, as torch's). */
  skipNonFinite?: boolean;
}

export interface GradScalerState {
  scale: number;
  /** Clean steps since the last growth or overflow. */
  cleanSteps: number;
  /** Overflows in a row (a trainer can stop when this stays high). */
  consecutiveOverflows: number;
  enabled: boolean;
}

export class GradScaler {
  readonly growthFactor: number;
  readonly backoffFactor: number;
  readonly growthInterval: number;
  /** Sent with every step (StepOptions.skipNonFinite): whether the native step skips an inf/NaN step. */
  readonly skipNonFinite: boolean;
  private s: GradScalerState;

  constructor(opts: GradScalerOptions = {}) {
    const init = opts.initScale ?? 2 ** 16;
    this.growthFactor = opts.growthFactor ?? 2;
    this.backoffFactor = opts.backoffFactor ?? 0.5;
    this.growthInterval = opts.growthInterval ?? 2000;
    this.skipNonFinite = opts.skipNonFinite ?? true;
    if (!(init > 0) || !Number.isFinite(init))
      throw new Error(`gradScaler: initScale must be a finite number > 0, got ${init}`);
    if (!(this.growthFactor > 1) || !Number.isFinite(this.growthFactor))
      throw new Error(`gradScaler: growthFactor must be > 1, got ${this.growthFactor}`);
    if (!(this.backoffFactor > 0 && this.backoffFactor < 1))
      throw new Error(`gradScaler: backoffFactor must be in (0, 1), got ${this.backoffFactor}`);
    if (!Number.isInteger(this.growthInterval) || this.growthInterval < 1) {
      throw new Error(`gradScaler: growthInterval must be a positive integer, got ${this.growthInterval}`);
    }
    const enabled = opts.enabled ?? true;
    this.s = { scale: enabled ? init : 1, cleanSteps: 0, consecutiveOverflows: 0, enabled };
  }

  /** The scale to multiply the loss by for the next step. */
  get scale(): number {
    return this.s.scale;
  }

  /**
   * Record the outcome of a step (overflow: its loss or gradients were not finite). Returns
   * whether the step was skipped (not applied: an overflow under skipNonFinite, which the
   * request told the native step), and the scale for the next one.
   */
  update(overflow: boolean): { skip: boolean; scale: number } {
    const s = this.s;
    if (overflow) {
      s.consecutiveOverflows++;
      s.cleanSteps = 0;
      if (s.enabled) s.scale *= this.backoffFactor;
      return { skip: this.skipNonFinite, scale: s.scale };
    }
    s.consecutiveOverflows = 0;
    if (s.enabled) {
      s.cleanSteps++;
      if (s.cleanSteps >= this.growthInterval) {
        s.scale *= this.growthFactor;
        s.cleanSteps = 0;
      }
    }
    return { skip: false, scale: s.scale };
  }

  state(): GradScalerState {
    return { ...this.s };
  }

  load(state: GradScalerState): void {
    if (state === null || typeof state !== 'object') throw new Error('gradScaler: state must be an object');
    const { scale, cleanSteps, consecutiveOverflows, enabled } = state;
    if (!(scale > 0) || !Number.isFinite(scale))
      throw new Error(`gradScaler: saved scale must be a finite number > 0, got ${scale}`);
    if (!Number.isInteger(cleanSteps) || cleanSteps < 0)
      throw new Error(`gradScaler: saved cleanSteps must be a non-negative integer, got ${cleanSteps}`);
    if (!Number.isInteger(consecutiveOverflows) || consecutiveOverflows < 0) {
      throw new Error(
        `gradScaler: saved consecutiveOverflows must be a non-negative integer, got ${consecutiveOverflows}`,
      );
    }
    if (typeof enabled !== 'boolean') throw new Error('gradScaler: saved enabled must be a boolean');
    this.s = { scale, cleanSteps, consecutiveOverflows, enabled };
  }
}
