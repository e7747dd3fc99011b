// `cxrtune demo` (what `npm run demo` runs): the whole method end to end.
import { type Command, Option } from 'commander';
import { ProgressBar } from '../recipe/progressBar.js';
import { formatDuration } from '../util/progressLine.js';
import { runDemo } from '../app/demo/demo.js';
import { DEMO_TASKS, RECIPES } from '../app/demo/realDataRecipe.js';
import { act } from './act.js';
import {
  archOption,
  batchOption,
  intOption,
  jsonOption,
  manifestOption,
  precisionOption,
  quietOption,
  seedOption,
  sizeOption,
  threadsOption,
} from './options.js';
import { jsonOut as json } from './jsonOut.js';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'end to end: data → LR finder → discriminative one-cycle training (bf16 where supported) → ' +
        'evaluate → explain → audit → report.html. Default: synthetic phantoms, a few minutes on 2 ' +
        'cores; --data DIR runs a real-data recipe (default: the recommended one, validated on ' +
        'held-out hospitals, lungs cropped by a segmenter trained or reused first)',
    )
    .option('--out <dir>', 'output folder (replaced if an earlier demo made it)', 'runs/demo')
    .option(
      '--data <dir>',
      "real data in ../shared/data's layout: build the recipe's dataset (recommended: adult-mixed " +
        "split by location; paper: the paper's D_A) and train with the recipe",
    )
    .addOption(
      new Option(
        '--recipe <name>',
        'real data: recommended (chosen on source-held-out validation; ' +
          "docs/generalisation-experiments.md) | paper (the paper's protocol; an INTERNAL figure)",
      )
        .choices([...RECIPES])
        .default('recommended'),
    )
    .addOption(
      new Option(
        '--task <name>',
        'real data: covid (COVID-19 against adult negatives; external set figure1) | tb (tuberculosis: train ' +
          'in Shenzhen, patient-level split, threshold at 90 % sensitivity; Montgomery County as the external set)',
      )
        .choices([...DEMO_TASKS])
        .default('covid'),
    )
    .option(
      '--lungs <dir>',
      'real data: a lung segmenter (cxrtune lungs train) instead of the cached one or one trained on DATA/lungs now',
    )
    .addOption(manifestOption('or any manifest with train and valid splits'))
    .option(
      '--pretrained <file|auto|none>',
      'ImageNet weights (safetensors, a PyTorch .pth read safely, a folder or a local Hugging Face ' +
        'id; the architecture is read from the file unless --arch is given); auto (default): ' +
        '$CXRTUNE_PRETRAINED or ../shared/pretrained/mobilenet_v2-imagenet-ptq.safetensors when ' +
        'present, else none (ResNet-18 from scratch)',
    )
    .addOption(archOption("architecture (default resnet18, or the pretrained file's)"))
    .addOption(sizeOption('image side (default 128 phantoms, 224 real)'))
    .addOption(
      intOption(
        '--epochs <n>',
        "epochs (default: phantoms 4 pretrained / 6 from scratch; real data the recipe's: 8 recommended, 20 paper)",
        { min: 1 },
      ),
    )
    .addOption(batchOption('batch size (default 16)'))
    .addOption(intOption('--n <count>', 'phantoms to draw (default 720)'))
    .addOption(seedOption('seed (default 0)'))
    .addOption(precisionOption('default bf16 when the CPU has AVX512-BF16/AMX, else fp32'))
    .addOption(threadsOption())
    .addOption(jsonOption('print the result as JSON at the end'))
    .addOption(quietOption('only the final summary'))
    .addHelpText(
      'after',
      '\nExamples:\n  npm run demo\n  npm run demo -- --data ../shared/data                  # the ' +
        'recommended real-data recipe\n  npm run demo -- --data ../shared/data --recipe paper   # the ' +
        "paper's protocol, for comparison\n  npm run demo -- --data ../shared/data --task tb        # " +
        'tuberculosis: Shenzhen → Montgomery County (EXTERNAL)',
    )
    .action(
      act(async (o: DemoFlags) => {
        if (o.data && o.manifest) throw new Error('give --data or --manifest, not both');
        const quiet = Boolean(o.quiet);
        const log = (l: string) => {
          if (!quiet) process.stderr.write(`${l}\n`);
        };
        const r = await runDemo({
          out: o.out,
          data: o.data,
          manifest: o.manifest,
          recipe: o.recipe,
          task: o.task,
          lungs: o.lungs,
          pretrained: o.pretrained,
          arch: o.arch,
          size: o.size,
          epochs: o.epochs,
          batch: o.batch,
          n: o.n,
          seed: o.seed,
          precision: o.precision,
          threads: o.threads,
          log,
          callbacks: quiet
            ? []
            : [new ProgressBar({ write: (s) => process.stderr.write(s), tty: Boolean(process.stderr.isTTY) })],
        });
        const m = r.evaluation.metrics;
        const pct = (p: { value: number; lo: number; hi: number }) =>
          `${(100 * p.value).toFixed(1)} % (95 % CI ${(100 * p.lo).toFixed(1)}–${(100 * p.hi).toFixed(1)})`;
        if (o.json)
          process.stdout.write(
            json({
              ...r,
              evaluation: { ...r.evaluation, metrics: { ...m, roc: undefined, pr: undefined } },
              gradcam: r.gradcam ? { ...r.gradcam, perImage: undefined } : null,
            }),
          );
        else {
          process.stdout.write(
            `${[
              `demo finished in ${formatDuration(r.seconds)} ` +
                `(${r.steps.map((s) => `${s.name} ${formatDuration(s.seconds)}`).join(', ')})`,
              ...(r.recipe ? [`recipe: ${r.recipe.name} — ${r.recipe.summary}`] : []),
              ...(r.lungs ? [`lungs: segmenter ${r.lungs.dir} (${r.lungs.from}); ${r.lungs.note}`] : []),
              `model: ${r.arch}, ` +
                `${r.pretrained ? `fine-tuned from ${r.pretrained}` : 'trained from scratch'}; α ` +
                `${r.lr.lrMin.toExponential(1)}..${r.lr.lrMax.toExponential(1)} (finder proposed ` +
                `${r.lr.proposed.lrMin.toExponential(1)}..${r.lr.proposed.lrMax.toExponential(1)})`,
              // The honest figure first (source-held-out, else external); an internal one says so.
              ...[
                r.headline,
                ...[r.evaluation, r.external].filter((e): e is NonNullable<typeof e> => Boolean(e) && e !== r.headline),
              ].map((e) => {
                const em = e.metrics;
                const p = e.protocol;
                const auc = Number.isFinite(em.auc.value)
                  ? `, AUC ${em.auc.value.toFixed(3)} (${em.auc.lo.toFixed(3)}–${em.auc.hi.toFixed(3)})`
                  : '';
                const spec = em.negatives ? `, specificity ${pct(em.specificity)}` : '';
                const internal =
                  p.protocol === 'internal' && r.mode === 'real'
                    ? ' — not evidence of generalisation; see the audit'
                    : '';
                // Real data: the operating point and the rule that chose it (where it was chosen).
                const rule = typeof r.recipe?.threshold === 'string' ? r.recipe.threshold : null;
                const at =
                  r.mode === 'real'
                    ? ` at threshold ${e.model.threshold.toFixed(3)}${rule ? ` (${rule} on the validation split)` : ''}`
                    : '';
                return (
                  `${p.protocol.toUpperCase()} — ${e.name} (${em.n} images; ${p.why}): sensitivity ` +
                  `${pct(em.sensitivity)}${spec}${at}${auc}${internal}`
                );
              }),
              ...(r.gradcam?.pointing.n
                ? [
                    `Grad-CAM: pointing game ${(100 * r.gradcam.pointing.rate).toFixed(1)} % ` +
                      `(${r.gradcam.pointing.hits}/${r.gradcam.pointing.n}), mean CAM mass in lesions ` +
                      `${(100 * r.gradcam.lesionMass.mean).toFixed(1)} %`,
                  ]
                : []),
              r.audit.headline,
              `report: ${r.report}`,
            ].join('\n')}\n`,
          );
        }
      }),
    );
}

type DemoFlags = Omit<Parameters<typeof runDemo>[0], 'log' | 'callbacks'> & { json?: boolean; quiet?: boolean };
