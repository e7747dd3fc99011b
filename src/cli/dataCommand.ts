// `cxrtune data build|phantoms|summary|bench` and `cxrtune augment`.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { adultMixedPreset, buildDataset, DATA_PRESETS, paperDaPreset, type BuildOptions } from '../data/build.js';
import { BALANCE_MODES, type BalanceMode } from '../data/balance.js';
import { LABEL_MAP_PRESETS } from '../data/labelMap.js';
import { PATIENT_ID_RULES } from '../data/patientId.js';
import { formatSummaryTable, summarise } from '../data/summary.js';
import { readManifest } from '../data/manifest.js';
import { writePhantoms } from '../data/phantom.js';
import { augmentDataset } from '../data/augmentDataset.js';
import { parseTransforms, TRANSFORMS } from '../data/augment.js';
import { benchData, folderManifest } from '../data/bench.js';
import { FITS, type Fit } from '../data/image.js';
import { floatArg } from './args.js';
import { act } from './act.js';
import { errorMessage } from '../util/errorMessage.js';

/** Throttled one-line progress on stderr: done/total, rate and ETA. */
function progress(label: string, quiet: boolean): (done: number, total: number) => void {
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
    process.stderr.write(process.stderr.isTTY ? `\r${line}\x1b[K${done === total ? '\n' : ''}` : done === total ? `${line}\n` : '');
  };
}

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`${name} must be an integer (got '${v}')`);
  return n;
};
const collect = (v: string, prev: string[] = []) => [...prev, v];

export function registerDataCommands(program: Command): void {
  const data = program.command('data').description('build dataset manifests, synthetic phantoms and data benchmarks');
  registerDataBuild(data);
  registerDataPhantoms(data);
  registerDataSummary(data);
  registerDataBench(data);
  registerAugment(program);
}

function registerDataBuild(data: Command): void {
  data
    .command('build')
    .description('read sources into one manifest.csv (+ summary.json) with balanced, patient-level splits')
    .option('--source <KIND:PATH[:k=v,...]>', `a source, repeatable. KIND: covid-chestxray (folder with metadata.csv; options views, findings, modality, name), figure1 (the Figure 1 COVID-19 set: metadata.csv + images/; options views, name), folder (one sub-folder per class; options rule=${Object.keys(PATIENT_ID_RULES).join('|')}|regex:RE, classes=A|B, name), csv (options path, label, patient, view, rule, keep), dicom (options labels=FILE, label, views)`, collect)
    .option('--preset <name>', "paper-da: COVID-19 frontal X-rays of covid-chestxray vs as many negatives from kermany + nih/No_findings; adult-mixed: the same positives vs adult negatives only (nih No_findings + Pneumonia, Montgomery + Shenzhen normals, covid-chestxray's non-COVID findings), sources balanced across splits (reads --data-dir)")
    .option('--with-kermany', 'adult-mixed: add the paediatric Kermany negatives back (age then becomes a cue)')
    .option('--data-dir <dir>', 'data folder for --preset', '../shared/data')
    .option('--label-map <file|preset>', `raw label → label: a JSON/CSV file or a preset (${Object.keys(LABEL_MAP_PRESETS).join(', ')})`)
    .option('--views <list>', 'keep only these views, e.g. PA,AP (AP also matches "AP Supine"; "frontal" = PA+AP)')
    .addOption(new Option('--balance <mode>', 'class balancing (undersample before the split; oversample the train split only)').choices(BALANCE_MODES))
    .option('--split <fractions>', 'train,valid[,test] fractions, grouped by patient and stratified by label', '0.7,0.3')
    .option('--split-by <what>', "hold out together: patient (default), source, or a column such as location (covid-chestxray's hospital/city; rows without it fall back to their source) — source-held-out validation", 'patient')
    .option('--seed <n>', 'seed for drawing, balancing and splitting', int('--seed'), 0)
    .option('--external', "an external evaluation set: every image in split 'test', and one class is allowed (a hospital's positives alone → evaluate reports sensitivity with its interval)")
    .requiredOption('--out <dir>', 'output folder (manifest.csv, summary.json, skipped.csv)')
    .addOption(new Option('--on-error <mode>', 'bad files: fail on the first, or skip them and list them in skipped.csv').choices(['fail', 'skip']).default('fail'))
    .addOption(new Option('--verify <mode>', 'check the images that enter the manifest').choices(['decode', 'header', 'none']).default('decode'))
    .option('--json', 'print the summary as JSON on stdout')
    .addHelpText('after', `
Examples:
  cxrtune data build --preset paper-da --data-dir ../shared/data --seed 1 --out runs/data/paper-da
  cxrtune data build --preset paper-da --split-by location --out runs/data/paper-da-by-site   # validation on unseen hospitals and sources
  cxrtune data build --preset adult-mixed --split-by location --out runs/data/adult-mixed-by-site   # adult negatives, unseen hospitals in validation
  cxrtune data build --source figure1:../shared/data/figure1 --label-map paper-da --split 1 --out runs/data/figure1   # an external set
  cxrtune data build --source folder:../shared/data/kermany:rule=kermany --label-map identity --balance undersample --out runs/data/kermany
  cxrtune data build --source csv:labels.csv:path=file,label=finding,patient=pid --out runs/data/mine`)
    .action(act(runDataBuild));
}

