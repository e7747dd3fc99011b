// Does Grad-CAM point at the evidence? Over a manifest's rows that carry masks (phantoms:
// `mask` = lesions, `lung_mask` = lung field):
// - pointing game (Zhang et al. 2016, strict: no tolerance) on positive images with a
//   lesion: the heatmap of the positive class peaks inside the lesion mask;
// - mean share of that heatmap's mass inside the lesions;
// - "where does it look": share of the predicted class's heatmap mass inside the lung field,
//   for every image with a lung mask.
// Chance levels are reported beside them (a uniformly random point hits a mask with
// probability = its area share), so a score can be read against what it would be blind.
// Beside it: camCheckMeasures (one image's measures) and camCheckTile (its gallery tile).
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import type { CheckpointMeta } from '../../engine/checkpoint.js';
import type { InferenceModel } from '../../engine/types.js';
import type { Batch } from '../../engine/types.js';
import { readManifest, type Manifest } from '../../data/manifest.js';
import { isPositive } from '../../recipe/threshold.js';
import { camFor } from './camMaps.js';
import { measureImage, type CamCheckImage } from './camCheckMeasures.js';
import { camTile } from './camCheckTile.js';
import { galleryHtml, galleryPng, type Tile } from './gallery.js';
import { Learner } from '../train/learner.js';
import { writeJson } from '../train/runFolder.js';
import { renderSvg } from '../report/plots.js';
import { shareHistogramSpec } from '../report/evalPlots.js';

interface CamCheckOptions {
  model: string;
  manifest: string;
  /** Default 'valid' if present, else every row. */
  split?: string;
  out: string;
  layer?: string;
  opacity?: number;
  /** Images in the Fig. 10 gallery (default 8: positives first). */
  gallery?: number;
  /** Limit the rows examined (default all). */
  limit?: number;
  threads?: number | null;
  /** A lung segmenter instead of the one a lung-cropping model carries. */
  lungs?: string;
}

