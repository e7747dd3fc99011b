// Shared by the `cxrtune lungs` subcommands: defaults, flag parsers, the data options.
import { type Command, Option } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { intOption, numOption, seedOption, threadsOption } from './options.js';
import { BOOTSTRAP_RESAMPLES } from '../recipe/bootstrap.js';
import { loadNative, projectRoot } from '../engine/native.js';
import { physicalCores } from '../engine/runtime.js';
import { limitPerSource, readLungData, type LungDataOptions } from '../app/lungs/trainLungs.js';
import type { SegSourceSummary } from '../app/lungs/evaluateSegmenter.js';

export const DEFAULT_DATA = () => join(projectRoot(), '..', 'shared', 'data', 'lungs');
export const DEFAULT_PRETRAINED = () =>
  join(projectRoot(), '..', 'shared', 'pretrained', 'mobilenet_v2-imagenet-ptq.safetensors');

export function threads(n?: number): number {
  const t = n ?? physicalCores();
  loadNative().setThreads(t);
  return t;
}
export function requireModel(dir: string): string {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new Error(`segmenter not found: ${dir} (train one with \`cxrtune lungs train\`)`);
  return dir;
}
/** The lung data of the subcommands (app/lungs/trainLungs.ts reads and splits it). */
export const readData = (path: string, o: LungDataOptions) => readLungData(path, o);
export { limitPerSource };

export function printSummary(sources: SegSourceSummary[]): void {
  const f = (m: { mean: number; lo: number; hi: number }, d: number) =>
    `${m.mean.toFixed(d)} [${m.lo.toFixed(d)}, ${m.hi.toFixed(d)}]`;
  console.log('source           images patients  Dice [95% CI]           IoU [95% CI]            HD95 px [95% CI]');
  for (const s of sources)
    console.log(
      `${s.source.padEnd(16)} ${String(s.images).padStart(6)} ${String(s.patients).padStart(8)}  ` +
        `${f(s.dice, 4).padEnd(24)} ${f(s.iou, 4).padEnd(24)} ${f(s.hd95, 1)}`,
    );
  console.log(
    `(95% intervals: percentile bootstrap over patients, ${BOOTSTRAP_RESAMPLES} resamples; ` +
      "HD95 in pixels at each mask's own size)",
  );
}

/** The data and split options every data-reading subcommand shares. */
export function commonLungOptions(c: Command): Command {
  return c
    .addOption(
      // The default is described, not printed: its absolute form names the machine it was built on.
      new Option(
        '--data <dir|manifest>',
        'lung data: a folder with montgomery/, shenzhen/, covid-chestxray-masks/ or a manifest with a lung_mask column',
      ).default(DEFAULT_DATA(), '../shared/data/lungs beside the project folder'),
    )
    .option('--covid-images <dir>', 'images of the V7 masks (default: ../covid-chestxray/images beside --data)')
    .addOption(numOption('--test-fraction <f>', 'held-out patients per source', { def: 0.2 }))
    .addOption(seedOption('seed of the split, shuffling and augmentation', 0))
    .option(
      '--sources <list>',
      'only these sources, comma-separated (e.g. montgomery,v7-covid: no non-commercial Shenzhen masks)',
    )
    .addOption(intOption('--limit <n>', 'at most n images per source (quick runs)'))
    .addOption(threadsOption());
}
