// `cxrtune evaluate`, `explain`, `report` and `demo`. User mistakes end in one line on
// stderr and exit code 1 (main.ts prints it); --json prints the result on stdout.
import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ARCHS } from '../engine/types.js';
import { ProgressBar, formatDuration } from '../recipe/progressBar.js';
import { camCheck } from '../app/camCheck.js';
import { runDemo } from '../app/demo.js';
import { evaluate, formatEvaluation } from '../app/evaluate.js';
import { explainImages, explainTopLosses } from '../app/explain.js';
import { buildReport } from '../app/report/report.js';
import { floatArg, intArg } from './args.js';
import { launchOrJoin } from './distributedLaunch.js';

const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? null : x), 2) + '\n';
const prob = (v: string) => {
  const n = Number(v);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError(`'${v}' is not a probability in [0, 1]`);
  return n;
};
const progress = (what: string, quiet: boolean) => (quiet || !process.stderr.isTTY ? undefined
  : (done: number, total: number) => process.stderr.write(`\r\x1b[K${what} ${done}/${total}${done === total ? '\n' : ''}`));

export function registerEvaluateCommands(program: Command): void {
  program
    .command('evaluate')
    .description('score a model on a manifest (validation, test or external set): metrics with 95 % intervals → metrics.json, predictions.csv, confusion/ROC/PR/reliability SVGs')
    .requiredOption('--model <run|checkpoint>', 'run folder (uses checkpoints/best) or checkpoint folder')
    .requiredOption('--manifest <csv>', 'manifest to evaluate (any: the training one, or an external set)')
    .option('--split <name>', "split to evaluate, or 'all' (default: test if present, else valid, else every row)")
    .requiredOption('--out <dir>', 'output folder')
    .option('--threshold <p>', "decision threshold on the positive probability (default: the checkpoint's)", prob)
    .option('--target-sensitivity <s>', 'also report the operating point reaching this sensitivity', prob)
    .option('--bootstrap <n>', 'bootstrap resamples for the AUC interval (default 2000; 0 = none)', intArg)
    .option('--bins <n>', 'reliability bins (default 10)', intArg)
    .option('--seed <n>', 'bootstrap seed (default 0)', intArg)
    .option('--allow-train-overlap', 'evaluate even if the set shares patients with the training split (the result says so)')
    .addOption(new Option('--precision <p>', 'inference precision (default fp32)').choices(['fp32', 'bf16', 'fp16']))
    .option('--batch <n>', 'batch size (default 16)', intArg)
    .option('--threads <n>', 'CPU threads (default: physical cores, split between local workers)', intArg)
    .option('--nproc <n>', 'data parallel: N local worker processes each predict a share of the rows (c10d, torchrun-compatible)', intArg)
    .addOption(new Option('--backend <b>', 'process-group backend (default gloo)').choices(['gloo', 'nccl']))
    .option('--name <text>', 'name of this set in plots and the report')
    .option('--json', 'print metrics.json on stdout')
    .option('--quiet', 'no progress on stderr')
    .addHelpText('after', '\nExamples:\n  cxrtune evaluate --model runs/r18 --manifest data/manifest.csv --split valid --out runs/r18/eval-valid\n  cxrtune evaluate --model runs/r18 --manifest external/manifest.csv --split all --out runs/r18/eval-external --name "hospital B"')
    .action(async (o: Record<string, any>) => {
      const lj = await launchOrJoin({ nproc: o.nproc, backend: o.backend });
      if (lj.launched) {
        process.exitCode = lj.exitCode;
        return;
      }
      const group = lj.group;
      if (group && !group.isMain) o.quiet = true;
      const e = await evaluate({
        model: o.model, manifest: o.manifest, split: o.split, out: o.out, threshold: o.threshold, targetSensitivity: o.targetSensitivity,
        bootstrap: o.bootstrap, bins: o.bins, seed: o.seed, allowTrainOverlap: Boolean(o.allowTrainOverlap), precision: o.precision,
        batch: o.batch, threads: o.threads, name: o.name, onProgress: progress('evaluate', Boolean(o.quiet || o.json)),
        ...(group ? { group } : {}),
      });
      if (group && !group.isMain) return; // rank 0 reports
      if (o.json) process.stdout.write(json(e));
      else process.stdout.write(`${formatEvaluation(e)}\nwrote ${e.files.metrics}, ${e.files.predictions} and plots (${formatDuration(e.seconds)})\n`);
      if (e.overlap.sharedPatients > 0) process.stderr.write(`warning: ${e.overlap.note}\n`);
    });

  program
    .command('explain')
    .description('Grad-CAM: a top-losses gallery for a manifest (Fig. 9), overlays for image files (Fig. 10), and on sets with masks the pointing game and the share of CAM mass in the lesions / lung field')
    .requiredOption('--model <run|checkpoint>', 'run folder (uses checkpoints/best) or checkpoint folder')
    .option('--manifest <csv>', 'manifest: top losses (+ Grad-CAM checks when it has mask/lung_mask columns)')
    .option('--split <name>', "split of the manifest, or 'all' (default: valid if present)")
    .option('--top-losses <n>', 'top losses to show (default 9)', intArg)
    .option('--images <files...>', 'image files to explain (PNG, JPEG, DICOM)')
    .option('--target <class>', "class to explain for --images: 'predicted' (default) or a class name")
    .option('--no-check', 'skip the Grad-CAM gallery and checks (pointing game and CAM mass inside masks, when the manifest has mask/lung_mask columns)')
    .option('--layer <name>', "Grad-CAM layer (default: the network's last block, e.g. layer4)")
    .option('--opacity <a>', 'overlay opacity in [0, 1] (default 0.5)', floatArg)
    .option('--gallery <n>', 'images in the Grad-CAM gallery (default 8)', intArg)
    .requiredOption('--out <dir>', 'output folder')
    .option('--threads <n>', 'CPU threads (default: physical cores)', intArg)
    .option('--json', 'print the results as JSON')
    .addHelpText('after', '\nExamples:\n  cxrtune explain --model runs/r18 --manifest data/manifest.csv --top-losses 9 --out runs/r18/explain\n  cxrtune explain --model runs/r18 --images a.png b.dcm --opacity 0.4 --out cams/')
    .action(async (o: Record<string, any>) => {
      if (!o.manifest && !o.images) throw new Error('give --manifest (top losses, Grad-CAM checks) and/or --images FILE…');
      const res: Record<string, unknown> = {};
      const common = { model: o.model, out: o.out, layer: o.layer, opacity: o.opacity, threads: o.threads };
      if (o.manifest) {
        const tl = await explainTopLosses({ ...common, manifest: o.manifest, split: o.split, top: o.topLosses ?? 9 });
        res.topLosses = tl;
        if (!o.json) process.stdout.write(`top losses: ${tl.items.length} shown, ${tl.wrong}/${tl.evaluated} misclassified → ${tl.files.png}, ${tl.files.html}\n`);
        const header = (await import('node:fs')).readFileSync(resolve(o.manifest), 'utf8').split('\n', 1)[0]!.split(',');
        const hasMasks = header.includes('mask') || header.includes('lung_mask');
        if (o.check !== false) {
          const c = await camCheck({ ...common, manifest: o.manifest, split: o.split, gallery: o.gallery });
          res.gradcam = { ...c, perImage: undefined };
          if (!o.json && !hasMasks) process.stdout.write(`Grad-CAM gallery (${c.layer}, ${c.images} images; no masks, so no pointing game) → ${c.files.galleryPng}\n`);
          else if (!o.json) {
            process.stdout.write(`Grad-CAM (${c.layer}) on ${c.images} images:\n`
              + `  pointing game ${c.pointing.n ? `${(100 * c.pointing.rate).toFixed(1)} % (${c.pointing.hits}/${c.pointing.n}; chance ${(100 * c.pointing.chance).toFixed(1)} %)` : 'n/a'}\n`
              + `  CAM mass inside lesions ${c.lesionMass.n ? `${(100 * c.lesionMass.mean).toFixed(1)} % (lesion area ${(100 * c.lesionMass.chance).toFixed(1)} %)` : 'n/a'}\n`
              + `  CAM mass inside the lung field ${c.lungMass.n ? `${(100 * c.lungMass.mean).toFixed(1)} % (lung area ${(100 * c.lungMass.chance).toFixed(1)} %)` : 'n/a'}\n`
              + `  → ${c.files.galleryPng}, ${c.files.json}\n`);
          }
        }
      }
      if (o.images) {
        const r = await explainImages({ ...common, images: o.images, target: o.target });
        res.images = r;
        if (!o.json) for (const x of r) process.stdout.write(`${x.image}: ${x.predicted} (${Object.entries(x.probabilities).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}) → ${x.overlay}\n`);
      }
      if (o.json) process.stdout.write(json(res));
    });

  program
    .command('report')
    .description('one self-contained HTML report (opens offline): configuration, data, LR finder, schedules, training curves, Tables 2–5 with intervals, confusion matrix, ROC, reliability, top losses, Grad-CAM, limitations')
    .argument('<run>', 'run folder (from cxrtune train)')
    .option('--eval <dirs...>', 'evaluation folders (from cxrtune evaluate); explain outputs inside them are used too')
    .option('--explain <dirs...>', 'folders with explain outputs (top_losses.*, gradcam_*)')
    .option('--lr-find <file>', 'lr_find.json (default RUN/lr_find.json)')
    .option('--title <text>', 'report title')
    .option('--out <file>', 'output HTML file (default RUN/report.html)')
    .option('--json', 'print {file, bytes, sections} as JSON')
    .addHelpText('after', '\nExample:\n  cxrtune report runs/r18 --eval runs/r18/eval-valid runs/r18/eval-external --out runs/r18/report.html')
    .action(async (run: string, o: Record<string, any>) => {
      const r = await buildReport({ run, evals: o.eval, explain: o.explain, lrFind: o.lrFind, title: o.title, out: o.out ?? `${run}/report.html` });
      if (o.json) process.stdout.write(json(r));
      else process.stdout.write(`wrote ${r.file} (${(r.bytes / 1024).toFixed(0)} KiB; sections: ${r.sections.join(', ')})\n`);
    });

  program
    .command('demo')
    .description('end to end: data → LR finder → discriminative one-cycle training (bf16 where supported) → evaluate → explain → report.html. Default: synthetic phantoms, a few minutes on 2 cores; --data DIR runs the paper\'s protocol on real data')
    .option('--out <dir>', 'output folder (replaced if an earlier demo made it)', 'runs/demo')
    .option('--data <dir>', "real data in ../shared/data's layout: build the paper's D_A (paper-da preset), train with the paper preset")
    .option('--manifest <csv>', 'or any manifest with train and valid splits')
    .option('--pretrained <file|auto|none>', 'ImageNet weights (safetensors, a PyTorch .pth read safely, a folder or a local Hugging Face id; the architecture is read from the file unless --arch is given); auto (default): $CXRTUNE_PRETRAINED or ../shared/pretrained/mobilenet_v2-imagenet-ptq.safetensors when present, else none (ResNet-18 from scratch)')
    .addOption(new Option('--arch <name>', 'architecture (default resnet18, or the pretrained file\'s)').choices([...ARCHS]))
    .option('--size <px>', 'image side (default 128 phantoms, 224 real)', intArg)
    .option('--epochs <n>', 'epochs (default: phantoms 4 pretrained / 6 from scratch; real data 20 as in the paper)', intArg)
    .option('--batch <n>', 'batch size (default 16)', intArg)
    .option('--n <count>', 'phantoms to draw (default 720)', intArg)
    .option('--seed <n>', 'seed (default 0)', intArg)
    .addOption(new Option('--precision <p>', 'default bf16 when the CPU has AVX512-BF16/AMX, else fp32').choices(['fp32', 'bf16', 'fp16']))
    .option('--threads <n>', 'CPU threads (default: physical cores)', intArg)
    .option('--json', 'print the result as JSON at the end')
    .option('--quiet', 'only the final summary')
    .addHelpText('after', '\nExamples:\n  npm run demo\n  npm run demo -- --data ../shared/data --pretrained ../shared/pretrained/mobilenet_v2-imagenet-ptq.safetensors')
    .action(async (o: Record<string, any>) => {
      if (o.data && o.manifest) throw new Error('give --data or --manifest, not both');
      const quiet = Boolean(o.quiet);
      const log = (l: string) => { if (!quiet) process.stderr.write(`${l}\n`); };
      const r = await runDemo({
        out: o.out, data: o.data, manifest: o.manifest, pretrained: o.pretrained, arch: o.arch, size: o.size, epochs: o.epochs, batch: o.batch,
        n: o.n, seed: o.seed, precision: o.precision, threads: o.threads, log,
        callbacks: quiet ? [] : [new ProgressBar({ write: (s) => process.stderr.write(s), tty: Boolean(process.stderr.isTTY) })],
      });
      const m = r.evaluation.metrics;
      const pct = (p: { value: number; lo: number; hi: number }) => `${(100 * p.value).toFixed(1)} % (95 % CI ${(100 * p.lo).toFixed(1)}–${(100 * p.hi).toFixed(1)})`;
      if (o.json) process.stdout.write(json({ ...r, evaluation: { ...r.evaluation, metrics: { ...m, roc: undefined, pr: undefined } }, gradcam: r.gradcam ? { ...r.gradcam, perImage: undefined } : null }));
      else {
        process.stdout.write([
          `demo finished in ${formatDuration(r.seconds)} (${r.steps.map((s) => `${s.name} ${formatDuration(s.seconds)}`).join(', ')})`,
          `model: ${r.arch}, ${r.pretrained ? `fine-tuned from ${r.pretrained}` : 'trained from scratch'}; α ${r.lr.lrMin.toExponential(1)}..${r.lr.lrMax.toExponential(1)} (finder proposed ${r.lr.proposed.lrMin.toExponential(1)}..${r.lr.proposed.lrMax.toExponential(1)})`,
          `validation (${m.n} images, held-out patients): accuracy ${pct(m.accuracy)}, sensitivity ${pct(m.sensitivity)}, specificity ${pct(m.specificity)}, AUC ${m.auc.value.toFixed(3)} (${m.auc.lo.toFixed(3)}–${m.auc.hi.toFixed(3)})`,
          ...(r.gradcam && r.gradcam.pointing.n ? [`Grad-CAM: pointing game ${(100 * r.gradcam.pointing.rate).toFixed(1)} % (${r.gradcam.pointing.hits}/${r.gradcam.pointing.n}), mean CAM mass in lesions ${(100 * r.gradcam.lesionMass.mean).toFixed(1)} %`] : []),
          `report: ${r.report}`,
        ].join('\n') + '\n');
      }
    });
}
