#!/usr/bin/env node
// `npm run docs:screenshots -- --run RUN --image FILE [--lungs SEGMENTER] [--out docs]`: regenerates
// docs/report.png from RUN/report.html (`cxrtune report RUN` first) and docs/serve.png from
// `cxrtune serve --model RUN` screening FILE, in Debian's headless Chromium through playwright-core
// (no bundled browser). With --lungs the app draws the lung outline and the evidence-in-lungs line.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const root = new URL('..', import.meta.url).pathname;
const { values: o } = parseArgs({
  options: {
    run: { type: 'string' },
    image: { type: 'string' },
    lungs: { type: 'string' },
    out: { type: 'string', default: join(root, 'docs') },
    chromium: { type: 'string', default: process.env.CHROMIUM ?? '/usr/bin/chromium' },
  },
});
const fail = (m) => {
  console.error(`screenshots: ${m}`);
  process.exit(1);
};
if (!o.run || !o.image)
  fail('usage: npm run docs:screenshots -- --run RUN --image FILE [--lungs SEGMENTER] [--out DIR]');
const report = join(resolve(o.run), 'report.html');
if (!existsSync(report)) fail(`${report} not found: run \`cxrtune report ${o.run}\` first`);
if (!existsSync(o.chromium)) fail(`${o.chromium} not found (apt-get install chromium, or --chromium PATH)`);
if (!existsSync(join(root, 'dist/src/cli/main.js'))) fail('not built yet: npm run build');
mkdirSync(o.out, { recursive: true });

/** Starts `cxrtune serve` on a free loopback port; resolves with its URL and the child. */
function startServer(tmp) {
  const args = [join(root, 'bin/cxrtune.js'), 'serve', '--model', o.run, '--port', '0', '--quiet'];
  args.push('--db', join(tmp, 'audit.sqlite'));
  if (o.lungs) args.push('--lungs', o.lungs);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((res, rej) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      // The first line ends "on http://127.0.0.1:PORT".
      const m = / on (http:\/\/[^\s]+)/.exec(out);
      if (m) res({ url: m[1], child });
    });
    child.once('exit', (code) => rej(new Error(`cxrtune serve exited with ${code} before listening`)));
  });
}

const tmp = mkdtempSync(join(tmpdir(), 'cxrtune-shots-'));
const ctx = await chromium.launchPersistentContext(join(tmp, 'profile'), {
  executablePath: o.chromium,
  headless: true,
  // No sandbox (containers), no GPU, nothing that phones home.
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  viewport: { width: 1300, height: 900 },
});
let server;
try {
  const page = await ctx.newPage();
  await page.goto(pathToFileURL(report).href);
  await page.waitForLoadState('networkidle');
  // The head of the report: the summary and the shortcut audit (the whole page is megabytes).
  const audit = (await page.locator('#audit').boundingBox()) ?? (await page.locator('#summary').boundingBox());
  const height = Math.ceil(audit.y + audit.height + 16);
  await page.screenshot({ path: join(o.out, 'report.png'), fullPage: true, clip: { x: 0, y: 0, width: 1300, height } });
  console.log(`wrote ${join(o.out, 'report.png')}`);

  server = await startServer(tmp);
  await page.setViewportSize({ width: 1100, height: 900 });
  await page.goto(`${server.url}/`);
  await page.locator('#model-card dl').waitFor();
  await page.locator('#file').setInputFiles(resolve(o.image));
  await page.locator('#result:not([hidden])').waitFor({ timeout: 60_000 });
  await page.waitForFunction(() => document.getElementById('heatmap').naturalWidth > 0);
  if (o.lungs) await page.locator('#lungs-outline:not([hidden])').waitFor({ timeout: 30_000 });
  await page.evaluate(() => document.activeElement?.blur()); // no focus ring in the picture
  await page.screenshot({ path: join(o.out, 'serve.png'), fullPage: true });
  console.log(`wrote ${join(o.out, 'serve.png')}`);
} finally {
  await ctx.close();
  server?.child.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
}
