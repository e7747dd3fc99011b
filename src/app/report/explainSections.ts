// The report's explain sections: top losses (Fig. 9) and the Grad-CAM gallery and its checks
// (Fig. 10), read from the outputs of `cxrtune explain`.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { CamCheckResult } from '../interpret/camCheck.js';
import type { TopLossResult } from '../interpret/explainTopLosses.js';
import { shareHistogramSpec } from './evalPlots.js';
import { escapeHtml, num, pngDataUrl, table, type Cell } from './html.js';
import { plot, readJson } from './sectionParts.js';

/** Top losses (Fig. 9) from top_losses.json and its image. */
export function topLossesSection(tl: string): string {
  const r = readJson<Omit<TopLossResult, 'files'> & { split: string; layer: string }>(tl);
  const png = tl.replace(/\.json$/, '.png');
  return (
    `<p>The images the model gets most wrong (highest cross-entropy), each with the Grad-CAM (${escapeHtml(r.layer)})` +
    ` of the predicted class. ${r.wrong} of ${r.evaluated} images are misclassified.</p>` +
    (existsSync(png) ? `<img class="gallery" alt="top losses" src="${pngDataUrl(readFileSync(png))}">` : '') +
    table(
      ['#', 'predicted', 'actual', 'loss', 'p(actual)', 'image'],
      r.items.map((it, i) => [i + 1, it.predicted, it.actual, num(it.loss), num(it.probActual), basename(it.path)]),
    )
  );
}

/** Grad-CAM gallery and checks (Fig. 10) from gradcam_check.json and the checks of other layers beside it. */
export async function gradcamSection(gc: string): Promise<string> {
  const r = readJson<CamCheckResult>(gc);
  // Further checks (other layers) in sub-folders of the same folder.
  const dirOf = gc.slice(0, -'/gradcam_check.json'.length);
  const others = readdirSync(dirOf, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dirOf, d.name, 'gradcam_check.json')))
    .map((d) => readJson<CamCheckResult>(join(dirOf, d.name, 'gradcam_check.json')));
  const checks = [r, ...others].filter((c) => c.pointing.n || c.lungMass.n);
  const gpng = gc.replace(/gradcam_check\.json$/, 'gradcam_gallery.png');
  const lungs = r.perImage.filter((p) => p.lungMass !== undefined).map((p) => p.lungMass!);
  return (
    (existsSync(gpng) ? `<img class="gallery" alt="Grad-CAM gallery" src="${pngDataUrl(readFileSync(gpng))}">` : '') +
    (checks.length
      ? table(
          ['measure', 'layer', 'value', 'chance level', 'images'],
          checks.flatMap(
            (c) =>
              [
                [
                  'pointing game (peak of the positive-class CAM inside a lesion)',
                  c.layer,
                  c.pointing.n
                    ? `${num(100 * c.pointing.rate, 1)} % (${c.pointing.hits}/${c.pointing.n})`
                    : 'n/a (no lesion masks)',
                  c.pointing.n ? `${num(100 * c.pointing.chance, 1)} %` : '',
                  c.pointing.n,
                ],
                [
                  'mean share of CAM mass inside the lesions',
                  c.layer,
                  c.lesionMass.n ? `${num(100 * c.lesionMass.mean, 1)} %` : 'n/a',
                  c.lesionMass.n ? `${num(100 * c.lesionMass.chance, 1)} %` : '',
                  c.lesionMass.n,
                ],
                [
                  'mean share of CAM mass inside the lung field',
                  c.layer,
                  c.lungMass.n ? `${num(100 * c.lungMass.mean, 1)} %` : 'n/a (no lung masks)',
                  c.lungMass.n ? `${num(100 * c.lungMass.chance, 1)} %` : '',
                  c.lungMass.n,
                ],
              ] as Cell[][],
          ),
        )
      : `<p>Grad-CAM (${escapeHtml(r.layer)}) of the positive class on positives and of the predicted class on the` +
        ` others. This set has no lesion or lung masks, so where the model looks is shown, not measured.</p>`) +
    (lungs.length
      ? await plot(shareHistogramSpec(lungs, 'share of Grad-CAM mass inside the lung field', 'Where does it look?'))
      : '') +
    `<p class="muted">Gallery and histogram: layer ${escapeHtml(r.layer)}; split ${escapeHtml(r.split)}. A deeper` +
    ` layer is more semantic but coarser (a 4×4 map at stride 32 cannot point inside a lesion a few percent of the` +
    ` image wide). Chance level: the share of the image the mask covers (a random point's hit rate; a uniform` +
    ` heatmap's mass).</p>`
  );
}