export interface CamCheckResult {
  layer: string;
  split: string;
  images: number;
  pointing: { n: number; hits: number; rate: number; chance: number };
  lesionMass: { n: number; mean: number; chance: number };
  lungMass: { n: number; mean: number; chance: number };
  perImage: CamCheckImage[];
  files: { json: string; galleryPng: string; galleryHtml: string; lungHistogram: string | null };
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

export async function camCheck(o: CamCheckOptions): Promise<CamCheckResult> {
  const learner = await Learner.load(o.model, { threads: o.threads ?? null, ...(o.lungs ? { lungs: o.lungs } : {}) });
  const { model, meta } = learner;
  const read = readManifest(o.manifest);
  const { split, rowIdx } = selectCamRows(o, read, meta);
  const manifest = await learner.manifestFor(read, rowIdx); // lung boxes of a lung-cropping model
  const S = meta.preprocessing.size;
  const pc = meta.positiveClass;
  const posName = meta.classes[pc]!;
  const per: CamCheckImage[] = [];
  const tiles: { tile: Tile; positive: boolean }[] = [];
  const galleryN = o.gallery ?? 8;
  const opacity = o.opacity ?? 0.5;
  for await (const b of learner.rowsBatches(manifest, rowIdx, 8)) {
    const { posCam, predicted, predHeat } = await batchCams(model, meta, b, o.layer);
    for (let i = 0; i < b.shape[0]; i++) {
      const row = b.rows[i]!;
      const isPos = b.labels[i] === pc;
      const pPositive = posCam.probs[i * meta.classes.length + pc]!;
      const { rec, lesion } = await measureImage(
        manifest,
        meta,
        { row, predicted: meta.classes[predicted[i]!]!, pPositive },
        isPos,
        posCam.heat[i]!,
        predHeat[i]!,
      );
      per.push(rec);
      if (tiles.length < 4 * galleryN) {
        const heat = isPos ? posCam.heat[i]! : predHeat[i]!;
        tiles.push({
          positive: isPos,
          tile: await camTile(b, i, rec, heat, lesion, { isPos, wrong: predicted[i] !== b.labels[i], opacity, S }),
        });
      }
    }
  }
  const pts = per.filter((p) => p.hit !== undefined);
  const lungs = per.filter((p) => p.lungMass !== undefined);
  // Gallery: positives first (the lesions), then negatives.
  const chosen = [
    ...tiles.filter((t) => t.positive).slice(0, Math.ceil(galleryN * 0.75)),
    ...tiles.filter((t) => !t.positive),
  ]
    .slice(0, galleryN)
    .map((t) => t.tile);
  const out = resolve(o.out);
  const files = {
    json: join(out, 'gradcam_check.json'),
    galleryPng: join(out, 'gradcam_gallery.png'),
    galleryHtml: join(out, 'gradcam_gallery.html'),
    lungHistogram: lungs.length ? join(out, 'cam_in_lungs.svg') : null,
  };
  const result: CamCheckResult = {
    layer: o.layer ?? model.camLayer,
    split,
    images: per.length,
    pointing: {
      n: pts.length,
      hits: pts.filter((p) => p.hit).length,
      rate: pts.length ? pts.filter((p) => p.hit).length / pts.length : NaN,
      chance: mean(pts.map((p) => p.lesionArea!)),
    },
    lesionMass: {
      n: pts.length,
      mean: mean(pts.map((p) => p.lesionMass!)),
      chance: mean(pts.map((p) => p.lesionArea!)),
    },
    lungMass: {
      n: lungs.length,
      mean: mean(lungs.map((p) => p.lungMass!)),
      chance: mean(lungs.map((p) => p.lungArea!)),
    },
    perImage: per,
    files,
  };
  await writeFileAtomic(files.galleryPng, await galleryPng(chosen, S, 4));
  await writeFileAtomic(
    files.galleryHtml,
    galleryHtml(
      'Grad-CAM gallery',
      `Grad-CAM (${result.layer}) of the positive class '${posName}' on positives (white outline: lesion ` +
        `mask) and of the predicted class on the others.`,
      chosen,
    ),
  );
  if (files.lungHistogram)
    await writeFileAtomic(
      files.lungHistogram,
      await renderSvg(
        shareHistogramSpec(
          lungs.map((p) => p.lungMass!),
          'share of Grad-CAM mass inside the lung field',
          'Where does it look?',
        ),
      ),
    );
  await writeJson(files.json, result);
  return result;
}

/** The split's rows with masks; without masks there is nothing to measure: a gallery of a few images per class only. */
function selectCamRows(
  o: CamCheckOptions,
  manifest: Manifest,
  meta: CheckpointMeta,
): { split: string; rowIdx: number[] } {
  const split = o.split ?? (manifest.rows.some((r) => r.split === 'valid') ? 'valid' : 'all');
  const inSplit = manifest.rows.flatMap((r, i) => (split === 'all' || r.split === split ? [i] : []));
  if (!inSplit.length) throw new Error(`no '${split}' rows in ${o.manifest}`);
  let rowIdx = inSplit.filter((i) => manifest.rows[i]!.extra.mask || manifest.rows[i]!.extra.lung_mask);
  const masked = rowIdx.length > 0;
  if (!masked) {
    const n = 2 * (o.gallery ?? 8);
    const byClass = (c: string) => inSplit.filter((i) => manifest.rows[i]!.label === c).slice(0, n);
    rowIdx = [
      ...byClass(meta.classes[meta.positiveClass]!),
      ...meta.classes.filter((_, k) => k !== meta.positiveClass).flatMap(byClass),
    ];
  }
  if (o.limit) rowIdx = rowIdx.slice(0, o.limit);
  return { split, rowIdx };
}

/** Positive-class CAM for everyone (pointing game), then the predicted class's where it differs. */
async function batchCams(model: InferenceModel, meta: CheckpointMeta, b: Batch, layer: string | undefined) {
  const n = b.shape[0];
  const S = meta.preprocessing.size;
  const pc = meta.positiveClass;
  const posCam = await camFor(model, b, new Array(n).fill(pc), layer);
  const predicted: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = posCam.probs[i * meta.classes.length + pc]!;
    predicted.push(
      meta.classes.length === 2
        ? isPositive(p, meta.threshold)
          ? pc
          : 1 - pc
        : argmax(posCam.probs.subarray(i * meta.classes.length, (i + 1) * meta.classes.length)),
    );
  }
  const need = predicted.map((c, i) => (c !== pc ? i : -1)).filter((i) => i >= 0);
  const predHeat = [...posCam.heat];
  if (need.length) {
    const sub = {
      pixels: new Uint8Array(need.length * S * S * b.shape[3]),
      shape: [need.length, S, S, b.shape[3]] as [number, number, number, number],
    };
    need.forEach((i, k) => {
      sub.pixels.set(
        (b.pixels as Uint8Array).subarray(i * S * S * b.shape[3], (i + 1) * S * S * b.shape[3]),
        k * S * S * b.shape[3],
      );
    });
    const r = await camFor(
      model,
      sub,
      need.map((i) => predicted[i]!),
      layer,
    );
    need.forEach((i, k) => {
      predHeat[i] = r.heat[k]!;
    });
  }
  return { posCam, predicted, predHeat };
}

function argmax(xs: ArrayLike<number>): number {
  let k = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[k]!) k = i;
  return k;
}
