// Engine-backed: a tiny phantom run → evaluate (files, numbers consistent with
// predictions.csv, overlap refusal) → explain (top losses, Grad-CAM checks, image overlays)
// → report.html, opened in headless Chromium with no console errors.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writePhantoms } from '../../src/data/phantom.js';
import { setThreads } from '../../src/engine/runtime.js';
import { trainRun } from '../../src/app/train/experiment.js';
import { resolveTrainConfig } from '../../src/app/train/trainConfig.js';
import { runLrFind } from '../../src/app/train/lrFind.js';
import { evaluate } from '../../src/app/evaluate/evaluate.js';
import { explainImages } from '../../src/app/interpret/explainImages.js';
import { explainTopLosses } from '../../src/app/interpret/explainTopLosses.js';
import { camCheck } from '../../src/app/interpret/camCheck.js';
import { buildReport } from '../../src/app/report/report.js';
import { parseCsv } from '../../src/data/csv.js';
import { CHROMIUM, openInChromium } from './helpers/browser.js';

const dir = mkdtempSync(join(tmpdir(), 'cxrtune-report-'));
const run = join(dir, 'run');
let manifest = '';

before(async () => {
  setThreads(2);
  manifest = (await writePhantoms({ n: 48, size: 64, seed: 5, out: join(dir, 'data'), sheetSize: 0 })).manifestFile;
  await runLrFind({
    manifest,
    arch: 'resnet18',
    out: run,
    size: 64,
    batch: 8,
    iterations: 12,
    start: 1e-5,
    end: 1,
    threads: 2,
  });
  await trainRun(
    resolveTrainConfig(
      {},
      { manifest, arch: 'resnet18', out: run, size: 64, batch: 8, epochs: 2, lrMin: 1e-4, lrMax: 3e-3, threads: 2 },
    ),
  );
});

test(
  'evaluate: metrics.json, predictions.csv and plots agree; ' + 'the training split is refused unless allowed',
  async () => {
    const e = await evaluate({ model: run, manifest, split: 'valid', out: join(dir, 'eval'), bootstrap: 200 });
    for (const f of Object.values(e.files)) assert.ok(existsSync(f), f);
    const csv = parseCsv(readFileSync(e.files.predictions, 'utf8'), 'predictions.csv');
    assert.equal(csv.records.length, e.metrics.n);
    const tp = csv.records.filter((r) => r.values.label === 'covid' && Number(r.values.probability) >= 0.5).length;
    assert.equal(tp, e.metrics.confusion.tp);
    for (const r of csv.records) {
      const pActual = Number(r.values[`p_${r.values.label}`]);
      assert.ok(Math.abs(Number(r.values.loss) + Math.log(Math.max(pActual, 1e-12))) < 1e-4);
    }
    assert.equal(e.overlap.sharedPatients, 0);
    assert.equal(e.data.external, false);
    assert.match(readFileSync(e.files.confusion, 'utf8'), /^<svg/);
    await assert.rejects(
      evaluate({ model: run, manifest, split: 'train', out: join(dir, 'eval-train') }),
      /training split.*--allow-train-overlap/,
    );
    const forced = await evaluate({
      model: run,
      manifest,
      split: 'train',
      out: join(dir, 'eval-train'),
      allowTrainOverlap: true,
      bootstrap: 0,
    });
    assert.ok(forced.overlap.sharedPatients > 0 && forced.overlap.allowed);
    await assert.rejects(evaluate({ model: join(dir, 'nope'), manifest, out: join(dir, 'x') }), /model not found/);
  },
);

test('explain: top losses gallery, Grad-CAM checks on phantom masks, overlays for files', async () => {
  const out = join(dir, 'eval');
  const tl = await explainTopLosses({ model: run, manifest, split: 'valid', out, top: 4 });
  assert.equal(tl.items.length, 4);
  for (let i = 1; i < tl.items.length; i++)
    assert.ok(tl.items[i - 1]!.loss >= tl.items[i]!.loss, 'most confused first');
  assert.ok(existsSync(tl.files.png) && existsSync(tl.files.html));
  assert.match(readFileSync(tl.files.html, 'utf8'), /data:image\/png;base64,/);
  const c = await camCheck({ model: run, manifest, split: 'valid', out, gallery: 4 });
  assert.ok(c.pointing.n > 0 && c.pointing.rate >= 0 && c.pointing.rate <= 1);
  assert.ok(c.lungMass.n === c.images && c.lungMass.mean > 0 && c.lungMass.mean < 1);
  assert.ok(c.pointing.chance > 0 && c.pointing.chance < 0.3, `lesion area share ${c.pointing.chance}`);
  const img = join(
    dir,
    'data',
    JSON.parse(JSON.stringify(parseCsv(readFileSync(manifest, 'utf8'), 'm').records[0]!.values.path)),
  );
  const ex = await explainImages({ model: run, images: [img, img], out: join(dir, 'cams'), opacity: 0.4 });
  assert.equal(ex.length, 2);
  assert.notEqual(ex[0]!.overlay, ex[1]!.overlay, 'same file name twice does not overwrite');
  await assert.rejects(explainImages({ model: run, images: [img], out: join(dir, 'cams'), opacity: 2 }), /opacity/);
});

test('report: self-contained HTML with every section; headless Chromium shows no console errors', async () => {
  const r = await buildReport({
    run,
    evals: [join(dir, 'eval'), join(dir, 'eval-train')],
    out: join(dir, 'report.html'),
  });
  for (const s of [
    'summary',
    'config',
    'data',
    'lr-finder',
    'schedule',
    'training',
    'tables',
    'eval-1',
    'eval-2',
    'top-losses',
    'gradcam',
    'limitations',
  ])
    assert.ok(r.sections.includes(s), s);
  const html = readFileSync(r.file, 'utf8');
  assert.doesNotMatch(html, /<script|https?:\/\/(?!vega\.github\.io|www\.w3\.org)/, 'no scripts, no remote resources');
  assert.match(html, /shares patients with training/);
  assert.match(html, /synthetic phantoms/);
  // Every figure names its protocol; on phantoms (one source) the headline says only an INTERNAL figure exists.
  assert.match(
    html,
    /Every image comes from one source \(synthetic phantoms\), so only an <b>INTERNAL<\/b> figure exists/,
  );
  assert.match(html, /Evaluation \[INTERNAL\]/);
  assert.ok(
    r.sections.indexOf('audit') < 0 || r.sections.indexOf('audit') < r.sections.indexOf('config'),
    'audit verdicts follow the headline',
  );
  assert.ok(r.sections.indexOf('limitations') < r.sections.indexOf('config'), 'limitations follow the headline');
  if (!existsSync(CHROMIUM)) {
    assert.fail(
      `${CHROMIUM} not found: install Debian's chromium (npm run bootstrap does) to check the report in a browser`,
    );
  }
  const page = await openInChromium(r.file, join(dir, 'report.png'));
  assert.deepEqual(page.errors, []);
  assert.ok(page.svgs >= 8, `${page.svgs} inline SVG plots`);
  assert.ok(page.images >= 2, `${page.images} images`);
  assert.ok(existsSync(join(dir, 'report.png')));
});
