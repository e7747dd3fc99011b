// A one-line progress bar for training (on stderr): epoch, steps, loss (EMA), images/s and
// ETA for the whole run. On a terminal it redraws in place (at most every 100 ms); otherwise
// it prints one line per epoch so logs stay readable. The writer and clock are injected so
// the recipe layer does no I/O of its own and tests can drive it. The drawing is util/progressLine.ts.
import { barGlyphs, formatDuration, overwrite, REDRAW_MS } from '../util/progressLine.js';
import type { EpochResult, StepInfo, TrainBeginInfo, TrainerCallback } from './callbacks.js';

export interface ProgressBarOptions {
  write: (s: string) => void;
  tty?: boolean;
  now?: () => number;
  width?: number;
}

export class ProgressBar implements TrainerCallback {
  private readonly write: (s: string) => void;
  private readonly tty: boolean;
  private readonly now: () => number;
  private readonly width: number;
  private epochs = 0;
  private t0 = 0;
  private stepsThisSession = 0;
  private imagesThisSession = 0;
  private ema = NaN;
  private lastDraw = 0;

  constructor(opts: ProgressBarOptions) {
    this.write = opts.write;
    this.tty = opts.tty ?? false;
    this.now = opts.now ?? (() => performance.now());
    this.width = opts.width ?? 24;
  }

  onTrainBegin(info: TrainBeginInfo): void {
    this.epochs = info.epochs;
    this.t0 = this.now();
  }

  onStep(s: StepInfo): void {
    this.stepsThisSession++;
    this.imagesThisSession += s.images;
    this.ema = Number.isFinite(this.ema) ? 0.9 * this.ema + 0.1 * s.loss : s.loss;
    const t = this.now();
    if (!this.tty || (t - this.lastDraw < REDRAW_MS && s.batch + 1 < s.batchesPerEpoch)) return;
    this.lastDraw = t;
    const elapsed = (t - this.t0) / 1000;
    const perStep = elapsed / this.stepsThisSession;
    const eta = perStep * (s.totalSteps - s.step - 1);
    const bar = barGlyphs((s.batch + 1) / s.batchesPerEpoch, this.width);
    this.write(
      overwrite(
        `epoch ${s.epoch + 1}/${this.epochs} ${bar} ${s.batch + 1}/${s.batchesPerEpoch}` +
          ` loss ${this.ema.toFixed(4)} ${(this.imagesThisSession / elapsed).toFixed(1)} img/s` +
          ` ETA ${formatDuration(eta)}`,
      ),
    );
  }

  onEpochEnd(r: EpochResult): void {
    const v = r.valid;
    const f = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : 'n/a');
    const line =
      `epoch ${r.epoch + 1}/${this.epochs} train_loss ${f(r.trainLoss)} valid_loss ${f(v.loss)}` +
      ` acc ${f(v.accuracy)} sens ${f(v.sensitivity)} spec ${f(v.specificity)} auc ${f(v.auc)}` +
      ` ${r.imagesPerSecond.toFixed(1)} img/s ${formatDuration(r.seconds)}${r.improved ? ' *' : ''}`;
    this.write(`${this.tty ? overwrite(line) : line}\n`);
  }
}
