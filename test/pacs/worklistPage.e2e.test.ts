// The worklist page in Debian's Chromium (playwright-core) over a real Orthanc: chest images
// uploaded to Orthanc show up screened and sent back, likely positives first, skipped ones
// with their reason; the overlay opens. With CXRTUNE_DOCS=1 it refreshes docs/worklist.png
// and docs/pacs-sr-example.txt (the dump of one SR as Orthanc holds it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { loadServedModel } from '../../src/app/serve/servedModel.js';
import { buildServer, type Server } from '../../src/app/serve/server.js';
import { projectRoot } from '../../src/engine/native.js';
import { readDicomFile } from '../../src/app/pacs/dicomFile.js';
import { dumpSr } from '../../src/app/pacs/srDump.js';
import { srProbability } from '../../src/app/pacs/screeningSr.js';
import { makeCheckpoint } from '../serve/fixture.js';
import { cxrDicom } from './cxrDicom.js';
import { Orthanc, orthancSkip } from './orthanc.js';
import { HANG_MS, waitFor } from '../helpers/waitFor.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = orthancSkip || (existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium)`);
const docs = process.env.CXRTUNE_DOCS === '1';
let tmp: string;
let ckpt: string;
let orthanc: Orthanc;
let srv: Server;
let url: string;
let ctx: BrowserContext;

before(async () => {
  if (skip) return;
  tmp = mkdtempSync(join(tmpdir(), 'cxrtune-worklist-e2e-'));
  ckpt = await makeCheckpoint();
  orthanc = await Orthanc.create(join(tmp, 'orthanc'));
  srv = await buildServer(await loadServedModel(ckpt), {
    db: join(tmp, 'audit.sqlite'),
    host: '127.0.0.1',
    port: 0,
    pacs: { url: orthanc.url, worklist: join(tmp, 'w.sqlite'), pollMs: 100 },
  });
  url = await srv.listen();
  ctx = await chromium.launchPersistentContext(join(tmp, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
    viewport: { width: 1200, height: 820 },
  });
  ctx.setDefaultTimeout(HANG_MS); // the page's waits guard against hangs, as waitFor does
});
after(async () => {
  await ctx?.close();
  await srv?.close();
  await orthanc?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  if (ckpt) rmSync(ckpt, { recursive: true, force: true });
});

// The test's timeout is above the sum of its waits' deadlines: each wait fails first, saying what never happened.
test('worklist page: studies from Orthanc sorted by probability, statuses and reasons, overlay; SR dump', {
  skip,
  timeout: 600_000,
}, async () => {
  await waitFor(() => srv.pacs!.store.cursor() !== null, "the PACS link to read Orthanc's change log");
  const chest = [3, 11, 19, 27].map((seed) => cxrDicom({ seed, size: 320 }));
  const others = [cxrDicom({ bodyPart: 'HAND' }), cxrDicom({ view: 'LL' })];
  for (const d of [...chest, ...others]) await orthanc.upload(d.bytes);
  const handled = () => srv.pacs!.store.list().filter((i) => i.status === 'sent' || i.status === 'skipped');
  await waitFor(
    () => handled().length === 6,
    () => `the 6 instances to be sent back or skipped (${handled().length} were)`,
    { everyMs: 100 },
  );

  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(`${url}/worklist`);
  await page.locator('#worklist tbody tr').nth(5).waitFor();
  const rows = await page
    .locator('#worklist tbody tr')
    .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
  assert.equal(rows.length, 6);
  const probs = rows.slice(0, 4).map((r) => parseFloat(r[0]!));
  assert.deepEqual(
    probs,
    [...probs].sort((a, b) => b - a),
    'likely positives first',
  );
  assert.ok(rows.slice(0, 4).every((r) => r[2] === 'sent back'));
  assert.deepEqual(
    rows.slice(4).map((r) => r[2]),
    ['skipped', 'skipped'],
  );
  assert.deepEqual(
    rows
      .slice(4)
      .map((r) => r[3])
      .sort(),
    ['BodyPartExamined HAND is not CHEST', 'ViewPosition LL is not a frontal view (PA or AP)'],
  );
  assert.match((await page.locator('#wl-summary').textContent()) ?? '', /4 sent back/);
  await page.getByRole('button', { name: 'Overlay' }).first().click();
  await page.locator('#detail:not([hidden])').waitFor();
  assert.ok(
    await page.locator('#overlay').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth === 512),
  );
  assert.deepEqual(errors, []);
  const shotDir = docs ? join(projectRoot(), 'docs') : tmp;
  mkdirSync(shotDir, { recursive: true });
  await page.screenshot({ path: join(shotDir, 'worklist.png'), fullPage: true });

  // One SR as Orthanc holds it: the dump the docs show.
  const top = srv.pacs!.store.list()[0]!;
  const lookup = (await (
    await fetch(`${orthanc.url}/tools/lookup`, { method: 'POST', body: top.srUid! })
  ).json()) as Array<{ ID: string }>;
  const sr = readDicomFile(await orthanc.file(lookup[0]!.ID));
  assert.equal(srProbability(sr), top.probability);
  const dump = dumpSr(sr);
  assert.match(dump, /Content tree:/);
  if (docs) writeFileSync(join(projectRoot(), 'docs', 'pacs-sr-example.txt'), dump);
});
