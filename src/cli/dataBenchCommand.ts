// `cxrtune data bench`: decode and batch-loading throughput.
import type { Command } from 'commander';
import { readManifest } from '../data/manifest.js';
import { benchData, folderManifest } from '../bench/dataBench.js';
import { act } from './act.js';
import { batchOption, intOption, jsonOption, manifestOption, sizeOption } from './options.js';

export function registerDataBench(data: Command): void {
  data
    .command('bench')
    .description('decoded-and-resized images/s through the batch loader, cold and cached')
    .addOption(manifestOption('manifest to read (default: a folder of images, see --dir)', { arg: 'file' }))
    .option('--dir <folder>', 'folder-per-class tree to sample when no manifest is given', '../shared/data/nih')
    .addOption(intOption('--limit <n>', 'images sampled from --dir', { min: 1, def: 512 }))
    .addOption(sizeOption('output side', 224))
    .addOption(batchOption('batch size', 16))
    .addOption(jsonOption())
    .action(
      act(async (o: { manifest?: string; dir: string; limit: number; size: number; batch: number; json?: boolean }) => {
        const m = o.manifest ? readManifest(o.manifest) : folderManifest(o.dir, o.limit);
        const r = await benchData(m, { size: o.size, batch: o.batch });
        if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        else
          process.stdout.write(
            `${r.images} images at ${r.size} px, batch ${r.batch}: cold ${r.coldImagesPerSec} img/s, ` +
              `cached ${r.cachedImagesPerSec} img/s, cached+augment ${r.augmentedCachedImagesPerSec} ` +
              `img/s\n`,
          );
      }),
    );
}
