// End to end: Debian's Chromium (headless, via playwright-core) opens the page served on
// loopback, uploads a phantom radiograph, and sees the probability, the decision and the
// Grad-CAM heatmap; the opacity slider and the toggle work from the keyboard. Its screenshot
// stays in a temp folder: docs/serve.png comes from `npm run docs:screenshots` on a trained model.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { loadServedModel } from '../../src/app/serve/servedModel.js';
import { buildServer, type Server } from '../../src/app/serve/server.js';
import { taskFor } from '../../src/data/task.js';
import { makeCheckpoint, phantomPng } from './fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium)`;
let tmp: string;
let ckpt: string;
let srv: Server;
let url: string;
let ctx: BrowserContext;

before(async () => {
  if (skip) return;
  tmp = mkdtempSync(join(tmpdir(), 'cxrtune-serve-e2e-'));
  ckpt = await makeCheckpoint();
  srv = await buildServer(await loadServedModel(ckpt), { db: join(tmp, 'audit.sqlite'), host: '127.0.0.1', port: 0 });
  url = await srv.listen();
  // A fresh profile, no sandbox (containers), no GPU, and nothing that phones home.
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
    viewport: { width: 1100, height: 900 },
  });
});
after(async () => {
  await ctx?.close();
  await srv?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  if (ckpt) rmSync(ckpt, { recursive: true, force: true });
});

test('upload a phantom → probability, decision and heatmap on the page; screenshot', {
  skip,
  timeout: 90_000,
}, async () => {
  const page = await ctx.newPage();
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  await page.goto(`${url}/`);
  await page.locator('#model-card dl').waitFor(); // the model card loaded
  // A record in the card (the augmentation's) reads as its mode and set names, never [object Object].
  const card = (await page.locator('#model-card dl').textContent()) ?? '';
  assert.match(card, /augment: online\+robust, table1, robust/);
  assert.doesNotMatch(card, /object Object/);
  const file = join(tmp, 'phantom.png');
  writeFileSync(file, await phantomPng(512));
  await page.getByLabel('Choose a chest radiograph').setInputFiles(file);
  await page.locator('#result:not([hidden])').waitFor({ timeout: 30_000 });
  const prob = await page.locator('#probability').textContent();
  assert.match(prob ?? '', /^\d{1,3}\.\d %$/);
  assert.match((await page.locator('#decision').textContent()) ?? '', /threshold/);
  assert.equal(await page.locator('#threshold').textContent(), '50.0 %');
  // The heatmap image really decoded.
  const heat = page.locator('#heatmap');
  await page.waitForFunction(() => (document.getElementById('heatmap') as HTMLImageElement).naturalWidth > 0);
  assert.equal(await heat.evaluate((e: HTMLImageElement) => e.naturalWidth), 224);
  assert.equal(await heat.isVisible(), true);
  // Keyboard: the opacity slider moves with arrow keys, the toggle with space.
  await page.locator('#opacity').focus();
  await page.keyboard.press('ArrowRight');
  assert.equal(await heat.evaluate((e: HTMLElement) => e.style.opacity), '0.65');
  await page.locator('#show-heat').focus();
  await page.keyboard.press('Space');
  assert.equal(await heat.isVisible(), false);
  await page.keyboard.press('Space');
  assert.equal(await heat.isVisible(), true);
  // The session list has the study.
  assert.equal(await page.locator('#session tbody tr').count(), 1);
  assert.deepEqual(
    requests.filter((r) => !r.startsWith(url) && !r.startsWith('data:')),
    [],
    'nothing loaded from outside',
  );
  assert.deepEqual(consoleErrors, []);
  await page.screenshot({ path: join(tmp, 'serve.png'), fullPage: true });
  // Small screen: one column, no horizontal scrolling.
  await page.setViewportSize({ width: 390, height: 844 });
  const wide = await page.evaluate(() => {
    const w = document.documentElement.clientWidth;
    return [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > w + 1 && !e.closest('.skip, .visually-hidden'))
      .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`)
      .slice(0, 5);
  });
  assert.deepEqual(wide, [], 'nothing wider than a phone screen');
  await page.screenshot({ path: join(tmp, 'phone.png'), fullPage: true });
});

test('a three-class model on the page: the probability of every class, and the class the heatmap explains', {
  skip,
  timeout: 90_000,
}, async () => {
  const three = await makeCheckpoint('resnet18', { names: ['covid', 'pneumonia', 'normal'], positive: 0 });
  const srv3 = await buildServer(await loadServedModel(three), { host: '127.0.0.1', port: 0 });
  try {
    const url3 = await srv3.listen();
    const page = await ctx.newPage();
    await page.goto(`${url3}/`);
    await page.locator('#model-card dl').waitFor();
    const file = join(tmp, 'phantom3.png');
    writeFileSync(file, await phantomPng(512));
    await page.getByLabel('Choose a chest radiograph').setInputFiles(file);
    await page.locator('#result:not([hidden])').waitFor({ timeout: 30_000 });
    // The API's own answer for the same file, to read the page against.
    const res = await fetch(`${url3}/api/v1/screen`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: new Uint8Array(await phantomPng(512)),
    });
    const api = (await res.json()) as { probabilities: Record<string, number>; heatmapClass: string; label: string };
    assert.deepEqual(Object.keys(api.probabilities), ['covid', 'pneumonia', 'normal']);
    const shown = (await page.locator('#classes').textContent()) ?? '';
    const names = taskFor(['covid', 'pneumonia', 'normal'], 0).classNames;
    for (const [c, p] of Object.entries(api.probabilities))
      assert.ok(
        shown.toLowerCase().includes(`${names[c]!.toLowerCase()} ${(100 * p).toFixed(1)} %`),
        `${c} in "${shown}"`,
      );
    assert.ok(shown.toLowerCase().includes(`heatmap: ${names[api.heatmapClass]!.toLowerCase()}`), shown);
    assert.equal(await page.locator('#classes').isVisible(), true);
    await page.close();
  } finally {
    await srv3.close();
    rmSync(three, { recursive: true, force: true });
  }
});
