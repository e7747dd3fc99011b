// `cxrtune ood fit | check`: the refusal of what is not a frontal chest radiograph. `fit` writes
// a checkpoint's ood.json (training does it for new runs); `check` measures the refusal on real and
// synthetic inputs and prints the refused share per kind with Wilson 95 % intervals.
import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Learner } from '../app/train/learner.js';
import { fitOod, OOD_COMPONENTS } from '../app/ood/fitOod.js';
import { OOD_FILE, writeOodRecord } from '../app/ood/oodFile.js';
import { checkOod, formatOodTable } from '../app/ood/checkOod.js';
import { loadServedModel } from '../app/serve/servedModel.js';
import { recordedTrainConfig } from '../app/train/trainConfig.js';
import { oodSets } from '../bench/oodSets.js';
import { act } from './act.js';
import { countProgress } from './progress.js';
import { batchOption, intOption, jsonOption, manifestOption, quietOption, threadsOption } from './options.js';

export function registerOodCommand(program: Command): void {
  const ood = program
    .command('ood')
    .description(
      'the refusal of images that are not frontal chest radiographs: fit its statistics (ood.json), measure it',
    );
  ood
    .command('fit')
    .description(
      "fit ood.json beside a checkpoint's model.json: a shrunk Gaussian of the Grad-CAM layer's pooled features " +
        'on the training and validation splits, the distance limit conformal (α 0.5 %) on cross-fitted distances',
    )
    .argument('<model>', 'run folder (its best, else last, checkpoint) or checkpoint folder')
    .addOption(manifestOption('manifest (default: the one the model was trained on)'))
    .option('--train-split <name>', 'training split (default: the training config’s)')
    .option('--valid-split <name>', 'validation split (default: the training config’s)')
    .addOption(intOption('--components <k>', `directions kept exactly (default ${OOD_COMPONENTS})`, { min: 1 }))
    .addOption(batchOption('images per batch', 16))
    .addOption(threadsOption())
    .addOption(quietOption())
    .action(
      act(async (model: string, o) => {
        const l = await Learner.load(model, { threads: o.threads ?? null });
        const r = await fitOod(l.model, l.meta, {
          ...(o.manifest ? { manifest: o.manifest } : {}),
          ...(o.trainSplit ? { trainSplit: o.trainSplit } : {}),
          ...(o.validSplit ? { validSplit: o.validSplit } : {}),
          ...(o.components ? { components: o.components } : {}),
          batch: o.batch,
          ...(o.quiet ? {} : { onProgress: (s, d, t) => countProgress(`features ${s}`)?.(d, t) }),
        });
        const file = await writeOodRecord(l.ref.checkpoint, r);
        const f = r.features;
        console.log(
          `${file}: ${f.dim} features of ${f.layer} from ${f.fittedOn.images} images ` +
            `(${f.fittedOn.splits.join(' + ')}; ` +
            `shrinkage ${f.shrinkage.toFixed(3)}, ${f.variances.length} directions); limit ${f.limit.toFixed(2)} = ` +
            `cross-fitted distance ${f.limitSetOn.rank}/${f.limitSetOn.images} ` +
            `(median ${f.limitSetOn.median.toFixed(2)})` +
            (f.limitSetOn.guaranteed ? '' : `: too few images for α ${f.alpha} (the largest is the limit)`),
        );
      }),
    );
  ood
    .command('check')
    .description(
      'measure the refusal as serve applies it: frontal radiographs no training used (figure1, cxnet; NIH, ' +
        "Montgomery, Shenzhen and Kermany outside the model's manifests) against lateral views, inverted films, " +
        'non-medical images, blank, noise and rendered scenes; refused share per kind with Wilson 95 % intervals',
    )
    .argument('<model>', 'run folder or checkpoint folder (with its ood.json)')
    .requiredOption('--lungs <dir>', 'lung segmenter (cxrtune lungs train)')
    .requiredOption(
      '--data <dir>',
      'folder with covid-chestxray/, figure1/, nih/, lungs/, kermany/, cxnet/ (see the README for the sources)',
    )
    .option('--photos <dirs...>', 'folders searched for non-medical PNG/JPEG files (e.g. /usr/share)')
    .addOption(
      intOption('--max-per-source <n>', 'held-out frontal images at most per source, sampled (default 300)', {
        min: 1,
      }),
    )
    .option('--out <file>', 'write every image’s outcome (check, lung-field shape, distance) as JSON')
    .addOption(threadsOption())
    .addOption(jsonOption('print the per-kind results as JSON'))
    .addOption(quietOption())
    .action(
      act(async (model: string, o) => {
        const served = await loadServedModel(model, {
          lungs: o.lungs,
          ...(o.threads ? { threads: o.threads } : {}),
          warn: (line) => process.stderr.write(`${line}\n`),
        });
        // Without its statistics the serving path refuses nothing: a table of zeros would measure nothing.
        if (!served.ood)
          throw new Error(`${served.dir} has no ${OOD_FILE}: write it first with cxrtune ood fit ${model}`);
        const cfg = recordedTrainConfig(served.meta);
        const seen = [cfg.manifest, served.ood.features.fittedOn.manifest].filter((m): m is string => !!m);
        const sets = oodSets({
          data: o.data,
          seen: [...new Set(seen)],
          ...(o.photos ? { photos: o.photos } : {}),
          ...(o.maxPerSource ? { maxPerSource: o.maxPerSource } : {}),
        });
        const rows = await checkOod(served, sets, {
          ...(o.quiet ? {} : { onImage: (k, d, t) => countProgress(k)?.(d, t) }),
        });
        if (o.out) writeFileSync(o.out, `${JSON.stringify({ model: join(served.dir), rows }, null, 1)}\n`);
        const summary = rows.map(({ outcomes, ...r }) => r);
        if (o.json) console.log(JSON.stringify(summary, null, 2));
        else console.log(formatOodTable(rows).join('\n'));
      }),
    );
}
