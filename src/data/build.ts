// `data build`: sources → label map → image check → balance → patient-level split →
// manifest.csv + summary.json (+ skipped.csv). Everything is seeded and written atomically.
import { OptionError } from '../util/optionError.js';
import { existsSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { decodeImage } from './image.js';
import { notAFile } from './fileProbe.js';
import { LabelMap, loadLabelMap } from './labelMap.js';
import { manifestPathFor, writeManifest, type ManifestRow } from './manifest.js';
import { readSource, parseSourceSpec, type SourceSpec } from './sources/sourceSpec.js';
import type { SourceProblem, SourceRow } from './sources/source.js';
import { undersample, oversample, type BalanceMode } from './balance.js';
import { assignSplits, findPatientLeaks, groupUnits, parseSplit, type SplitSpec } from './split.js';
import { summarise, type DatasetSummary } from './summary.js';
import type { TaskDeclaration } from './task.js';
import { writeFileAtomic } from '../util/atomicWrite.js';
import { formatCsv } from './csv.js';
import { errorMessage } from '../util/errorMessage.js';
import pLimit from 'p-limit';

type OnError = 'skip' | 'fail';
type Verify = 'none' | 'header' | 'decode';

export interface BuildOptions {
  sources: (SourceSpec | string)[];
  /** Preset name, file, or a LabelMap. Default identity. */
  labelMap?: string | LabelMap;
  views?: string[];
  balance?: BalanceMode;
  /** Fractions or "0.7,0.3". Default 0.7,0.3. */
  split?: SplitSpec | string;
  /**
   * What is held out together: 'patient' (default), 'source', or a manifest column such as
   * 'location' (covid-chestxray's hospital/city); rows without that column fall back to
   * their source. Whole groups land on one side: source-held-out validation. 'collection':
   * leave one collection of positives out (see `holdOut`).
   */
  splitBy?: string;
  /**
   * With splitBy 'collection': the source whose positives validate, held out whole (default
   * cxnet when present). Every other collection of positives trains.
   */
  holdOut?: string;
  /**
   * With splitBy 'collection': the negative-only sources held out whole beside it (default: the
   * one whose image count is closest to the held-out positives').
   */
  holdOutNegatives?: string[];
  /**
   * Stratify the patient-level split by label × source (each source keeps its share in every
   * split) instead of by label alone. Ignored with a group split-by, which holds whole groups out.
   */
  stratifyBySource?: boolean;
  seed?: number;
  out: string;
  onError?: OnError;
  /** How images are checked before they enter the manifest (default decode). */
  verify?: Verify;
  /** Notes copied into the summary (e.g. what a preset stands in for). */
  notes?: string[];
  /**
   * What the dataset is for (data/task.ts): written to summary.json; training copies it into
   * model.json so every consumer names the finding. Absent: it follows from the class names.
   */
  task?: TaskDeclaration;
  /** Concurrency of the image check (default 8). */
  concurrency?: number;
  /**
   * An external evaluation set: every row goes to split 'test' (no train/valid) and a single
   * class is allowed (e.g. a hospital's positives alone: evaluate reports sensitivity).
   */
  external?: boolean;
  onProgress?: (stage: string, done: number, total: number) => void;
}

interface BuildResult {
  manifestFile: string;
  summaryFile: string;
  skippedFile?: string;
  rows: ManifestRow[];
  summary: DatasetSummary;
  skipped: SourceProblem[];
}

/** The paper's D_A from ../shared/data-style folders (see its README). */
export function paperDaPreset(
  dataDir: string,
): Pick<BuildOptions, 'sources' | 'labelMap' | 'balance' | 'split' | 'views' | 'notes'> {
  const d = resolve(dataDir);
  return {
    sources: [
      { kind: 'covid-chestxray', path: join(d, 'covid-chestxray'), options: { findings: 'COVID-19*' } },
      { kind: 'folder', path: join(d, 'kermany'), options: { rule: 'kermany', classes: 'NORMAL|PNEUMONIA' } },
      { kind: 'folder', path: join(d, 'nih'), options: { rule: 'nih', classes: 'No_findings' } },
    ],
    labelMap: 'paper-da',
    views: ['PA', 'AP'],
    balance: 'undersample',
    split: '0.7,0.3',
    notes: [
      'paper-da: positives = COVID-19 frontal (PA/AP/AP Supine) X-rays of covid-chestxray; negatives = as ' +
        'many images drawn at random, evenly over kermany NORMAL, kermany PNEUMONIA and nih No_findings',
      'nih/No_findings stands in for the Montgomery adult set used by the paper (not available here)',
      'positives and negatives come from different hospitals and age groups: beware source confounding',
    ],
  };
}

export const DATA_PRESETS = ['paper-da', 'adult-mixed', 'tb-shenzhen', 'three-class'] as const;
export type DataPreset = (typeof DATA_PRESETS)[number];

interface AdultMixedOptions {
  /** Add the paediatric Kermany NORMAL + PNEUMONIA folders back (off by default). */
  kermany?: boolean;
  /**
   * Add cxnet's positives (default off: they make provenance a stronger cue for the label — the
   * metadata-only baseline rises from 0.89 to 0.94 AUC — and the recipe was chosen without them).
   */
  cxnet?: boolean;
}

/**
 * De-confounded alternative to paper-da: COVID-19 frontal X-rays of covid-chestxray (and of
 * cxnet with `cxnet: true`) against adult negatives only — nih No_findings +
 * Pneumonia, the Montgomery and Shenzhen normals (lungs/, with their lung masks), and
 * covid-chestxray's own non-COVID findings, which share the positives' provenance (figures
 * from publications) so provenance alone cannot separate the classes. Negatives are drawn
 * evenly over source × finding; the patient-level split keeps each source's share in every split.
 */
export function adultMixedPreset(
  dataDir: string,
  o: AdultMixedOptions = {},
): Pick<BuildOptions, 'sources' | 'labelMap' | 'balance' | 'split' | 'views' | 'notes' | 'stratifyBySource'> {
  const d = resolve(dataDir);
  const cxnet = o.cxnet === true;
  if (cxnet && !existsSync(join(d, 'cxnet', 'metadata.csv')))
    throw new Error(`adult-mixed with cxnet: ${join(d, 'cxnet', 'metadata.csv')} not found`);
  return {
    sources: [
      ...adultSources(d, cxnet),
      ...(o.kermany
        ? [
            {
              kind: 'folder' as const,
              path: join(d, 'kermany'),
              options: { rule: 'kermany', classes: 'NORMAL|PNEUMONIA' },
            },
          ]
        : []),
    ],
    labelMap: 'adult-mixed',
    views: ['PA', 'AP'],
    balance: 'undersample',
    split: '0.7,0.3',
    stratifyBySource: true,
    notes: [
      `adult-mixed: positives = COVID-19 frontal X-rays of covid-chestxray${cxnet ? ' and cxnet' : ''} (known ` +
        'age >= 18); negatives = as many adult images drawn evenly over nih No_findings, nih Pneumonia, ' +
        "Montgomery and Shenzhen normals and covid-chestxray's non-COVID findings",
      o.kermany
        ? 'paediatric Kermany NORMAL + PNEUMONIA added on request (--with-kermany): age is then a cue for the label'
        : 'no paediatric images (Kermany left out)',
      ...(cxnet ? CXNET_NOTES : []),
      cxnet
        ? 'two collections of positives (covid-chestxray, cxnet): --split-by collection trains on one and ' +
          'validates on the other, with the negatives of a held-out source (SOURCE-HELD-OUT); --split-by ' +
          'location holds out hospitals, cities and countries'
        : 'every positive comes from one source (covid-chestxray): --split-by source cannot hold positives out; ' +
          'use --split-by location (its hospitals and cities; the other sources are held out whole)',
    ],
  };
}

/**
 * Three classes, as COVID-Net and most chest-radiograph work classify: COVID-19 (covid-chestxray
 * and cxnet, adults), other pneumonia (nih Pneumonia and covid-chestxray's bacterial, viral and
 * fungal pneumonias) and normal (nih No_findings, the Montgomery and Shenzhen normals and
 * covid-chestxray's No Finding), frontal views, undersampled to the smallest class. Each class
 * still has its own mix of collections, so the audit's source probe applies here too.
 */
export function threeClassPreset(
  dataDir: string,
): Pick<BuildOptions, 'sources' | 'labelMap' | 'balance' | 'split' | 'views' | 'notes' | 'stratifyBySource'> {
  const d = resolve(dataDir);
  const cxnet = existsSync(join(d, 'cxnet', 'metadata.csv'));
  return {
    sources: [...adultSources(d, cxnet)],
    labelMap: 'three-class',
    views: ['PA', 'AP'],
    balance: 'undersample',
    split: '0.7,0.3',
    stratifyBySource: true,
    notes: [
      `three-class: covid = COVID-19 frontal X-rays of covid-chestxray${cxnet ? ' and cxnet' : ''} (known age >= ` +
        "18); pneumonia = nih Pneumonia and covid-chestxray's other pneumonias; normal = nih No_findings, " +
        "Montgomery and Shenzhen normals and covid-chestxray's No Finding; tuberculosis and ARDS left out",
      'each class has its own mix of collections (covid: publications and teaching sites; pneumonia and normal: ' +
        'mostly nih): provenance can still separate them, so read the audit beside every figure',
      ...(cxnet ? CXNET_NOTES : []),
    ],
  };
}

/**
 * Tuberculosis screening, trained in one hospital: the Shenzhen No. 3 People's Hospital set
 * (lungs/shenzhen: 279 normal + 287 TB, each with its lung mask), split by patient 80/20
 * (one image per patient: the file's stem). Both classes come from the one hospital, so its
 * validation figure is INTERNAL but provenance cannot tell them apart; the honest figure is
 * Montgomery County's set as an EXTERNAL one (`tbMontgomeryExternal`: another country, another
 * scanner). The task record names the finding, so the page, the SR and the report say tuberculosis.
 */
export function tbShenzhenPreset(
  dataDir: string,
): Pick<BuildOptions, 'sources' | 'labelMap' | 'split' | 'notes' | 'task'> {
  const d = resolve(dataDir);
  return {
    sources: [{ kind: 'tb-screening', path: join(d, 'lungs', 'shenzhen'), options: {} }],
    labelMap: 'identity',
    split: '0.8,0.2',
    task: TB_TASK,
    notes: [
      "tb-shenzhen: normal vs tuberculosis chest radiographs of the Shenzhen No. 3 People's Hospital (one " +
        'image per patient); both classes from one hospital, so provenance cannot separate them',
      'the validation split holds out patients of the same hospital (INTERNAL): score Montgomery County as ' +
        'an external set (data build --source tb-screening:DATA/lungs/montgomery --external) for the honest figure',
      "Shenzhen's lung masks are CC BY-NC-SA 4.0: a model trained with their lung crop inherits the " +
        'non-commercial licence',
    ],
  };
}

/** The Montgomery County TB set (lungs/montgomery: 80 normal + 58 TB) as an external evaluation set. */
export function tbMontgomeryExternal(
  dataDir: string,
): Pick<BuildOptions, 'sources' | 'labelMap' | 'external' | 'task'> {
  return {
    sources: [{ kind: 'tb-screening', path: join(resolve(dataDir), 'lungs', 'montgomery'), options: {} }],
    labelMap: 'identity',
    external: true,
    task: TB_TASK,
  };
}

/** The TB presets' task: the finding by name; its code and wording follow from data/task.ts' table. */
const TB_TASK: TaskDeclaration = {
  positive: 'tuberculosis',
  finding: 'tuberculosis',
  intendedUse:
    'Research prototype to triage frontal (PA) adult chest radiographs for review for pulmonary tuberculosis ' +
    'before a confirmatory test (the use WHO recommends for chest radiography). Not validated for children, ' +
    'lateral views, other diseases, or as a sole basis for clinical decisions.',
};

/** The adult collections adult-mixed and three-class read (their label maps choose what each row becomes). */
function adultSources(d: string, cxnet: boolean): SourceSpec[] {
  return [
    { kind: 'covid-chestxray', path: join(d, 'covid-chestxray'), options: { minage: '18' } },
    ...(cxnet ? [{ kind: 'cxnet' as const, path: join(d, 'cxnet'), options: { adults: 'yes', minage: '18' } }] : []),
    { kind: 'folder', path: join(d, 'nih'), options: { rule: 'nih', classes: 'No_findings|Pneumonia' } },
    { kind: 'tb-screening', path: join(d, 'lungs', 'montgomery'), options: {} },
    { kind: 'tb-screening', path: join(d, 'lungs', 'shenzhen'), options: {} },
  ];
}

/** What a build with cxnet's positives must say about them. */
const CXNET_NOTES = [
  'cxnet: COVID-CXNet positives (figures from publications, teaching sites and social media; many carry ' +
    'boxes, arrows and captions, some inside the lungs); rows marked pediatric and known ages < 18 left out',
  'cxnet: the view is recorded for a third of its images; a recorded non-frontal view is left out, an ' +
    'unrecorded one kept',
  'cxnet: patient ids are known for some images only (patient_id_known = yes); every other image counts as ' +
    'its own patient, so two films of one patient may fall on both sides of a patient split',
  'cxnet: no negatives share its provenance: a patient split lets provenance give its positives away; ' +
    '--split-by collection holds it out whole',
];

type Candidate = SourceRow & { label: string };

export async function buildDataset(opts: BuildOptions): Promise<BuildResult> {
  const out = resolve(opts.out);
  const seed = opts.seed ?? 0;
  const onError = opts.onError ?? 'fail';
  const split = opts.external
    ? { names: ['test'], fractions: [1] }
    : typeof opts.split === 'string' || opts.split === undefined
      ? parseSplit(opts.split ?? '0.7,0.3')
      : opts.split;
  const labelMap = opts.labelMap instanceof LabelMap ? opts.labelMap : loadLabelMap(opts.labelMap);
  if (opts.sources.length === 0)
    throw new OptionError('no data source given', 'source', { option: 'preset', value: 'paper-da' });
  const problems: SourceProblem[] = [];
  const candidates = readCandidates(opts, labelMap, problems);
  failOnProblems(onError, problems);

  const labels = [...new Set(candidates.map((r) => r.label))].sort();
  if (labels.length === 0 || (labels.length < 2 && !opts.external)) {
    throw new OptionError(
      `only ${labels.length === 0 ? 'no images' : `one class ('${labels[0]}')`} after label mapping and ` +
        `filtering; a classifier needs at least two (an external evaluation set may have one class, e.g. a ` +
        `hospital's positives)`,
      null,
      { option: 'external' },
    );
  }
  const balance = opts.balance ?? 'none';
  const rows = await drawCheckedRows(opts, candidates, balance, seed, problems, () =>
    failOnProblems(onError, problems),
  );
  for (const l of labels)
    if (!rows.some((r) => r.label === l)) throw new Error(`class '${l}' is empty after skipping unreadable images`);

  const splitBy = opts.splitBy ?? 'patient';
  let design: string;
  let units: string[] | null;
  let splits: string[];
  if (splitBy === 'collection' && !opts.external) {
    const c = collectionSplit(rows, split, opts);
    ({ design, splits } = c);
    units = rows.map((r) => r.source);
  } else {
    units =
      splitBy === 'patient'
        ? null
        : groupUnits(rows, (i) =>
            splitBy === 'source' || splitBy === 'collection'
              ? rows[i]!.source
              : rows[i]!.extra[splitBy]?.trim() || `${rows[i]!.source} (no ${splitBy})`,
          );
    // Stratum per row: label, or label × source (each source keeps its share in every split).
    const stratum = (r: Candidate) => (opts.stratifyBySource && !units ? `${r.label}|${r.source}` : r.label);
    splits = assignSplits(
      rows.map((r, i) => ({ label: stratum(r), patientId: units ? units[i]! : r.patientId })),
      split,
      seed,
    );
    design = opts.external
      ? 'validation design: none (an external evaluation set)'
      : units
        ? `validation design: split by ${splitBy} (whole ${splitBy} groups on one side: validation on groups ` +
          'the training split never saw)'
        : 'validation design: patient-level split (held-out patients of the training sources: INTERNAL)';
  }
  const manifestRows = toManifestRows(out, rows, splits, balance, seed);

  const notes = [design, ...buildNotes(opts, split, labels, manifestRows, problems, splitBy, units, splits)];
  const summary = summarise(manifestRows, notes);
  const manifestFile = join(out, 'manifest.csv');
  const summaryFile = join(out, 'summary.json');
  let skippedFile: string | undefined;
  if (problems.length > 0) {
    skippedFile = join(out, 'skipped.csv');
    await writeFileAtomic(
      skippedFile,
      formatCsv(['where', 'message'], problems as unknown as Record<string, unknown>[]),
    );
  }
  await writeManifest(manifestFile, manifestRows);
  await writeFileAtomic(
    summaryFile,
    `${JSON.stringify(
      {
        ...summary,
        seed,
        split,
        splitBy,
        ...(splitBy === 'collection' && !opts.external ? { validDesign: notes[0] } : {}),
        ...(opts.stratifyBySource && !units ? { stratify: 'label × source' } : {}),
        balance,
        labelMap: labelMap.name,
        ...(opts.task ? { task: opts.task } : {}),
        sources: opts.sources.map((s) => (typeof s === 'string' ? s : `${s.kind}:${s.path}`)),
      },
      null,
      2,
    )}\n`,
  );
  return { manifestFile, summaryFile, skippedFile, rows: manifestRows, summary, skipped: problems };
}

/**
 * `--split-by collection`: leave one collection of positives out. The held-out collection
 * (`holdOut`, default cxnet) and the held-out negative-only sources go whole to 'valid';
 * every other source trains. The positive label is the held-out collection's own (its most
 * frequent); at least one other source must carry it, or nothing would train the positives.
 */
export function collectionSplit(
  rows: readonly { label: string; source: string }[],
  split: SplitSpec,
  opts: Pick<BuildOptions, 'holdOut' | 'holdOutNegatives'>,
): { splits: string[]; design: string } {
  if (!split.names.includes('train') || !split.names.includes('valid') || split.names.length !== 2)
    throw new OptionError('split by collection makes two splits (train, valid)', null, {
      option: 'split',
      value: '0.7,0.3',
    });
  const sources = [...new Set(rows.map((r) => r.source))].sort();
  const held = opts.holdOut ?? (sources.includes('cxnet') ? 'cxnet' : undefined);
  if (!held || !sources.includes(held))
    throw new OptionError(
      `split by collection: ${held ? `no source '${held}'` : 'no cxnet source'} to hold out (sources: ` +
        `${sources.join(', ')})`,
      null,
      { option: 'holdOut' },
    );
  const count = (pred: (r: { label: string; source: string }) => boolean) => rows.filter(pred).length;
  const heldLabels = new Map<string, number>();
  for (const r of rows) if (r.source === held) heldLabels.set(r.label, (heldLabels.get(r.label) ?? 0) + 1);
  const positive = [...heldLabels].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
  const positiveSources = sources.filter((s) => rows.some((r) => r.source === s && r.label === positive));
  const trainPositive = positiveSources.filter((s) => s !== held);
  if (trainPositive.length === 0)
    throw new OptionError(
      `split by collection: only ${held} has '${positive}' images; a second collection must train them`,
      null,
      { option: 'holdOut' },
    );
  const negativeOnly = sources.filter((s) => !positiveSources.includes(s));
  let negatives = opts.holdOutNegatives ?? [];
  for (const n of negatives)
    if (!negativeOnly.includes(n))
      throw new OptionError(
        `holdOutNegatives: '${n}' is not a source without '${positive}' images (${negativeOnly.join(', ')})`,
        'holdOutNegatives',
      );
  if (!opts.holdOutNegatives && negativeOnly.length > 1) {
    // The one source whose size is closest to the held-out positives (validation near balance).
    const target = count((r) => r.source === held && r.label === positive);
    const size = (s: string) => count((r) => r.source === s);
    negatives = [
      [...negativeOnly].sort((a, b) => Math.abs(size(a) - target) - Math.abs(size(b) - target) || (a < b ? -1 : 1))[0]!,
    ];
  }
  if (negatives.length >= negativeOnly.length && negativeOnly.length > 0)
    throw new OptionError(
      `holdOutNegatives: holding out every negative-only source (${negativeOnly.join(', ')}) leaves none to train`,
      'holdOutNegatives',
    );
  const valid = new Set([held, ...negatives]);
  const splits = rows.map((r) => (valid.has(r.source) ? 'valid' : 'train'));
  if (!rows.some((r, i) => splits[i] === 'valid' && r.label !== positive))
    throw new OptionError(
      `split by collection: validation would hold only '${positive}' images (no negative-only source to ` +
        'hold out beside it)',
      null,
      { option: 'holdOutNegatives' },
    );
  const trainedOn = trainPositive.join(', ');
  const design =
    `validation design: split by collection (leave one collection out): train on the '${positive}' images of ` +
    `${trainedOn}; validate on those of ${held} and the negatives of ${negatives.join(', ') || held}, each held ` +
    'out whole (SOURCE-HELD-OUT)';
  return { splits, design };
}

/** Reads every source and maps its labels; unknown labels become problems, dropped (null) ones vanish. */
function readCandidates(opts: BuildOptions, labelMap: LabelMap, problems: SourceProblem[]): Candidate[] {
  const candidates: Candidate[] = [];
  for (const s of opts.sources) {
    const spec = typeof s === 'string' ? parseSourceSpec(s) : s;
    const res = readSource(spec, opts.views);
    problems.push(...res.problems);
    for (const r of res.rows) {
      const label = labelMap.map(r.rawLabel);
      if (label === undefined)
        problems.push({ where: r.path, message: `unknown label '${r.rawLabel}' (not in label map ${labelMap.name})` });
      else if (label !== null) candidates.push({ ...r, label });
    }
    opts.onProgress?.(`read ${spec.kind}:${spec.path}`, res.rows.length, res.rows.length);
  }
  return candidates;
}

/** With onError 'fail', the first problem so far stops the build. */
function failOnProblems(onError: OnError, problems: SourceProblem[]): void {
  if (onError === 'fail' && problems.length > 0) {
    const p = problems[0];
    const more = problems.length > 1 ? ` (+${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
    throw new OptionError(`${p.where}: ${p.message}${more}`, null, { option: 'onError', value: 'skip' });
  }
}

/**
 * Check only the images that end up in the dataset: balance, check the draw, drop the bad
 * ones and redraw (same seed) until every drawn image has passed.
 */
async function drawCheckedRows(
  opts: BuildOptions,
  candidates: Candidate[],
  balance: BalanceMode,
  seed: number,
  problems: SourceProblem[],
  fail: () => void,
): Promise<Candidate[]> {
  const verify = opts.verify ?? 'decode';
  const checked = new Map<string, boolean>();
  let pool = candidates;
  let rows = pool;
  for (;;) {
    rows = balance === 'undersample' ? undersample(pool, seed, (r) => `${r.source}/${r.rawLabel}`) : pool;
    const todo = verify === 'none' ? [] : rows.filter((r) => !checked.has(r.path));
    if (todo.length === 0) break;
    let done = 0;
    await pLimit(Math.max(1, opts.concurrency ?? 4)).map(todo, async (r) => {
      try {
        // A tiny output size lets JPEG shrink-on-load skip most work while still reading
        // the whole entropy-coded stream, so truncated files are caught.
        if (verify === 'decode') await decodeImage(r.path, { size: 32, fit: 'stretch' });
        else assertImageFile(r.path);
        checked.set(r.path, true);
      } catch (err) {
        checked.set(r.path, false);
        problems.push({ where: r.path, message: errorMessage(err).replace(`${r.path}: `, '') });
      } finally {
        if (++done % 200 === 0 || done === todo.length) opts.onProgress?.('check images', done, todo.length);
      }
    });
    fail();
    pool = pool.filter((r) => checked.get(r.path) !== false);
  }
  return rows;
}

/** The header-level check: throws unless `path` is a readable file. */
function assertImageFile(path: string): void {
  const why = notAFile(path);
  if (why) throw new Error(`${path}: ${why === 'not found' ? 'image file not found' : why}`);
}

/** Manifest rows with their split; oversampling (train only) then the patient-leak check. */
function toManifestRows(
  out: string,
  rows: Candidate[],
  splits: string[],
  balance: BalanceMode,
  seed: number,
): ManifestRow[] {
  let manifestRows: ManifestRow[] = rows.map((r, i) => ({
    path: manifestPathFor(out, r.path),
    label: r.label,
    patientId: r.patientId,
    source: r.source,
    view: r.view,
    split: splits[i],
    extra: { raw_label: r.rawLabel, ...r.extra },
  }));
  if (balance === 'oversample') {
    const train = manifestRows.filter((r) => r.split === 'train');
    const rest = manifestRows.filter((r) => r.split !== 'train');
    manifestRows = [
      ...oversample(train, seed, (t, k) => ({ ...t, extra: { ...t.extra, oversampled: String(k) } })),
      ...rest,
    ];
  }
  const leaks = findPatientLeaks(manifestRows);
  if (leaks.length > 0)
    throw new Error(`internal error: patient ${leaks[0].patientId} in splits ${leaks[0].splits.join(', ')}`);
  return manifestRows;
}

/** The summary's notes: the caller's, empty split × class cells, external set, skips, group split sizes. */
function buildNotes(
  opts: BuildOptions,
  split: { names: string[] },
  labels: string[],
  manifestRows: ManifestRow[],
  problems: SourceProblem[],
  splitBy: string,
  units: string[] | null,
  splits: string[],
): string[] {
  const notes = [...(opts.notes ?? [])];
  for (const s of split.names) {
    for (const l of labels) {
      if (!manifestRows.some((r) => r.split === s && r.label === l)) notes.push(`split '${s}' has no '${l}' images`);
    }
  }
  if (opts.external)
    notes.push(
      "external evaluation set: every image in split 'test'" +
        (labels.length === 1
          ? `; one class ('${labels[0]}'), so evaluate can report only the rate on that class ` +
            '(sensitivity for positives, specificity for negatives), not AUC'
          : ''),
    );
  if (problems.length > 0) notes.push(`${problems.length} file(s) skipped (see skipped.csv)`);
  if (units) {
    const sides = new Map<string, Set<string>>();
    units.forEach((u, i) => {
      sides.set(splits[i]!, (sides.get(splits[i]!) ?? new Set()).add(u));
    });
    notes.push(
      `split by ${splitBy}: ${split.names
        .filter((s) => sides.has(s))
        .map((s) => `${s} ${sides.get(s)!.size} group(s)`)
        .join(', ')}; no ` + `${splitBy} group is on two sides`,
    );
  }
  return notes;
}