/** `data build`: preset and --source options → buildDataset, then the summary table or JSON. */
async function runDataBuild(o: Record<string, any>): Promise<void> {
  let base: Partial<BuildOptions> = {};
  if (o.preset) {
    if (!(DATA_PRESETS as readonly string[]).includes(o.preset)) throw new Error(`unknown preset '${o.preset}' (${DATA_PRESETS.join(', ')})`);
    if (!existsSync(o.dataDir)) throw new Error(`data folder not found: ${o.dataDir} (set --data-dir)`);
    base = o.preset === 'adult-mixed' ? adultMixedPreset(o.dataDir, { kermany: Boolean(o.withKermany) }) : paperDaPreset(o.dataDir);
  } else if (o.withKermany) {
    throw new Error('--with-kermany goes with --preset adult-mixed');
  }
  const sources = [...(base.sources ?? []), ...((o.source as string[] | undefined) ?? [])];
  const r = await buildDataset({
    ...base,
    sources,
    labelMap: o.labelMap ?? base.labelMap,
    views: o.views ? String(o.views).split(',') : base.views,
    balance: (o.balance as BalanceMode | undefined) ?? base.balance ?? 'none',
    split: o.split === '0.7,0.3' && base.split ? base.split : o.split,
    splitBy: o.splitBy,
    seed: o.seed,
    out: o.out,
    onError: o.onError,
    verify: o.verify,
    external: Boolean(o.external),
    onProgress: (() => {
      const p = progress('checking images', !!o.json);
      return (stage: string, done: number, total: number) => (stage === 'check images' ? p(done, total) : undefined);
    })(),
  });
  if (o.json) process.stdout.write(JSON.stringify({ manifest: r.manifestFile, summaryFile: r.summaryFile, skippedFile: r.skippedFile, ...r.summary }, null, 2) + '\n');
  else process.stdout.write(`${formatSummaryTable(r.summary)}\nwrote ${r.manifestFile}, ${r.summaryFile}${r.skippedFile ? `, ${r.skippedFile}` : ''}\n`);
}

function registerDataPhantoms(data: Command): void {
  data
    .command('phantoms')
    .description('draw synthetic chest radiographs (normal / covid with ground-glass opacities) with lesion and lung masks')
    .option('--n <count>', 'number of images (half normal, half covid)', int('--n'), 200)
    .option('--size <px>', 'image side in pixels', int('--size'), 128)
    .option('--seed <n>', 'seed (same seed → identical files)', int('--seed'), 0)
    .option('--split <fractions>', 'train,valid[,test] fractions', '0.7,0.3')
    .option('--lesion-intensity <x>', 'multiplier of the lesions\' peak opacity (1 = default ground glass; 0.6 ≈ the faint early version)', floatArg, 1)
    .option('--sheet-size <n>', 'images on contact-sheet.png (0 = none)', int('--sheet-size'), 64)
    .option('--marker', 'plant a shortcut: a bright corner marker on covid phantoms only (for testing cxrtune audit)')
    .requiredOption('--out <dir>', 'output folder (images/, masks/, manifest.csv, contact-sheet.png)')
    .option('--json', 'print the result as JSON')
    .action(
      act(async (o: Record<string, any>) => {
        const t = Date.now();
        const r = await writePhantoms({ n: o.n, size: o.size, seed: o.seed, out: resolve(o.out), split: o.split, sheetSize: o.sheetSize, lesionIntensity: o.lesionIntensity, marker: Boolean(o.marker), onProgress: progress('phantoms', !!o.json) });
        const secs = (Date.now() - t) / 1000;
        const res = { ...r, seconds: secs, perSecond: Math.round((r.count / secs) * 10) / 10 };
        if (o.json) process.stdout.write(JSON.stringify(res, null, 2) + '\n');
        else process.stdout.write(`wrote ${r.count} phantoms (${Object.entries(r.labels).map(([k, v]) => `${k} ${v}`).join(', ')}) in ${secs.toFixed(1)} s → ${r.manifestFile}${r.sheet ? `, ${r.sheet}` : ''}\n`);
      }),
    );
}

