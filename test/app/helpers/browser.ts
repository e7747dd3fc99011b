// Opens an HTML file in Debian's headless Chromium (playwright-core, no bundled browser)
// and collects console errors, page errors and failed requests; optionally a screenshot.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

interface PageCheck {
  errors: string[];
  title: string;
  sections: string[];
  svgs: number;
  images: number;
}

export async function openInChromium(file: string, screenshot?: string): Promise<PageCheck> {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'cxr-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
    viewport: { width: 1300, height: 900 },
    offline: true,
  });
  const errors: string[] = [];
  try {
    const page = await ctx.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url().slice(0, 120)}`));
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    const title = await page.title();
    const sections = await page.$$eval('section', (els) => els.map((e) => e.id));
    const svgs = await page.$$eval('svg', (els) => els.length);
    const images = await page.$$eval(
      'img',
      (els) => els.filter((e) => (e as HTMLImageElement).naturalWidth > 0).length,
    );
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: false });
    return { errors, title, sections, svgs, images };
  } finally {
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
  }
}
