// Shared by the data commands: a throttled progress line and a repeatable-flag collector.
import { overwrite } from '../util/progressLine.js';

/** Throttled one-line progress on stderr: done/total, rate and ETA. */
export function progress(label: string, quiet: boolean): (done: number, total: number) => void {
  const t0 = Date.now();
  let last = 0;
  return (done, total) => {
    if (quiet) return;
    const now = Date.now();
    if (done < total && now - last < 250) return;
    last = now;
    const s = (now - t0) / 1000;
    const rate = s > 0 ? done / s : 0;
    const eta = rate > 0 ? (total - done) / rate : 0;
    const line = `${label}: ${done}/${total}  ${rate.toFixed(1)}/s  ETA ${eta.toFixed(0)} s`;
    process.stderr.write(
      process.stderr.isTTY ? overwrite(line) + (done === total ? '\n' : '') : done === total ? `${line}\n` : '',
    );
  };
}

export const collect = (v: string, prev: string[] = []) => [...prev, v];
