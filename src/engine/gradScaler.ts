// Dynamic loss scaling for fp16 (Micikevicius et al. 2018; torch.cuda.amp.GradScaler):
// start at 2^16, halve and skip the step when a gradient overflows, double after
// 2000 consecutive clean steps. The native step applies the scale it is given.
export interface GradScalerState { scale: number; cleanSteps: number }

export class GradScaler {
  scale: number;
  cleanSteps = 0;
  constructor(readonly init = 2 ** 16, readonly growthInterval = 2000, readonly factor = 2, readonly minScale = 1) {
    this.scale = init;
  }
  /** Records the outcome of a step taken with `this.scale`. */
  update(overflow: boolean): void {
    if (overflow) {
      this.scale = Math.max(this.minScale, this.scale / this.factor);
      this.cleanSteps = 0;
    } else if (++this.cleanSteps >= this.growthInterval) {
      this.scale *= this.factor;
      this.cleanSteps = 0;
    }
  }
  state(): GradScalerState { return { scale: this.scale, cleanSteps: this.cleanSteps }; }
  load(s: GradScalerState): void { this.scale = s.scale; this.cleanSteps = s.cleanSteps; }
}
