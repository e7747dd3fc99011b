// `cxrtune pretrain`: radiograph-adapted backbone weights (app/pretrain/pretrain.ts), a file that
// train, lr-find and the demo take as --pretrained.
import type { Command } from 'commander';
import { Option } from 'commander';
import { autoPretrained } from '../app/demo/demoContext.js';
import { PRETRAIN_DEFAULTS, pretrain } from '../app/pretrain/pretrain.js';
import type { FeatureProbe } from '../app/pretrain/featureProbe.js';
import type { Arch, Precision } from '../engine/types.js';
import { ProgressBar } from '../recipe/progressBar.js';
import { formatDuration } from '../util/progressLine.js';
import { act } from './act.js';
import { jsonOut as json } from './jsonOut.js';
import {
  archOption,
  batchOption,
  intOption,
  jsonOption,
  manifestOption,
  numOption,
  precisionOption,
  quietOption,
  seedOption,
  sizeOption,
  threadsOption,
} from './options.js';

const probeLine = (what: string, p: FeatureProbe | null) =>
  p ? `${what}: ${p.probe.text} (${p.images} images, ${p.crop === 'lungs' ? 'lung boxes' : 'whole images'})` : '';

export function registerPretrainCommand(program: Command): void {
  program
    .command('pretrain')
    .description(
      'radiograph-adapted features: trains an ImageNet backbone on radiographs the COVID-19 evaluation never ' +
        'uses (--data: Kermany normal / bacterial / viral pneumonia) and writes its backbone without the ' +
        'classifier as a --pretrained file, with a model card (what it saw, for how long, from which weights)',
    )
    .option('--data <dir>', "real data in ../shared/data's layout: the pretraining set is built from its kermany/")
    .addOption(manifestOption('or any manifest with train and valid splits to pretrain on'))
    .requiredOption('--out <dir>', 'output folder: data/, run/, ARCH-cxr.safetensors and model-card.json')
    .addOption(archOption(`architecture (default ${PRETRAIN_DEFAULTS.arch})`))
    .option(
      '--pretrained <file|auto|none>',
      'starting weights; auto (default): $CXRTUNE_PRETRAINED or ' +
        '../shared/pretrained/mobilenet_v2-imagenet-ptq.safetensors when present; none: random initialisation',
      'auto',
    )
    .addOption(intOption('--epochs <n>', `epochs (default ${PRETRAIN_DEFAULTS.epochs})`, { min: 1 }))
    .addOption(sizeOption(`image side (default ${PRETRAIN_DEFAULTS.size})`))
    .addOption(batchOption(`batch size (default ${PRETRAIN_DEFAULTS.batch})`))
    .addOption(numOption('--lr-min <x>', `α_min of the one-cycle schedule (default ${PRETRAIN_DEFAULTS.lrMin})`))
    .addOption(numOption('--lr-max <x>', `α_max (default ${PRETRAIN_DEFAULTS.lrMax})`))
    .addOption(
      new Option(
        '--exclude <csv...>',
        'evaluation manifests: refuse if any of their images (by content) is in the pretraining set',
      ),
    )
    .option(
      '--probe <csv>',
      "a COVID-19 manifest: the audit's source probe on the starting and on the adapted features, before fine-tuning",
    )
    .option('--probe-split <name>', 'its split (default valid)')
    .addOption(seedOption('seed (default 0)'))
    .addOption(precisionOption('default bf16 when the CPU has AVX512-BF16/AMX, else fp32'))
    .addOption(threadsOption())
    .addOption(jsonOption('print the model card as JSON'))
    .addOption(quietOption())
    .addHelpText(
      'after',
      '\nExample:\n  cxrtune pretrain --data ../shared/data --out runs/pretrain --epochs 3 --size 160\n' +
        '  cxrtune demo --data ../shared/data --pretrained runs/pretrain/mobilenet_v2-cxr.safetensors',
    )
    .action(
      act(async (o: PretrainFlags) => {
        if (o.data && o.manifest) throw new Error('give --data or --manifest, not both');
        if (!o.data && !o.manifest) throw new Error('give --data DIR or --manifest CSV');
        const quiet = Boolean(o.quiet || o.json);
        const log = (l: string) => {
          if (!quiet) process.stderr.write(`${l}\n`);
        };
        let start: string | null = null;
        if (o.pretrained === 'auto') {
          start = autoPretrained();
          if (!start) throw new Error('--pretrained auto: no weights found ($CXRTUNE_PRETRAINED or the shared folder)');
        } else if (o.pretrained !== 'none') start = o.pretrained;
        const r = await pretrain({
          out: o.out,
          pretrained: start,
          ...(o.data ? { data: o.data } : {}),
          ...(o.manifest ? { manifest: o.manifest } : {}),
          ...(o.arch ? { arch: o.arch } : {}),
          ...(o.epochs ? { epochs: o.epochs } : {}),
          ...(o.size ? { size: o.size } : {}),
          ...(o.batch ? { batch: o.batch } : {}),
          ...(o.lrMin ? { lrMin: o.lrMin } : {}),
          ...(o.lrMax ? { lrMax: o.lrMax } : {}),
          ...(o.exclude ? { exclude: o.exclude } : {}),
          ...(o.probe ? { probe: o.probe } : {}),
          ...(o.probeSplit ? { probeSplit: o.probeSplit } : {}),
          ...(o.seed !== undefined ? { seed: o.seed } : {}),
          ...(o.precision ? { precision: o.precision } : {}),
          threads: o.threads ?? null,
          log,
          callbacks: quiet
            ? []
            : [new ProgressBar({ write: (s) => process.stderr.write(s), tty: Boolean(process.stderr.isTTY) })],
        });
        if (o.json) {
          process.stdout.write(json(r.modelCard));
          return;
        }
        const t = r.modelCard.training;
        process.stdout.write(
          `${[
            `weights: ${r.weights} (${r.modelCard.weights.tensors} tensors; classifier left out)`,
            `model card: ${r.card}`,
            `${r.modelCard.task}; ${t.epochsDone}/${t.epochs} epochs at ${t.size} px, best ${t.monitor} ` +
              `${t.best.toFixed(4)} at epoch ${t.bestEpoch}, ${t.imagesPerSecond.toFixed(1)} images/s, ` +
              `${formatDuration(t.seconds)} on ${t.where.device} (${t.where.cpu})`,
            probeLine('source probe, starting features', r.modelCard.probe?.start ?? null),
            probeLine('source probe, adapted features', r.modelCard.probe?.adapted ?? null),
          ]
            .filter(Boolean)
            .join('\n')}\n`,
        );
      }),
    );
}

interface PretrainFlags {
  data?: string;
  manifest?: string;
  out: string;
  arch?: Arch;
  pretrained: string;
  epochs?: number;
  size?: number;
  batch?: number;
  lrMin?: number;
  lrMax?: number;
  exclude?: string[];
  probe?: string;
  probeSplit?: string;
  seed?: number;
  precision?: Precision;
  threads?: number;
  json?: boolean;
  quiet?: boolean;
}
