// `cxrtune weights pull ORG/NAME`: download from the Hugging Face Hub into its cache.
import type { Command } from 'commander';
import { pullWeights } from '../app/weights/pullWeights.js';
import { barGlyphs, formatDuration, overwrite, REDRAW_MS } from '../util/progressLine.js';
import { act } from './act.js';
import { quietOption } from './options.js';

/** A download bar on stderr: redrawn in place on a terminal, one line per file otherwise. */
export function downloadBar(
  write: (s: string) => void,
  tty: boolean,
  now = () => performance.now(),
): (file: string, done: number, total: number) => void {
  let t0 = 0,
    last = 0,
    current = '';
  return (file, done, total) => {
    const t = now();
    if (file !== current) {
      current = file;
      t0 = t;
      last = 0;
    }
    const finished = total > 0 && done >= total;
    if (!finished && (!tty || t - last < REDRAW_MS)) return;
    last = t;
    const rate = done / 1e6 / Math.max(1e-3, (t - t0) / 1000);
    const frac = total ? Math.min(1, done / total) : 0;
    const bar = barGlyphs(frac);
    const eta = rate > 0 && total ? formatDuration((total - done) / 1e6 / rate) : '?';
    const line =
      `${file} ${bar} ${(done / 1e6).toFixed(1)}/${(total / 1e6).toFixed(1)} MB ${rate.toFixed(1)} ` +
      `MB/s${finished ? '' : ` ETA ${eta}`}`;
    write(tty ? `${overwrite(line)}${finished ? '\n' : ''}` : `${line}\n`);
  };
}

export function registerWeightsPull(weights: Command): void {
  weights
    .command('pull')
    .description(
      "download a model's weights (+ config.json) from the Hugging Face Hub into its cache, resuming " +
        'a partial download and checking size and SHA-256; honours HF_ENDPOINT, HF_HUB_OFFLINE, ' +
        'HF_TOKEN, HF_HOME/HF_HUB_CACHE',
    )
    .argument('<repo>', 'ORG/NAME, e.g. timm/resnet152.tv_in1k or timm/densenet169.tv_in1k')
    .option('--revision <rev>', 'branch, tag or commit', 'main')
    .option('--file <name...>', 'files to fetch (default config.json and model.safetensors, else pytorch_model.bin)')
    .addOption(quietOption('no progress bar'))
    .action(
      act(async (repo: string, o: { revision: string; file?: string[]; quiet?: boolean }) => {
        const r = await pullWeights({
          repo,
          revision: o.revision,
          ...(o.file ? { files: o.file } : {}),
          ...(o.quiet ? {} : { progress: downloadBar((s) => process.stderr.write(s), Boolean(process.stderr.isTTY)) }),
          log: (m) => process.stderr.write(`${m}\n`),
        });
        if (r.offline) process.stdout.write(`offline: ${repo} is in the cache: ${r.weights}\n`);
        for (const f of r.files) {
          const how = f.cached
            ? ' (already cached)'
            : f.resumedFrom
              ? ` (resumed at ${(f.resumedFrom / 1e6).toFixed(1)} MB)`
              : '';
          const sha = f.sha256 ? `, sha256 ${f.sha256.slice(0, 16)}… verified` : '';
          process.stdout.write(`${f.name}: ${(f.bytes / 1e6).toFixed(1)} MB${how}${sha}\n`);
        }
        if (!r.offline)
          process.stdout.write(
            `${r.snapshot}\nuse it: cxrtune train --pretrained ${repo} …  (or cxrtune weights import ${repo})\n`,
          );
      }),
    );
}
