// `cxrtune data build`: sources (or a preset) → a manifest with patient-level splits.
import { existsSync } from 'node:fs';
import { type Command, Option } from 'commander';
import {
  adultMixedPreset,
  buildDataset,
  DATA_PRESETS,
  paperDaPreset,
  threeClassPreset,
  tbShenzhenPreset,
  type BuildOptions,
} from '../data/build.js';
import { BALANCE_MODES, type BalanceMode } from '../data/balance.js';
import { LABEL_MAP_PRESETS } from '../data/labelMap.js';
import { PATIENT_ID_RULES } from '../data/patientId.js';
import { formatSummaryTable } from '../data/summary.js';
import { act } from './act.js';
import { collect, progress } from './dataArgs.js';
import { jsonOption, seedOption } from './options.js';

export function registerDataBuild(data: Command): void {
  data
    .command('build')
    .description('read sources into one manifest.csv (+ summary.json) with balanced, patient-level splits')
    .option(
      '--source <KIND:PATH[:k=v,...]>',
      `a source, repeatable. KIND: covid-chestxray (folder with metadata.csv; options views, ` +
        `findings, modality, name), cxnet (COVID-CXNet: metadata.csv + images/; options adults=yes ` +
        `(no pediatric rows), minage, views, name), figure1 (the Figure 1 COVID-19 set: metadata.csv + images/; ` +
        `options views, name), folder (one sub-folder per class; options ` +
        `rule=${Object.keys(PATIENT_ID_RULES).join('|')}|regex:RE, classes=A|B, name), csv (options ` +
        `path, label, patient, view, rule, keep), dicom (options labels=FILE, label, views), tb-screening (the NLM ` +
        `TB sets, images/ + masks/: the file name's last digit is the label; option name)`,
      collect,
    )
    .option(
      '--preset <name>',
      'paper-da: COVID-19 frontal X-rays of covid-chestxray vs as many negatives from kermany + ' +
        'nih/No_findings; adult-mixed: the same positives (+ cxnet with --with-cxnet) vs adult negatives only ' +
        "(nih No_findings + Pneumonia, Montgomery + Shenzhen normals, covid-chestxray's non-COVID findings), sources " +
        "balanced across splits; three-class: covid / other pneumonia / normal (COVID-Net's classes) from the same " +
        'collections; tb-shenzhen: normal vs tuberculosis of the Shenzhen hospital (lungs/shenzhen), ' +
        'patient-level 80/20 split, with its task record (score lungs/montgomery as --external) (reads --data-dir)',
    )
    .option('--with-kermany', 'adult-mixed: add the paediatric Kermany negatives back (age then becomes a cue)')
    .option('--with-cxnet', "adult-mixed: add cxnet's positives (DATA/cxnet; a stronger provenance cue, see the notes)")
    .option('--data-dir <dir>', 'data folder for --preset', '../shared/data')
    .option(
      '--label-map <file|preset>',
      `raw label → label: a JSON/CSV file or a preset (${Object.keys(LABEL_MAP_PRESETS).join(', ')})`,
    )
    .option('--views <list>', 'keep only these views, e.g. PA,AP (AP also matches "AP Supine"; "frontal" = PA+AP)')
    .addOption(
      new Option(
        '--balance <mode>',
        'class balancing (undersample before the split; oversample the train split only)',
      ).choices(BALANCE_MODES),
    )
    .option(
      '--split <fractions>',
      'train,valid[,test] fractions, grouped by patient and stratified by label',
      '0.7,0.3',
    )
    .option(
      '--split-by <what>',
      "hold out together: patient (default), source, or a column such as location (covid-chestxray's " +
        'hospital/city; rows without it fall back to their source), or collection (train on one collection ' +
        "of positives, validate on another's with a held-out source's negatives) — source-held-out validation",
      'patient',
    )
    .option('--hold-out <source>', '--split-by collection: the collection whose positives validate (default cxnet)')
    .option(
      '--hold-out-negatives <sources>',
      '--split-by collection: negative-only sources held out beside it, comma-separated (default: the one ' +
        'closest in size to the held-out positives)',
    )
    .addOption(seedOption('seed for drawing, balancing and splitting', 0))
    .option(
      '--external',
      "an external evaluation set: every image in split 'test', and one class is allowed (a " +
        "hospital's positives alone → evaluate reports sensitivity with its interval)",
    )
    .requiredOption('--out <dir>', 'output folder (manifest.csv, summary.json, skipped.csv)')
    .addOption(
      new Option('--on-error <mode>', 'bad files: fail on the first, or skip them and list them in skipped.csv')
        .choices(['fail', 'skip'])
        .default('fail'),
    )
    .addOption(
      new Option('--verify <mode>', 'check the images that enter the manifest')
        .choices(['decode', 'header', 'none'])
        .default('decode'),
    )
    .addOption(jsonOption('print the summary as JSON on stdout'))
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  cxrtune data build --preset paper-da --data-dir ../shared/data --seed 1 --out runs/data/paper-da',
        '  cxrtune data build --preset paper-da --split-by location --out runs/data/paper-da-by-site   ' +
          '# validation on unseen hospitals and sources',
        '  cxrtune data build --preset adult-mixed --split-by location --out runs/data/adult-mixed-by-site   ' +
          '# adult negatives, unseen hospitals in validation',
        '  cxrtune data build --preset adult-mixed --split-by collection --out runs/data/adult-mixed-by-collection   ' +
          '# train on covid-chestxray positives, validate on cxnet + a held-out negative source',
        '  cxrtune data build --preset tb-shenzhen --out runs/data/tb-shenzhen   # TB: train in Shenzhen',
        '  cxrtune data build --source tb-screening:../shared/data/lungs/montgomery --external ' +
          '--out runs/data/tb-montgomery   # TB: Montgomery County as the external set',
        '  cxrtune data build --source figure1:../shared/data/figure1 --label-map paper-da --split 1 ' +
          '--out runs/data/figure1   # an external set',
        '  cxrtune data build --source folder:../shared/data/kermany:rule=kermany --label-map identity ' +
          '--balance undersample --out runs/data/kermany',
        '  cxrtune data build --source csv:labels.csv:path=file,label=finding,patient=pid --out runs/data/mine',
      ].join('\n'),
    )
    .action(act(runDataBuild));
}

