// `cxrtune lungs predict`.
import type { Command } from 'commander';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { act } from './act.js';
import { manifestOption, modelOption, precisionOption, threadsOption } from './options.js';
import { loadSegmenter } from '../engine/segmentation/segmenterCheckpoint.js';
import { fillManifestMasks, lungMaskCacheDir, predictMasks } from '../app/lungs/predictMasks.js';
import { threads, requireModel } from './lungsArgs.js';

export function registerLungsPredict(lungs: Command): void {
  lungs
    .command('predict')
    .description(
      "lung masks (PNG 0/255 at each image's own size) for files or a manifest, cached under $CXRTUNE_CACHE/lung-masks",
    )
    .addOption(modelOption('segmenter checkpoint', { required: true, arg: 'dir' }))
    .argument('[images...]', 'image files')
    .addOption(manifestOption('fill the lung_mask column of this manifest'))
    .option(
      '--out <path>',
      'with --manifest: the manifest to write (default: beside it, *.lungs.csv); with files: a ' +
        'folder to copy the masks into',
    )
    .option('--overwrite', 'with --manifest: replace lung_mask values already there')
    .option('--cache-dir <dir>', 'mask cache (default: $CXRTUNE_CACHE/lung-masks/<weights hash>[-bf16])')
    .addOption(
      precisionOption(
        'fp32 or bf16 (bf16: about half the time on CPUs with fast bf16; same Dice on the held-out set)',
        'fp32',
      ),
    )
    .addOption(threadsOption())
    .action(
      act(async (images: string[], o) => {
        threads(o.threads);
        if (!o.manifest && !images.length) throw new Error('give image files or --manifest <csv>');
        const { model, meta } = await loadSegmenter(requireModel(o.model));
        const cacheDir = o.cacheDir ?? lungMaskCacheDir(meta, o.precision);
        if (o.manifest) {
          const out = o.out ?? `${o.manifest.replace(/\.csv$/i, '')}.lungs.csv`;
          const r = await fillManifestMasks(model, meta, o.manifest, out, {
            overwrite: !!o.overwrite,
            cacheDir,
            precision: o.precision,
            log: (m) => console.error(m),
          });
          console.log(
            `${out}: lung_mask filled for ${r.filled} rows (${r.cached} from the cache), ${r.kept} ` +
              `kept; masks in ${cacheDir}`,
          );
          return;
        }
        const res = await predictMasks(
          model,
          meta,
          images.map((f) => resolve(f)),
          { cacheDir, precision: o.precision },
        );
        for (const r of res) {
          let dest = r.mask;
          if (o.out) {
            mkdirSync(o.out, { recursive: true });
            dest = join(o.out, `${r.image.replace(/^.*\//, '').replace(/\.[^.]+$/, '')}_lung.png`);
            writeFileSync(dest, readFileSync(r.mask));
          }
          console.log(`${r.image}\t${dest}\tlung ${(100 * r.lungFraction).toFixed(1)}%${r.cached ? '\t(cached)' : ''}`);
        }
      }),
    );
}
