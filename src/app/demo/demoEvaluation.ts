// The demo's evaluation steps: the validation split and the task's external set, top losses
// and Grad-CAM with its checks, and the shortcut audit.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildDataset, tbMontgomeryExternal, type BuildOptions } from '../../data/build.js';
import { LUNG_MASK_COLUMNS } from '../../data/inputImage.js';
import { familyOf } from '../../engine/models/registry.js';
import { loadSegmenter } from '../../engine/segmentation/segmenterCheckpoint.js';
import { evaluate } from '../evaluate/evaluate.js';
import { formatEvaluation } from '../evaluate/formatEvaluation.js';
import type { Evaluation } from '../evaluate/evaluationRecord.js';
import { audit } from '../interpret/audit.js';
import { camCheck, type CamCheckResult } from '../interpret/camCheck.js';
import { explainTopLosses } from '../interpret/explainTopLosses.js';
import { fillManifestMasks } from '../lungs/predictMasks.js';
import { headlineEvaluation } from '../report/summarySection.js';
import { stepNo, type DemoContext } from './demoContext.js';

/** 4. Evaluate on the validation split (held-out patients), and on the task's external set when present. */
export async function demoEvaluate(c: DemoContext, manifest: string) {
  const { o, out, runDir, threads, real, log } = c;
  const evalDir = join(out, 'eval-valid');
  log(`[${stepNo(c, 4)}] evaluate: validation split → ${evalDir}`);
  const evaluation = await evaluate({
    model: runDir,
    manifest,
    split: 'valid',
    out: evalDir,
    name: real
      ? `${c.recipe && o.data ? (c.recipe.data === 'paper-da' ? 'D_A' : c.recipe.data) : 'manifest'} validation`
      : 'phantom validation',
    threads,
  });
  log(
    formatEvaluation(evaluation)
      .split('\n')
      .map((l) => `      ${l}`)
      .join('\n'),
  );
  // Real data: the task's external set (hospitals none of the training sources come from).
  let external: Evaluation | null = null;
  let externalDir: string | null = null;
  const ext = await demoExternalSet(c);
  if (ext) {
    externalDir = join(out, `eval-${ext.key}`);
    log(`      external set: ${ext.name} → ${externalDir}`);
    external = await evaluate({
      model: runDir,
      manifest: ext.manifest,
      split: 'test',
      out: externalDir,
      name: ext.name,
      threads,
    });
    log(
      formatEvaluation(external)
        .split('\n')
        .map((l) => `      ${l}`)
        .join('\n'),
    );
  }
  const headline = headlineEvaluation(external ? [evaluation, external] : [evaluation])!;
  return { evalDir, evaluation, external, externalDir, headline };
}

/**
 * The external set of the recipe's task when the data folder has it: figure1's labelled images for
 * covid, Montgomery County's TB set for tb (another country and scanner than Shenzhen's).
 */
function externalSet(
  c: DemoContext,
  data: string,
): { name: string; title: string; build: Omit<BuildOptions, 'out' | 'seed'> } | null {
  const d = resolve(data);
  if (c.recipe?.task === 'tb') {
    if (!existsSync(join(d, 'lungs', 'montgomery', 'images'))) return null;
    return { name: 'montgomery', title: 'Montgomery County', build: tbMontgomeryExternal(d) };
  }
  const figure1 = join(d, 'figure1');
  if (!existsSync(join(figure1, 'metadata.csv'))) return null;
  return {
    name: 'figure1',
    title: 'figure1',
    build: {
      sources: [{ kind: 'figure1', path: figure1, options: {} }],
      labelMap: 'paper-da',
      views: ['PA', 'AP'],
      external: true,
    },
  };
}

/**
 * Real data: the task's external set (split `test`), with lung masks from the demo's segmenter when
 * there is one (a lung-cropping model needs them); null when the data folder lacks it.
 */
