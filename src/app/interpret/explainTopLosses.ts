// The paper's Fig. 9: the rows a model gets most wrong (highest loss), each with the Grad-CAM of
// its predicted class, as top_losses.png, top_losses.html and top_losses.json.
import { basename, join, resolve } from 'node:path';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import { readManifest, rowPath } from '../../data/manifest.js';
import { overlay } from '../../recipe/gradcam.js';
import { topLosses } from '../../recipe/topLosses.js';
import { writeJson } from '../train/runFolder.js';
import { camFor, grayOf } from './camMaps.js';
import { type ExplainCommon, setup } from './explainSetup.js';
import { galleryHtml, galleryPng, grayPng, rgbPng, type Tile } from './gallery.js';

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
