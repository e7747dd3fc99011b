// The paper's Fig. 10 for image files: each file's prediction and the Grad-CAM overlay and
// heatmap of its target class (the predicted one or a named one), with gradcam.html and gradcam.json.
// Every tile shows the image exactly as the model saw it (its preprocessing record, lung crop included).
import { basename, extname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import { applyCalibration, calibrationOf } from '../../recipe/calibrationMap.js';
import { overlay } from '../../recipe/gradcam.js';
import { isPositive } from '../../recipe/threshold.js';
import { writeJson } from '../train/runFolder.js';
import { camFor } from './camMaps.js';
import { type ExplainCommon, setup } from './explainSetup.js';
import { galleryHtml, grayPng, rgbPng, type Tile } from './gallery.js';

interface ImagesOptions extends ExplainCommon {
  images: string[];
  /** Class to explain: 'predicted' (default) or a class name. */
  target?: string;
}

interface ImageExplanation {
  image: string;
  overlay: string;
  heatmap: string;
  predicted: string;
  probabilities: Record<string, number>;
  target: string;
}

/** Fig. 10: Grad-CAM overlays for image files (any format decodeImage reads). */
export async function explainImages(o: ImagesOptions): Promise<ImageExplanation[]> {
  if (!o.images.length) throw new Error('no images given (--images FILE…)');
  const { opacity, learner, model, meta, ref, S } = await setup(o);
  const out = resolve(o.out);
  const results: ImageExplanation[] = [];
  const tiles: Tile[] = [];
  const used = new Set<string>();
  // A lung-cropping model finds each file's lung box with its segmenter (or --lungs DIR).
  if (learner.preprocessing.crop === 'lungs') await learner.requireLungField();
  for (const file of o.images) {
    const img = await learner.decode(file);
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
