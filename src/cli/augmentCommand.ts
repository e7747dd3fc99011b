// `cxrtune augment`: offline augmentation (the paper's Table 1), every parameter recorded.
import { type Command, Option } from 'commander';
import { augmentDataset } from '../data/augmentDataset.js';
import { parseTransforms, TRANSFORMS } from '../data/augment.js';
import { FITS, type Fit } from '../data/image.js';
import { act } from './act.js';
import { progress } from './dataArgs.js';
import { intOption, jsonOption, manifestOption, numOption, seedOption, sizeOption } from './options.js';

export function registerAugmentCommand(program: Command): void {
  program
    .command('augment')
    .description(
      'offline augmentation (paper Table 1): K copies per image with every parameter recorded, plus ' +
        'contact sheets to inspect',
    )
    .addOption(manifestOption('input manifest.csv', { required: true, arg: 'file' }))
    .requiredOption('--out <dir>', 'output folder (images/, manifest.csv, sheets/)')
    .addOption(intOption('--per-image <k>', 'augmented copies per input image', { def: 5 }))
    .addOption(seedOption('seed (same seed → identical files)', 0))
    .option('--transforms <list>', `comma list of ${TRANSFORMS.join(', ')} (default all)`)
    .addOption(
      numOption('--p <prob>', 'probability each transform is applied (at least one always is)', {
        min: 0,
        max: 1,
        def: 0.75,
      }),
    )
    .option('--splits <list>', 'splits to augment (never test)', 'train')
    .option(
      '--exclude <file>',
      'outputs to drop (one path per line, or a CSV with a path column; e.g. rejects from a contact sheet)',
    )
    .addOption(sizeOption('resize inputs to S×S first (default: native size)'))
    .addOption(new Option('--fit <mode>', 'with --size').choices(FITS).default('letterbox'))
    .option('--with-originals', 'also list the input images in the output manifest')
    .addOption(intOption('--sheet-size <n>', 'images per contact sheet (0 = none)', { def: 64 }))
    .addOption(
      new Option('--on-error <mode>', 'unreadable inputs: fail, or skip and list them in skipped.csv')
        .choices(['fail', 'skip'])
        .default('fail'),
    )
    .addOption(jsonOption('print the result as JSON'))
    .action(act(runAugment));
}

/** `augment`: runs augmentDataset, then prints the counts or JSON. */
async function runAugment(o: AugmentFlags): Promise<void> {
  const r = await augmentDataset({
    manifest: o.manifest,
    out: o.out,
    perImage: o.perImage,
    seed: o.seed,
    splits: String(o.splits)
      .split(',')
      .map((s: string) => s.trim()),
    config: { transforms: parseTransforms(o.transforms), p: o.p },
    exclude: o.exclude,
    size: o.size,
    fit: o.fit as Fit,
    withOriginals: !!o.withOriginals,
    sheetSize: o.sheetSize,
    onError: o.onError as 'fail' | 'skip',
    onProgress: progress('augment', !!o.json),
  });
  if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  else
    process.stdout.write(
      `${r.inputs} inputs × ${o.perImage} − ${r.excluded} excluded = ${r.outputs} images → ` +
        `${r.manifestFile}; ${r.sheets.length} contact ` +
        `sheet(s)${r.skipped.length ? `; ${r.skipped.length} skipped (skipped.csv)` : ''}\n`,
    );
}

interface AugmentFlags {
  manifest: string;
  out: string;
  perImage: number;
  seed: number;
  transforms?: string;
  p: number;
  splits: string;
  exclude?: string;
  size?: number;
  fit: string;
  withOriginals?: boolean;
  sheetSize: number;
  onError: string;
  json?: boolean;
}