export async function demoExternalSet(c: DemoContext): Promise<{ key: string; name: string; manifest: string } | null> {
  const { o, out, seed } = c;
  const set = o.data ? externalSet(c, o.data) : null;
  if (!set) return null;
  const dir = join(out, `data-${set.name}`);
  const ext = await buildDataset({ ...set.build, seed, out: dir, onError: 'skip' });
  const name = `${set.title} (external)`;
  if (!c.segmenter) return { key: set.name, name, manifest: ext.manifestFile };
  const { model, meta } = await loadSegmenter(c.segmenter);
  const manifest = join(dir, 'manifest.lungs.csv');
  await fillManifestMasks(model, meta, ext.manifestFile, manifest, { precision: c.precision });
  return { key: set.name, name, manifest };
}

/** 5. Explain: top losses, Grad-CAM gallery and (phantoms) the pointing game. */
export async function demoExplain(c: DemoContext, manifest: string, evalDir: string): Promise<CamCheckResult | null> {
  const { arch, runDir, threads, log } = c;
  log(`[${stepNo(c, 5)}] explain: top losses (Fig. 9), Grad-CAM gallery and checks (Fig. 10)`);
  await explainTopLosses({ model: runDir, manifest, split: 'valid', out: evalDir, top: 9, threads });
  const header = readFileSync(manifest, 'utf8').split('\n', 1)[0]!.split(',');
  const lesions = header.includes('mask'); // phantoms: lesion masks, so a pointing game
  const lungMasks = LUNG_MASK_COLUMNS.some((col) => header.includes(col));
  let gradcam: CamCheckResult | null = null;
  const say = (g: CamCheckResult) =>
    log(
      `      ${g.layer}: pointing game ${(100 * g.pointing.rate).toFixed(1)} % ` +
        `(${g.pointing.hits}/${g.pointing.n}; chance ${(100 * g.pointing.chance).toFixed(1)} %), mean CAM mass ` +
        `in lesions ${(100 * g.lesionMass.mean).toFixed(1)} % (area ${(100 * g.lesionMass.chance).toFixed(1)} ` +
        `%), in the lung field ${(100 * g.lungMass.mean).toFixed(1)} % (area ` +
        `${(100 * g.lungMass.chance).toFixed(1)} %)`,
    );
  if (lesions) {
    const mid = familyOf(arch).stride8Layer; // finer maps than the last block: see models/family.ts
    gradcam = await camCheck({
      model: runDir,
      manifest,
      split: 'valid',
      out: evalDir,
      gallery: 8,
      threads,
      layer: mid,
    });
    say(gradcam);
    say(
      await camCheck({
        model: runDir,
        manifest,
        split: 'valid',
        out: join(evalDir, 'gradcam-last-layer'),
        gallery: 8,
        threads,
      }),
    );
  } else {
    // Real radiographs carry no lesion masks: the Grad-CAM gallery (Fig. 10) at the last block, as in the paper,
    // and, with lung masks, the share of the evidence inside the lungs — does the model read the lungs?
    gradcam = await camCheck({ model: runDir, manifest, split: 'valid', out: evalDir, gallery: 8, threads });
    log(
      lungMasks && gradcam.lungMass.n
        ? `      Grad-CAM (${gradcam.layer}) on ${gradcam.lungMass.n} validation images: mean CAM mass inside ` +
            `the lungs ${(100 * gradcam.lungMass.mean).toFixed(1)} % (the lungs cover ` +
            `${(100 * gradcam.lungMass.chance).toFixed(1)} % of the input); gallery → ` +
            `${gradcam.files.galleryPng}`
        : `      Grad-CAM gallery (${gradcam.layer}) → ${gradcam.files.galleryPng}; no lesion or lung masks ` +
            `in this manifest, so no pointing game`,
    );
  }
  return gradcam;
}

/** 6. Shortcut audit: does the model read the lungs, or the frame and the provenance? */
export async function demoAudit(c: DemoContext, manifest: string) {
  const { runDir, threads, log } = c;
  log(`[${stepNo(c, 6)}] audit: frame only, lungs out, source probe, metadata-only baseline, per source`);
  const shortcut = await audit({ model: runDir, manifest, split: 'valid', out: join(runDir, 'audit'), threads });
  log(shortcut.findings.map((l) => `      ${l.text}`).join('\n'));
  return shortcut;
}
