// `cxrtune explain`: top losses (Fig. 9), Grad-CAM overlays (Fig. 10) and the checks against masks.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { camCheck } from '../app/interpret/camCheck.js';
import { explainImages } from '../app/interpret/explainImages.js';
import { explainTopLosses } from '../app/interpret/explainTopLosses.js';
import { act } from './act.js';
import {
  intOption,
  jsonOption,
  lungsOption,
  manifestOption,
  modelOption,
  numOption,
  splitOption,
  threadsOption,
} from './options.js';
import { jsonOut as json } from './jsonOut.js';

export function registerExplainCommand(program: Command): void {
  program
    .command('explain')
    .description(
      'Grad-CAM: a top-losses gallery for a manifest (Fig. 9), overlays for image files (Fig. 10), ' +
        'and on sets with masks the pointing game and the share of CAM mass in the lesions / lung field',
    )
    .addOption(modelOption('run folder (uses checkpoints/best) or checkpoint folder', { required: true }))
    .addOption(manifestOption('manifest: top losses (+ Grad-CAM checks when it has mask/lung_mask columns)'))
    .addOption(splitOption("split of the manifest, or 'all' (default: valid if present)"))
    .addOption(intOption('--top-losses <n>', 'top losses to show (default 9)'))
    .option('--images <files...>', 'image files to explain (PNG, JPEG, DICOM)')
    .option('--target <class>', "class to explain for --images: 'predicted' (default) or a class name")
    .addOption(lungsOption("a lung-cropping model finds each file's (or row's, without lung_mask) lung box"))
    .option(
      '--no-check',
      'skip the Grad-CAM gallery and checks (pointing game and CAM mass inside masks, when the ' +
        'manifest has mask/lung_mask columns)',
    )
    .option('--layer <name>', "Grad-CAM layer (default: the network's last block, e.g. layer4)")
    .addOption(numOption('--opacity <a>', 'overlay opacity in [0, 1] (default 0.5)'))
    .addOption(intOption('--gallery <n>', 'images in the Grad-CAM gallery (default 8)'))
    .requiredOption('--out <dir>', 'output folder')
    .addOption(threadsOption())
    .addOption(jsonOption('print the results as JSON'))
    .addHelpText(
      'after',
      '\nExamples:\n  cxrtune explain --model runs/r18 --manifest data/manifest.csv --top-losses 9 ' +
        '--out runs/r18/explain\n  cxrtune explain --model runs/r18 --images a.png b.dcm --opacity 0.4 ' +
        '--out cams/',
    )
    .action(
      act(async (o: ExplainFlags) => {
        if (!o.manifest && !o.images)
          throw new Error('give --manifest (top losses, Grad-CAM checks) and/or --images FILE…');
        const res: Record<string, unknown> = {};
        const common = {
          model: o.model,
          out: o.out,
          layer: o.layer,
          opacity: o.opacity,
          threads: o.threads,
          ...(o.lungs ? { lungs: o.lungs } : {}),
        };
        if (o.manifest) {
          const tl = await explainTopLosses({ ...common, manifest: o.manifest, split: o.split, top: o.topLosses ?? 9 });
          res.topLosses = tl;
          if (!o.json)
            process.stdout.write(
              `top losses: ${tl.items.length} shown, ${tl.wrong}/${tl.evaluated} misclassified → ` +
                `${tl.files.png}, ${tl.files.html}\n`,
            );
          const header = readFileSync(resolve(o.manifest), 'utf8').split('\n', 1)[0]!.split(',');
          const hasMasks = header.includes('mask') || header.includes('lung_mask');
          if (o.check !== false) {
            const c = await camCheck({ ...common, manifest: o.manifest, split: o.split, gallery: o.gallery });
            res.gradcam = { ...c, perImage: undefined };
            if (!o.json && !hasMasks)
              process.stdout.write(
                `Grad-CAM gallery (${c.layer}, ${c.images} images; no masks, so no pointing game) → ` +
                  `${c.files.galleryPng}\n`,
              );
            else if (!o.json) {
              const pc = (x: number) => `${(100 * x).toFixed(1)} %`;
              const { pointing: pg, lesionMass: lesion, lungMass: lung } = c;
              const pointing = pg.n ? `${pc(pg.rate)} (${pg.hits}/${pg.n}; chance ${pc(pg.chance)})` : 'n/a';
              const inLesions = lesion.n ? `${pc(lesion.mean)} (lesion area ${pc(lesion.chance)})` : 'n/a';
              const inLungs = lung.n ? `${pc(lung.mean)} (lung area ${pc(lung.chance)})` : 'n/a';
              process.stdout.write(
                `Grad-CAM (${c.layer}) on ${c.images} images:\n` +
                  `  pointing game ${pointing}\n` +
                  `  CAM mass inside lesions ${inLesions}\n` +
                  `  CAM mass inside the lung field ${inLungs}\n` +
                  `  → ${c.files.galleryPng}, ${c.files.json}\n`,
              );
            }
          }
        }
        if (o.images) {
          const r = await explainImages({
            ...common,
            images: o.images,
            target: o.target,
          });
          res.images = r;
          if (!o.json)
            for (const x of r)
              process.stdout.write(
                `${x.image}: ${x.predicted} (${Object.entries(x.probabilities)
                  .map(([k, v]) => `${k} ${v.toFixed(3)}`)
                  .join(', ')}) → ${x.overlay}\n`,
              );
        }
        if (o.json) process.stdout.write(json(res));
      }),
    );
}

interface ExplainFlags {
  model: string;
  out: string;
  manifest?: string;
  split?: string;
  topLosses?: number;
  images?: string[];
  target?: string;
  lungs?: string;
  check?: boolean;
  layer?: string;
  opacity?: number;
  gallery?: number;
  threads?: number;
  json?: boolean;
}
