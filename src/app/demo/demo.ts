// `cxrtune demo` (npm run demo): the whole method end to end, printing where it is.
// Default: the embedded phantoms (generated on the fly, no download) → LR range test →
// discriminative one-cycle training (bf16 where the CPU has it) → evaluation with intervals
// → top losses, Grad-CAM and the pointing game → report.html; sized to finish in a few
// minutes on 2 cores. `--data DIR` (../shared/data layout) or `--manifest M` runs a real-data
// recipe instead (realDataRecipe.ts): by default the recommended one, chosen on
// source-held-out validation (adult-mixed data, held-out hospitals, lungs cropped by a segmenter
// trained or reused first); `--recipe paper` is the paper's protocol (paper-da, paper preset).
// The steps live beside it: demoContext (settings), demoData, demoTraining, demoEvaluation.
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { formatDuration } from '../../util/progressLine.js';
import { buildReport } from '../report/report.js';
import { demoContext, stepNo, type DemoContext, type DemoOptions, type DemoResult } from './demoContext.js';
import { demoData, demoLungs } from './demoData.js';
import { demoAudit, demoEvaluate, demoExplain } from './demoEvaluation.js';
import { demoLrFind, demoTrain } from './demoTraining.js';

const MARKER = '.cxrtune-demo';

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const t0 = performance.now();
  const log = o.log ?? (() => undefined);
  const out = resolve(o.out);
  if (existsSync(out)) {
    // Only ever remove a folder an earlier demo made.
    if (!existsSync(join(out, MARKER)))
      throw new Error(`${o.out} exists and is not a demo folder; choose another --out`);
    rmSync(out, { recursive: true, force: true });
  }
  const steps: { name: string; seconds: number }[] = [];
  let ts = performance.now();
  const step = (name: string) => {
    const now = performance.now();
    steps.push({ name, seconds: (now - ts) / 1000 });
    log(`  done in ${formatDuration((now - ts) / 1000)} (total ${formatDuration((now - t0) / 1000)})`);
    ts = now;
  };
  const c = await demoContext(o, out, log);
  log(
    c.pretrained
      ? `weights: ImageNet ${c.arch} from ${c.pretrained} (--pretrained none trains from scratch)`
      : `weights: none — ${c.arch} from random initialisation` +
          (o.pretrained === 'none' ? '' : ' (no pretrained file found; --pretrained FILE to fine-tune)'),
  );
  // A marker first: a crashed demo's folder can still be cleaned by the next one.
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, MARKER), 'made by cxrtune demo\n');

  const built = await demoData(c);
  step('data');
  const { manifest, lungs } = await demoLungs(c, built);
  if (c.real) step('lungs');
  const { proposed, lr } = await demoLrFind(c, manifest);
  step('lr-find');
  const run = await demoTrain(c, manifest, lr);
  step('train');
  const { evalDir, evaluation, external, externalDir, headline } = await demoEvaluate(c, manifest);
  step('evaluate');
  const gradcam = await demoExplain(c, manifest, evalDir);
  step('explain');
  const shortcut = await demoAudit(c, manifest);
  step('audit');
  const reportFile = await demoReport(c, evalDir, externalDir);
  step('report');
  return {
    out,
    mode: c.real ? 'real' : 'phantoms',
    pretrained: c.pretrained,
    arch: c.arch,
    seconds: (performance.now() - t0) / 1000,
    steps,
    run,
    evaluation,
    external,
    headline,
    gradcam,
    audit: { verdict: shortcut.verdict, headline: shortcut.findings[0]!.text },
    report: reportFile,
    lr: { ...lr, proposed: { lrMin: proposed.lrMin, lrMax: proposed.lrMax } },
    recipe: c.recipe,
    lungs,
  };
}

/** 7. Report: report.html over the run and its evaluations. */
async function demoReport(c: DemoContext, evalDir: string, externalDir: string | null): Promise<string> {
  const { o, out, runDir, real, log } = c;
  const reportFile = join(out, 'report.html');
  log(`[${stepNo(c, 7)}] report → ${reportFile}`);
  await buildReport({
    run: runDir,
    evals: externalDir ? [evalDir, externalDir] : [evalDir],
    out: reportFile,
    title: real
      ? `cxrtune — the ${c.recipe?.name ?? 'paper'} recipe${c.recipe?.task === 'tb' ? ' for tuberculosis' : ''} ` +
        `on ${o.data ?? o.manifest}`
      : 'cxrtune demo — phantoms',
  });
  return reportFile;
}
