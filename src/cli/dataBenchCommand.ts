// `cxrtune data bench`: decode and batch-loading throughput.
import type { Command } from 'commander';
import { readManifest } from '../data/manifest.js';
import { benchData, folderManifest } from '../bench/dataBench.js';
import { act } from './act.js';
import { int } from './dataArgs.js';

export function registerDataBench(data: Command): void {
  data
    .command('bench')
    .description('decoded-and-resized images/s through the batch loader, cold and cached')
    .option('--manifest <file>', 'manifest to read (default: a folder of images, see --dir)')
    .option('--dir <folder>', 'folder-per-class tree to sample when no manifest is given', '../shared/data/nih')
    .option('--limit <n>', 'images sampled from --dir', int('--limit'), 512)
    .option('--size <px>', 'output side', int('--size'), 224)
    .option('--batch <n>', 'batch size', int('--batch'), 16)
    .option('--json', 'print JSON')
    .action(
      act(async (o: Record<string, any>) => {
        const m = o.manifest ? readManifest(o.manifest) : folderManifest(o.dir, o.limit);
        const r = await benchData(m, { size: o.size, batch: o.batch });
        if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        else
          process.stdout.write(
            `${r.images} images at ${r.size} px, batch ${r.batch}: cold ${r.coldImagesPerSec} img/s, cached ${r.cachedImagesPerSec} img/s, cached+augment ${r.augmentedCachedImagesPerSec} img/s\n`,
          );
      }),
    );
}
