// Explanations (the paper's Figs. 9–10): Grad-CAM heatmaps from the engine's raw maps
// (recipe/gradcam: ReLU, bilinear upsampling, normalisation, turbo overlay), a top-losses
// gallery (PNG + HTML) and per-image overlays for given files. Every tile shows the image
// exactly as the model saw it (its preprocessing record), so the heatmap lines up with it.
import { LungField } from '../lungs/lungEvidence.js';
import { applyCalibration, calibrationOf } from '../../recipe/calibrationMap.js';
import { isPositive } from '../../recipe/threshold.js';
import { basename, extname, join, resolve } from 'node:path';
import sharp, { type OverlayOptions } from 'sharp';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import type { Model } from '../../engine/model.js';
import type { Batch } from '../../engine/types.js';
import { readManifest, rowPath } from '../../data/manifest.js';
import { camHeatmap, overlay } from '../../recipe/gradcam.js';
import { topLosses } from '../../recipe/topLosses.js';
import { Learner } from '../train/learner.js';
import { writeJson } from '../train/runFolder.js';
import { escapeHtml, pngDataUrl } from '../report/html.js';

/** Grayscale pixels of image i of a batch (first channel). */
export function grayOf(batch: Batch, i: number): Uint8Array {
  const [, h, w, c] = batch.shape;
  const px = batch.pixels as Uint8Array;
  const out = new Uint8Array(h * w);
  const base = i * h * w * c;
  for (let p = 0; p < h * w; p++) out[p] = px[base + p * c]!;
  return out;
}

/** One image of a batch as its own batch. */
function pick(batch: Batch, idx: number[]): Batch {
  const [, h, w, c] = batch.shape;
  const per = h * w * c;
  const px = new Uint8Array(idx.length * per);
  idx.forEach((i, k) => {
    px.set((batch.pixels as Uint8Array).subarray(i * per, (i + 1) * per), k * per);
  });
  return { pixels: px, shape: [idx.length, h, w, c] };
}

/**
 * Heatmaps (H×W, [0, 1]) of each image for its own target class: images are grouped by
 * target so each group is one engine call.
 */
export async function camFor(
  model: Model,
  batch: Batch,
  targets: number[],
  layer?: string,
): Promise<{ heat: Float32Array[]; probs: Float32Array }> {
  const [n, H, W] = batch.shape;
  const heat: Float32Array[] = new Array(n);
  const C = model.spec.numClasses;
  const probs = new Float32Array(n * C);
  for (const t of [...new Set(targets)]) {
    const idx = targets.flatMap((x, i) => (x === t ? [i] : []));
    const r = await model.gradCamMaps(idx.length === n ? batch : pick(batch, idx), t, layer);
    const [, h, w] = r.shape;
    idx.forEach((i, k) => {
      heat[i] = camHeatmap(r.maps.subarray(k * h * w, (k + 1) * h * w), h, w, H, W);
      probs.set(r.probs.subarray(k * C, (k + 1) * C), i * C);
    });
  }
  return { heat, probs };
}