function registerDataSummary(data: Command): void {
  data
    .command('summary')
    .description('counts per label × source × split, patients per split and patients shared between splits')
    .argument('<manifest>', 'manifest.csv')
    .option('--json', 'print JSON')
    .action(
      act(async (file: string, o: Record<string, any>) => {
        const s = summarise(readManifest(file).rows);
        process.stdout.write(o.json ? JSON.stringify(s, null, 2) + '\n' : formatSummaryTable(s) + '\n');
        if (s.sharedPatients > 0) process.exitCode = 2;
      }),
    );
}

function registerDataBench(data: Command): void {
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
        if (o.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
        else process.stdout.write(`${r.images} images at ${r.size} px, batch ${r.batch}: cold ${r.coldImagesPerSec} img/s, cached ${r.cachedImagesPerSec} img/s, cached+augment ${r.augmentedCachedImagesPerSec} img/s\n`);
      }),
    );
}

function registerAugment(program: Command): void {
  program
    .command('augment')
    .description("offline augmentation (paper Table 1): K copies per image with every parameter recorded, plus contact sheets to inspect")
    .requiredOption('--manifest <file>', 'input manifest.csv')
    .requiredOption('--out <dir>', 'output folder (images/, manifest.csv, sheets/)')
    .option('--per-image <k>', 'augmented copies per input image', int('--per-image'), 5)
    .option('--seed <n>', 'seed (same seed → identical files)', int('--seed'), 0)
    .option('--transforms <list>', `comma list of ${TRANSFORMS.join(', ')} (default all)`)
    .option('--p <prob>', 'probability each transform is applied (at least one always is)', '0.75')
    .option('--splits <list>', 'splits to augment (never test)', 'train')
    .option('--exclude <file>', 'outputs to drop (one path per line, or a CSV with a path column; e.g. rejects from a contact sheet)')
    .option('--size <px>', 'resize inputs to S×S first (default: native size)', int('--size'))
    .addOption(new Option('--fit <mode>', 'with --size').choices(FITS).default('letterbox'))
    .option('--with-originals', 'also list the input images in the output manifest')
    .option('--sheet-size <n>', 'images per contact sheet (0 = none)', int('--sheet-size'), 64)
    .addOption(new Option('--on-error <mode>', 'unreadable inputs: fail, or skip and list them in skipped.csv').choices(['fail', 'skip']).default('fail'))
    .option('--json', 'print the result as JSON')
    .action(act(runAugment));
}

/** `augment`: checks --p, runs augmentDataset, then prints the counts or JSON. */
async function runAugment(o: Record<string, any>): Promise<void> {
  const p = Number(o.p);
  if (!(p >= 0 && p <= 1)) throw new Error(`--p must be in [0, 1] (got ${o.p})`);
  const r = await augmentDataset({
    manifest: o.manifest,
    out: o.out,
    perImage: o.perImage,
    seed: o.seed,
    splits: String(o.splits).split(',').map((s: string) => s.trim()),
    config: { transforms: parseTransforms(o.transforms), p },
    exclude: o.exclude,
    size: o.size,
    fit: o.fit as Fit,
    withOriginals: !!o.withOriginals,
    sheetSize: o.sheetSize,
    onError: o.onError,
    onProgress: progress('augment', !!o.json),
  });
  if (o.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  else process.stdout.write(`${r.inputs} inputs × ${o.perImage} − ${r.excluded} excluded = ${r.outputs} images → ${r.manifestFile}; ${r.sheets.length} contact sheet(s)${r.skipped.length ? `; ${r.skipped.length} skipped (skipped.csv)` : ''}\n`);
}
