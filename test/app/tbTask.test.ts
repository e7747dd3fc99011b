// The task comes from the data, not the code: a tiny "tuberculosis" model (phantoms relabelled,
// with the dataset's task record in summary.json, as `data build --preset tb-shenzhen` writes it)
// is trained with the clinic's threshold rule (sensitivity:0.9); its model.json, evaluation,
// report, model card, DICOM SR and screening page all name tuberculosis and none says COVID-19.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writePhantoms } from '../../src/data/phantom.js';
import { readManifest, writeManifest } from '../../src/data/manifest.js';
import { taskOfModel } from '../../src/data/task.js';
import { setThreads } from '../../src/engine/runtime.js';
import { trainRun } from '../../src/app/train/experiment.js';
import { resolveTrainConfig } from '../../src/app/train/trainConfig.js';
import { evaluate } from '../../src/app/evaluate/evaluate.js';
import { buildReport } from '../../src/app/report/report.js';
import { loadServedModel } from '../../src/app/serve/servedModel.js';
import { modelCard } from '../../src/app/serve/modelCard.js';
import { buildServer } from '../../src/app/serve/server.js';
import { buildScreeningSr } from '../../src/app/pacs/screeningSr.js';
import { readDicomFile, writeDicomFile } from '../../src/app/pacs/dicomFile.js';
import { resultUids } from '../../src/app/pacs/resultUids.js';
import { readSourceHeader } from '../../src/app/pacs/sourceHeader.js';
import { dumpSr } from '../../src/app/pacs/srDump.js';
import { cxrDicom } from '../pacs/cxrDicom.js';
import { phantomPng } from '../serve/fixture.js';
import { CHROMIUM } from './helpers/browser.js';

const dir = mkdtempSync(join(tmpdir(), 'cxrtune-tb-task-'));
const run = join(dir, 'run');
const best = join(run, 'checkpoints', 'best');
let manifest = '';

before(async () => {
  setThreads(2);
  const ph = await writePhantoms({ n: 48, size: 64, seed: 5, out: join(dir, 'data'), sheetSize: 0 });
  // The lesion phantoms stand in for tuberculosis; the dataset declares its task as the TB preset does.
  const m = readManifest(ph.manifestFile);
  manifest = join(dir, 'data', 'tb.csv');
  await writeManifest(
    manifest,
    m.rows.map((r) => ({ ...r, label: r.label === 'covid' ? 'tuberculosis' : r.label })),
  );
  writeFileSync(
    join(dir, 'data', 'summary.json'),
    JSON.stringify({ task: { positive: 'tuberculosis', finding: 'tuberculosis' } }),
  );
  await trainRun(
    resolveTrainConfig(
      {},
      {
        manifest,
        arch: 'resnet18',
        out: run,
        size: 64,
        batch: 8,
        epochs: 1,
        lrMin: 1e-4,
        lrMax: 3e-3,
        threads: 2,
        threshold: 'sensitivity:0.9',
      },
    ),
  );
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('model.json: the dataset task (tuberculosis, SNOMED CT 154283005) and the sensitivity:0.9 rule', () => {
  const meta = JSON.parse(readFileSync(join(best, 'model.json'), 'utf8'));
  assert.deepEqual(meta.classes, ['normal', 'tuberculosis']);
  assert.equal(meta.task.positive, 'tuberculosis');
  assert.equal(meta.task.finding, 'tuberculosis');
  assert.deepEqual(meta.task.code, { value: '154283005', scheme: 'SCT', meaning: 'Pulmonary tuberculosis' });
  assert.equal(meta.thresholdChoice.rule, 'sensitivity:0.9');
  // The rule's promise on its own sample: sensitivity at least 0.9 at the recorded threshold.
  assert.ok(meta.thresholdChoice.evaluation.sensitivity.value >= 0.9, JSON.stringify(meta.thresholdChoice));
  assert.doesNotMatch(JSON.stringify(meta.task), /covid/i);
});

test('evaluation, report and model card say tuberculosis, not COVID-19', async () => {
  const e = await evaluate({ model: run, manifest, split: 'valid', out: join(dir, 'eval'), bootstrap: 100 });
  assert.equal(e.model.task?.finding, 'tuberculosis');
  const r = await buildReport({ run, evals: [join(dir, 'eval')], out: join(dir, 'report.html') });
  const html = readFileSync(r.file, 'utf8');
  assert.match(html, /Screens for <b>tuberculosis<\/b> \(class tuberculosis against normal\)/);
  assert.match(html, /review for pulmonary tuberculosis|review for signs of pulmonary tuberculosis/);
  assert.doesNotMatch(html, /COVID-19/);
  const served = await loadServedModel(best);
  const card = modelCard(served);
  assert.equal(card.task.finding, 'tuberculosis');
  assert.equal(card.task.code.value, '154283005');
  assert.deepEqual(card.task.classNames, { normal: 'normal', tuberculosis: 'tuberculosis' });
  assert.match(card.intendedUse, /tuberculosis/);
  assert.doesNotMatch(JSON.stringify(card), /COVID/i);
});

test("the model's SR: coded finding = pulmonary tuberculosis; decision and probability in TB words", async () => {
  const meta = JSON.parse(readFileSync(join(best, 'model.json'), 'utf8'));
  const src = readSourceHeader(cxrDicom().bytes);
  const model = { arch: meta.arch, version: 'v', sha256: meta.weightsSha256, software: 'cxrtune test' };
  const sr = readDicomFile(
    writeDicomFile(
      buildScreeningSr(
        src,
        {
          probability: 0.2,
          threshold: meta.threshold,
          positive: false,
          label: 'normal',
          positiveClass: 'tuberculosis',
          task: taskOfModel(meta),
        },
        model,
        resultUids(src.studyUid, src.sopUid, model.sha256),
      ),
    ),
  );
  const dump = dumpSr(sr);
  assert.match(
    dump,
    /\(screened-for, 99CXRTUNE, "Finding screened for"\) = \(154283005, SCT, "Pulmonary tuberculosis"\)/,
  );
  assert.match(dump, /"Probability of tuberculosis"/);
  assert.match(dump, /"negative: normal \(probability of tuberculosis 0\.200 < threshold /);
  assert.doesNotMatch(dump, /covid/i);
});

test('the screening page names tuberculosis (probability label, CAM caption, model card)', {
  skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium)`,
  timeout: 120_000,
}, async () => {
  const { chromium } = await import('playwright-core');
  const srv = await buildServer(await loadServedModel(best), {
    db: join(dir, 'audit.sqlite'),
    host: '127.0.0.1',
    port: 0,
  });
  const url = await srv.listen();
  const ctx = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  try {
    const page = await ctx.newPage();
    await page.goto(`${url}/`);
    await page.locator('#model-card dl').waitFor();
    assert.equal(await page.locator('#prob-label').textContent(), 'Probability of tuberculosis');
    assert.equal(await page.locator('#pos-name').textContent(), 'tuberculosis');
    const card = (await page.locator('#model-card dl').textContent()) ?? '';
    assert.match(card, /Screened fortuberculosis \(class tuberculosis\)/);
    assert.match(card, /review for signs of pulmonary tuberculosis/);
    const file = join(dir, 'phantom.png');
    writeFileSync(file, await phantomPng(256));
    await page.getByLabel('Choose a chest radiograph').setInputFiles(file);
    await page.locator('#result:not([hidden])').waitFor({ timeout: 60_000 });
    const body = (await page.locator('body').textContent()) ?? '';
    assert.match(body, /tuberculosis/);
    assert.doesNotMatch(body, /COVID/i);
  } finally {
    await ctx.close();
    await srv.close();
  }
});
