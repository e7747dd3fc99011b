// The demo's data steps: 1. the manifest (given, the paper's D_A or the adult-mixed set built from
// --data, or phantoms drawn now) and 2. on real data, a lung mask for every image.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { adultMixedPreset, buildDataset, paperDaPreset, tbShenzhenPreset } from '../../data/build.js';
import { readManifest } from '../../data/manifest.js';
import { LUNG_MASK_COLUMNS } from '../../data/inputImage.js';
import { writePhantoms } from '../../data/phantom.js';
import { formatSummaryTable } from '../../data/summary.js';
import { DEFAULT_CROP_MARGIN } from '../../engine/preprocessing.js';
import { loadSegmenter } from '../../engine/segmentation/segmenterCheckpoint.js';
import { fillManifestMasks } from '../lungs/predictMasks.js';
import { PHANTOM_DEMO, sharedMobileNetV2, type DemoContext, type DemoResult } from './demoContext.js';
import { demoSegmenter } from './demoSegmenter.js';

/** 1. Data: the given manifest, the paper's D_A built from --data, or phantoms. */
export async function demoData(c: DemoContext): Promise<string> {
  const { o, out, log, seed, size } = c;
  if (o.manifest) {
    const manifest = resolve(o.manifest);
    log(`[1/${c.total}] data: using ${manifest}`);
    return manifest;
  } else if (o.data) {
    const r = c.recipe!;
    log(
      r.data === 'paper-da'
        ? `[1/${c.total}] data: building the paper's D_A from ${o.data} (covid-chestxray COVID-19 frontal + ` +
            `as many negatives; ${r.splitBy}-level 70/30 split)`
        : r.data === 'tb-shenzhen'
          ? `[1/${c.total}] data: building tb-shenzhen from ${o.data} (Shenzhen normal vs tuberculosis, one ` +
            'hospital; patient-level 80/20 split; Montgomery County is the external set)'
          : `[1/${c.total}] data: building ${r.data} from ${o.data} (adult negatives only; validation holds out ` +
            `whole ${r.splitBy === 'patient' ? 'patients' : `${r.splitBy}s and sources`})`,
    );
    const preset =
      r.data === 'paper-da'
        ? paperDaPreset(o.data)
        : r.data === 'tb-shenzhen'
          ? tbShenzhenPreset(o.data)
          : adultMixedPreset(o.data);
    const b = await buildDataset({ ...preset, splitBy: r.splitBy, seed, out: join(out, 'data'), onError: 'skip' });
    log(
      formatSummaryTable(b.summary)
        .split('\n')
        .map((l) => `      ${l}`)
        .join('\n'),
    );
    return b.manifestFile;
  }
  const n = o.n ?? PHANTOM_DEMO.n;
  log(
    `[1/${c.total}] data: drawing ${n} phantom radiographs (${size} px; half with ground-glass lesions) → ` +
      `${join(out, 'data')}`,
  );
  const r = await writePhantoms({ n, size, seed, out: join(out, 'data'), split: '0.7,0.3', sheetSize: 32 });
  return r.manifestFile;
}

/**
 * 2 (real data). Lung fields: a segmenter (given, cached or trained now) fills the manifest's
 * lung_mask column; the recipe's lung crop, the CAM-in-lungs figure and the audit's lungs-out
 * and frame-only tests use it. Without lung data the demo says so and goes on without them.
 */
export async function demoLungs(
  c: DemoContext,
  manifest: string,
): Promise<{ manifest: string; lungs: DemoResult['lungs'] }> {
  const { o, out, log, precision, threads } = c;
  if (!c.real) return { manifest, lungs: null };
  const lungData = o.data ? join(resolve(o.data), 'lungs') : null;
  if (!o.lungs && !(lungData && existsSync(lungData))) {
    log(
      `[2/${c.total}] lungs: no lung segmenter (--lungs DIR) and no lungs/ ` +
        `folder${lungData ? ` in ${o.data}` : ''} to train one on`,
    );
    if (LUNG_MASK_COLUMNS.some((col) => readManifest(manifest).rows.every((r) => r.extra[col])))
      return { manifest, lungs: null };
    // The recipe goes on without its crop, and says so here, once.
    if (c.recipe) c.recipe = { ...c.recipe, crop: 'none' };
    log(
      '      lung-based steps skipped: no lung crop; the audit blanks a fixed central box instead of the ' +
        'lungs; no CAM-in-lungs figure',
    );
    return { manifest, lungs: null };
  }
  // The segmenter's encoder is a MobileNetV2: the shared ImageNet weights when present.
  const shared = sharedMobileNetV2();
  const pretrained = existsSync(shared) ? shared : undefined;
  log(
    `[2/${c.total}] lungs: segmenter ${o.lungs ? o.lungs : `trained on ${lungData} (or the cached one)`}, ` +
      `then a lung mask for every image`,
  );
  const seg = await demoSegmenter({
    ...(o.lungs ? { given: o.lungs } : {}),
    lungData: lungData ?? '',
    ...(pretrained ? { pretrained } : {}),
    precision,
    threads,
    log: (m) => log(`      ${m}`),
  });
  const dice = seg.trained?.heldOut
    ?.map((s) => `${s.source} ${s.dice.mean.toFixed(3)} (${s.dice.lo.toFixed(3)}–${s.dice.hi.toFixed(3)})`)
    .join(', ');
  log(`      segmenter ${seg.dir} (${seg.from})${dice ? `; held-out Dice ${dice}` : ''}`);
  const { model, meta } = await loadSegmenter(seg.dir);
  const withMasks = join(out, 'data', 'manifest.lungs.csv');
  const f = await fillManifestMasks(model, meta, manifest, withMasks, { precision, log: (m) => log(`      ${m}`) });
  log(`      lung masks: ${f.filled} predicted (${f.cached} from the cache), ${f.kept} kept from the data's own masks`);
  c.segmenter = seg.dir;
  const crop = c.recipe?.crop === 'lungs';
  return {
    manifest: withMasks,
    lungs: {
      dir: seg.dir,
      from: seg.from,
      crop,
      note: crop
        ? `every image cut to its lung box (${Math.round(100 * DEFAULT_CROP_MARGIN)} % margin) before ` +
          `training, evaluation, explanation and the audit`
        : 'masks for the CAM-in-lungs figure and the audit only',
    },
  };
}
