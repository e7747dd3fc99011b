// `cxrtune data phantoms`: synthetic chest radiographs with lesion and lung masks.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { writePhantoms } from '../data/phantom.js';
import { act } from './act.js';
import { progress } from './dataArgs.js';
import { intOption, jsonOption, numOption, seedOption, sizeOption } from './options.js';

export function registerDataPhantoms(data: Command): void {
  data
    .command('phantoms')
    .description(
      'draw synthetic chest radiographs (normal / covid with ground-glass opacities) with lesion and lung masks',
    )
    .addOption(intOption('--n <count>', 'number of images (half normal, half covid)', { def: 200 }))
    .addOption(sizeOption('image side in pixels', 128))
    .addOption(seedOption('seed (same seed → identical files)', 0))
    .option('--split <fractions>', 'train,valid[,test] fractions', '0.7,0.3')
    .addOption(
      numOption(
        '--lesion-intensity <x>',
        "multiplier of the lesions' peak opacity (1 = default ground glass; 0.6 ≈ the faint early version)",
        { def: 1 },
      ),
    )
    .addOption(intOption('--sheet-size <n>', 'images on contact-sheet.png (0 = none)', { def: 64 }))
    .option('--marker', 'plant a shortcut: a bright corner marker on covid phantoms only (for testing cxrtune audit)')
    .requiredOption('--out <dir>', 'output folder (images/, masks/, manifest.csv, contact-sheet.png)')
    .addOption(jsonOption('print the result as JSON'))
    .action(
      act(async (o: PhantomFlags) => {
        const t = Date.now();
        const r = await writePhantoms({
          n: o.n,
          size: o.size,
          seed: o.seed,
          out: resolve(o.out),
          split: o.split,
          sheetSize: o.sheetSize,
          lesionIntensity: o.lesionIntensity,
          marker: Boolean(o.marker),
          onProgress: progress('phantoms', !!o.json),
        });
        const secs = (Date.now() - t) / 1000;
        const res = { ...r, seconds: secs, perSecond: Math.round((r.count / secs) * 10) / 10 };
        if (o.json) process.stdout.write(`${JSON.stringify(res, null, 2)}\n`);
        else
          process.stdout.write(
            `wrote ${r.count} phantoms (${Object.entries(r.labels)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')}) in ${secs.toFixed(1)} s → ${r.manifestFile}${r.sheet ? `, ${r.sheet}` : ''}\n`,
          );
      }),
    );
}

interface PhantomFlags {
  n: number;
  size: number;
  seed: number;
  split: string;
  lesionIntensity: number;
  sheetSize: number;
  marker?: boolean;
  out: string;
  json?: boolean;
}