/** `data build`: preset and --source options → buildDataset, then the summary table or JSON. */
async function runDataBuild(o: DataBuildFlags): Promise<void> {
  let base: Partial<BuildOptions> = {};
  if (o.preset) {
    if (!(DATA_PRESETS as readonly string[]).includes(o.preset))
      throw new Error(`unknown preset '${o.preset}' (${DATA_PRESETS.join(', ')})`);
    if (!existsSync(o.dataDir)) throw new Error(`data folder not found: ${o.dataDir} (set --data-dir)`);
    if ((o.withKermany || o.withCxnet) && o.preset !== 'adult-mixed')
      throw new Error(`${o.withKermany ? '--with-kermany' : '--with-cxnet'} goes with --preset adult-mixed`);
    base =
      o.preset === 'adult-mixed'
        ? adultMixedPreset(o.dataDir, {
            kermany: Boolean(o.withKermany),
            ...(o.withCxnet ? { cxnet: true } : {}),
          })
        : o.preset === 'three-class'
          ? threeClassPreset(o.dataDir)
          : o.preset === 'tb-shenzhen'
            ? tbShenzhenPreset(o.dataDir)
            : paperDaPreset(o.dataDir);
  } else if (o.withKermany || o.withCxnet) {
    throw new Error(`${o.withKermany ? '--with-kermany' : '--with-cxnet'} goes with --preset adult-mixed`);
  }
  if ((o.holdOut || o.holdOutNegatives) && o.splitBy !== 'collection')
    throw new Error('--hold-out and --hold-out-negatives go with --split-by collection');
  const sources = [...(base.sources ?? []), ...((o.source as string[] | undefined) ?? [])];
  const r = await buildDataset({
    ...base,
    sources,
    labelMap: o.labelMap ?? base.labelMap,
    views: o.views ? String(o.views).split(',') : base.views,
    balance: (o.balance as BalanceMode | undefined) ?? base.balance ?? 'none',
    split: o.split === '0.7,0.3' && base.split ? base.split : o.split,
    splitBy: o.splitBy,
    ...(o.holdOut ? { holdOut: o.holdOut } : {}),
    ...(o.holdOutNegatives
      ? {
          holdOutNegatives: o.holdOutNegatives
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean),
        }
      : {}),
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
  if (o.json)
    process.stdout.write(
      `${JSON.stringify(
        { manifest: r.manifestFile, summaryFile: r.summaryFile, skippedFile: r.skippedFile, ...r.summary },
        null,
        2,
      )}\n`,
    );
  else
    process.stdout.write(
      `${formatSummaryTable(r.summary)}\nwrote ${r.manifestFile}, ` +
        `${r.summaryFile}${r.skippedFile ? `, ${r.skippedFile}` : ''}\n`,
    );
}

interface DataBuildFlags {
  preset?: string;
  dataDir: string;
  withKermany?: boolean;
  withCxnet?: boolean;
  holdOut?: string;
  holdOutNegatives?: string;
  source?: string[];
  labelMap?: string;
  views?: string;
  balance?: string;
  split: string;
  splitBy?: BuildOptions['splitBy'];
  seed: number;
  out: string;
  onError: BuildOptions['onError'];
  verify: BuildOptions['verify'];
  external?: boolean;
  json?: boolean;
}