export async function grayPng(gray: Uint8Array, size: number): Promise<Buffer> {
  return sharp(gray, { raw: { width: size, height: size, channels: 1 } })
    .png()
    .toBuffer();
}
export async function rgbPng(rgb: Uint8Array, size: number): Promise<Buffer> {
  return sharp(rgb, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();
}

export interface Tile {
  title: string;
  lines: string[];
  image: Buffer;
  overlay: Buffer;
  /** Highlights a wrong prediction. */
  wrong?: boolean;
}

/** A PNG grid: per item the image and its overlay side by side, a caption above. */
export async function galleryPng(tiles: Tile[], size: number, cols = 4): Promise<Buffer> {
  const cell = Math.max(size, 128);
  const capH = 46;
  const tileW = 2 * cell + 6;
  const tileH = cell + capH;
  const gap = 10;
  const rows = Math.max(1, Math.ceil(tiles.length / cols));
  const W = cols * tileW + (cols + 1) * gap;
  const Hh = rows * tileH + (rows + 1) * gap;
  const comps: OverlayOptions[] = [];
  for (const [k, t] of tiles.entries()) {
    const x = gap + (k % cols) * (tileW + gap);
    const y = gap + Math.floor(k / cols) * (tileH + gap);
    const svg =
      `<svg xmlns="http://www.w3.org/2000/svg" width="${tileW}" height="${capH}"><rect width="100%" ` +
      `height="100%" fill="${t.wrong ? '#fde2e2' : '#eef3f8'}"/>` +
      `<text x="4" y="16" font-family="DejaVu Sans, sans-serif" font-size="13" ` +
      `font-weight="bold">${escapeHtml(t.title)}</text>` +
      t.lines
        .map(
          (l, i) =>
            `<text x="4" y="${31 + 13 * i}" font-family="DejaVu Sans, sans-serif" ` +
            `font-size="11">${escapeHtml(l)}</text>`,
        )
        .join('') +
      '</svg>';
    comps.push({ input: Buffer.from(svg), left: x, top: y });
    const img = cell === size ? t.image : await sharp(t.image).resize(cell, cell).png().toBuffer();
    const ov = cell === size ? t.overlay : await sharp(t.overlay).resize(cell, cell).png().toBuffer();
    comps.push({ input: img, left: x, top: y + capH }, { input: ov, left: x + cell + 6, top: y + capH });
  }
  return sharp({ create: { width: W, height: Hh, channels: 3, background: '#ffffff' } })
    .composite(comps)
    .png()
    .toBuffer();
}

/** A small self-contained HTML page of tiles (images as data URLs). */
export function galleryHtml(title: string, intro: string, tiles: Tile[]): string {
  const items = tiles
    .map(
      (t) =>
        `<figure class="${t.wrong ? 'wrong' : ''}"><div class="pair"><img src="${pngDataUrl(t.image)}" ` +
        `alt="image"><img src="${pngDataUrl(t.overlay)}" alt="Grad-CAM overlay"></div>` +
        `<figcaption><b>${escapeHtml(t.title)}</b><br>${t.lines.map(escapeHtml).join('<br>')}</figcaption></figure>`,
    )
    .join('\n');
  const css =
    'body{font:14px/1.4 system-ui,sans-serif;margin:20px;color:#222}' +
    'figure{display:inline-block;margin:6px;padding:6px;background:#eef3f8;border-radius:6px;vertical-align:top}\n' +
    'figure.wrong{background:#fde2e2}.pair img{width:180px;height:180px;image-rendering:auto;margin-right:4px}' +
    'figcaption{font-size:12px;max-width:370px}\n';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>
${css}</style></head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(intro)}</p>
${items}
</body></html>
`;
}

interface ExplainCommon {
  model: string;
  out: string;
  /** Grad-CAM layer (default: the engine's, the last block). */
  layer?: string;
  /** Overlay opacity in [0, 1] (default 0.5). */
  opacity?: number;
  threads?: number | null;
}

interface TopLossOptions extends ExplainCommon {
  manifest: string;
  /** Default: 'valid' if present, else every row. */
  split?: string;
  top?: number;
  cols?: number;
}

interface TopLossItem {
  row: number;
  path: string;
  actual: string;
  predicted: string;
  loss: number;
  probActual: number;
  probPredicted: number;
}

export interface TopLossResult {
  items: TopLossItem[];
  files: { png: string; html: string; json: string };
  evaluated: number;
  wrong: number;
}

/** Fig. 9: the N rows with the highest loss (most confused first) with a Grad-CAM of the predicted class. */
export async function explainTopLosses(o: TopLossOptions): Promise<TopLossResult> {
  const { opacity, learner, model, meta, ref, S } = await setup(o);
  const manifest = readManifest(o.manifest);
  const split = o.split ?? (manifest.rows.some((r) => r.split === 'valid') ? 'valid' : undefined);
  const pred = await learner.predictSet(manifest, { ...(split && split !== 'all' ? { split } : {}) });
  const pc = meta.positiveClass;
  const rows = topLosses(pred.probs, pred.numClasses, pred.labels, {
    k: o.top ?? 9,
    ...(pred.numClasses === 2 ? { threshold: meta.threshold, positiveClass: pc } : {}),
  });
  const all = topLosses(pred.probs, pred.numClasses, pred.labels, {
    ...(pred.numClasses === 2 ? { threshold: meta.threshold, positiveClass: pc } : {}),
    wrongOnly: true,
  });
  const rowIdx = rows.map((r) => pred.rows[r.row]!);
  const tiles: Tile[] = [];
  const items: TopLossItem[] = [];
  let k = 0;
  for await (const b of learner.rowsBatches(manifest, rowIdx, 8)) {
    const n = b.shape[0];
    const lr = rows.slice(k, k + n);
    const { heat } = await camFor(
      model,
      b,
      lr.map((r) => r.predicted),
      o.layer,
    );
    for (let i = 0; i < n; i++) {
      const r = lr[i]!;
      const gray = grayOf(b, i);
      const mr = manifest.rows[b.rows[i]!]!;
      const item: TopLossItem = {
        row: b.rows[i]!,
        path: rowPath(manifest, mr),
        actual: meta.classes[r.actual]!,
        predicted: meta.classes[r.predicted]!,
        loss: r.loss,
        probActual: r.probActual,
        probPredicted: r.probPredicted,
      };
      items.push(item);
      tiles.push({
        title: `${item.predicted} / ${item.actual}`,
        lines: [`loss ${r.loss.toFixed(2)}, p(actual) ${r.probActual.toFixed(3)}`, basename(item.path)],
        image: await grayPng(gray, S),
        overlay: await rgbPng(overlay(gray, heat[i]!, opacity), S),
        wrong: r.predicted !== r.actual,
      });
    }
    k += n;
  }
  const out = resolve(o.out);
  const files = {
    png: join(out, 'top_losses.png'),
    html: join(out, 'top_losses.html'),
    json: join(out, 'top_losses.json'),
  };
  await writeFileAtomic(files.png, await galleryPng(tiles, S, o.cols ?? 3));
  await writeFileAtomic(
    files.html,
    galleryHtml(
      'Top losses',
      `predicted / actual, loss, probability of the actual class; most confused first; Grad-CAM of the ` +
        `predicted class. ${all.length} of ${pred.labels.length} images are misclassified at threshold ` +
        `${meta.threshold}.`,
      tiles,
    ),
  );
  await writeJson(files.json, {
    model: ref.checkpoint,
    manifest: manifest.file,
    split: split ?? 'all',
    layer: o.layer ?? model.camLayer,
    opacity,
    evaluated: pred.labels.length,
    wrong: all.length,
    items,
  });
  return { items, files, evaluated: pred.labels.length, wrong: all.length };
}

interface ImagesOptions extends ExplainCommon {
  images: string[];
  /** Class to explain: 'predicted' (default) or a class name. */
  target?: string;
  /** Lung segmenter folder: needed by a model trained with --crop lungs (finds each file's lung box). */
  lungs?: string;
}

interface ImageExplanation {
  image: string;
  overlay: string;
  heatmap: string;
  predicted: string;
  probabilities: Record<string, number>;
  target: string;
}

function requireSegmenter(dir: string | undefined): string {
  if (!dir)
    throw new Error(
      'this model crops every image to its lung field (model.json preprocessing.crop "lungs"): give the ' +
        'lung segmenter with --lungs DIR',
    );
  return dir;
}

/** Fig. 10: Grad-CAM overlays for image files (any format decodeImage reads). */
export async function explainImages(o: ImagesOptions): Promise<ImageExplanation[]> {
  if (!o.images.length) throw new Error('no images given (--images FILE…)');
  const { opacity, learner, model, meta, ref, S } = await setup(o);
  const out = resolve(o.out);
  const results: ImageExplanation[] = [];
  const tiles: Tile[] = [];
  const used = new Set<string>();
  const lungs = learner.preprocessing.crop === 'lungs' ? await LungField.load(requireSegmenter(o.lungs)) : null;
  for (const file of o.images) {
    const img = await learner.decode(
      file,
      lungs ? await lungs.regionOfFile(file, learner.preprocessing.cropMargin) : undefined,
    );
    const batch = learner.batchOf(img.pixels);
    const p = {
      probs: applyCalibration(
        (await model.predict(batch)).probs,
        meta.classes.length,
        meta.positiveClass,
        calibrationOf(meta),
      ),
    };
    let predicted = 0;
    for (let c = 1; c < meta.classes.length; c++) if (p.probs[c]! > p.probs[predicted]!) predicted = c;
    if (meta.classes.length === 2)
      predicted = isPositive(p.probs[meta.positiveClass]!, meta.threshold)
        ? meta.positiveClass
        : 1 - meta.positiveClass;
    const target = !o.target || o.target === 'predicted' ? predicted : meta.classes.indexOf(o.target);
    if (target < 0)
      throw new Error(
        `--target '${o.target}' is not a class of this model (${meta.classes.join(', ')}) nor 'predicted'`,
      );
    const { heat } = await camFor(model, batch, [target], o.layer);
    let stem = basename(file, extname(file));
    for (let k = 2; used.has(stem); k++) stem = `${basename(file, extname(file))}_${k}`;
    used.add(stem);
    const ovPng = await rgbPng(overlay(img.pixels, heat[0]!, opacity), S);
    const heatPng = await rgbPng(overlay(new Uint8Array(S * S), heat[0]!, 1), S);
    const files = { overlay: join(out, `${stem}_gradcam.png`), heatmap: join(out, `${stem}_heatmap.png`) };
    await writeFileAtomic(files.overlay, ovPng);
    await writeFileAtomic(files.heatmap, heatPng);
    const probabilities = Object.fromEntries(meta.classes.map((c, k) => [c, p.probs[k]!]));
    results.push({
      image: resolve(file),
      ...files,
      predicted: meta.classes[predicted]!,
      probabilities,
      target: meta.classes[target]!,
    });
    tiles.push({
      title: `${meta.classes[predicted]} (p ${p.probs[predicted]!.toFixed(3)})`,
      lines: [`Grad-CAM of '${meta.classes[target]}'`, basename(file)],
      image: await grayPng(img.pixels, S),
      overlay: ovPng,
    });
  }
  await writeFileAtomic(
    join(out, 'gradcam.html'),
    galleryHtml(
      'Grad-CAM',
      `Model ${ref.checkpoint} (${meta.arch}); layer ${o.layer ?? model.camLayer}; opacity ${opacity}.`,
      tiles,
    ),
  );
  await writeJson(join(out, 'gradcam.json'), {
    model: ref.checkpoint,
    layer: o.layer ?? model.camLayer,
    opacity,
    images: results,
  });
  return results;
}

/** Both explanations: the opacity checked, then the model loaded as every consumer loads it. */
async function setup(o: ExplainCommon) {
  const opacity = checkOpacity(o.opacity);
  const learner = await Learner.load(o.model, { threads: o.threads ?? null });
  return {
    opacity,
    learner,
    model: learner.model,
    meta: learner.meta,
    ref: learner.ref,
    S: learner.preprocessing.size,
  };
}

function checkOpacity(o: number | undefined): number {
  const v = o ?? 0.5;
  if (!(v >= 0 && v <= 1)) throw new Error(`--opacity must be in [0, 1] (got ${o})`);
  return v;
}
