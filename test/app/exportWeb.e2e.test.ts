// `cxrtune export RUN --format web`: the exported folder, served by a tiny static server on localhost
// and opened in Debian's Chromium, screens real radiographs as the engine does: the same input pixels
// (PNG, JPEG, DICOM), the probability within 1e-4, a CAM that correlates ≥ 0.99 with the engine's
// Grad-CAM, the same lung field and verdict, a blank image refused with no score, and no request to
// anything but its own files. The page's per-image latency is measured on the way (t.diagnostic).
//
// The model: MobileNetV2 at 224 px (the ImageNet backbone where the shared weights are, its head
// untrained), carrying a seeded lung segmenter, with an ood.json whose feature limit sits between the
// radiographs and a blank image. CXRTUNE_SCREENSHOT=1 writes docs/web-page.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import sharp from 'sharp';
import { decodeImageBuffer } from '../../src/data/image.js';
import { Model } from '../../src/engine/model.js';
import { saveCheckpoint, readCheckpointMeta } from '../../src/engine/checkpoint.js';
import { loadPretrained } from '../../src/engine/pretrained.js';
import { manualSeed, setThreads } from '../../src/engine/runtime.js';
import { projectRoot } from '../../src/engine/native.js';
import { saveSegmenter } from '../../src/engine/segmentation/segmenterCheckpoint.js';
import { copySegmenter } from '../../src/app/lungs/carriedSegmenter.js';
import { writeOodRecord } from '../../src/app/ood/oodFile.js';
import { OOD_FORMAT, LUNG_FIELD_LIMITS, type OodRecord } from '../../src/recipe/frontalCheck.js';
import { loadServedModel, type ServedModel } from '../../src/app/serve/servedModel.js';
import { inferStudies, prepareStudy, preprocessOf } from '../../src/app/serve/screen.js';
import { studyVerdict } from '../../src/app/serve/frontalRefusal.js';
import { exportWeb } from '../../src/app/export/exportWeb.js';
import { encodeDicom } from '../../src/bench/dicomWriter.js';
import { CHROMIUM } from './helpers/browser.js';

const ROOT = projectRoot();
const NIH = join(ROOT, '..', 'shared', 'data', 'nih', 'No_findings');
const PRETRAINED = join(ROOT, '..', 'shared', 'pretrained', 'mobilenet_v2-imagenet-ptq.safetensors');
const dir = mkdtempSync(join(tmpdir(), 'cxrtune-web-'));
const ckpt = join(dir, 'model');
const site = join(dir, 'site');
const skip = !existsSync(CHROMIUM) ? `${CHROMIUM} is absent` : !existsSync(NIH) ? '../shared/data/nih is absent' : '';
let served: ServedModel;
let server: Server;
let origin = '';
let nih: string[] = [];

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
};

/** Pearson correlation. */
function corr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

async function engine(buf: Uint8Array) {
  const study = await prepareStudy(buf, preprocessOf(served.meta, undefined, undefined, served.lungs ?? undefined));
  const [inf] = await inferStudies(served.model, served.meta, [study]);
  return { study, inf: inf!, verdict: studyVerdict(served.ood, study, inf) };
}

before(async () => {
  if (skip) return;
  setThreads(2);
  manualSeed(0);
  const model = await Model.create({
    arch: 'mobilenet_v2',
    numClasses: 2,
    normalisation: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
  });
  if (existsSync(PRETRAINED)) await loadPretrained(model, PRETRAINED, () => undefined);
  // A seeded, untrained segmenter: arbitrary but fixed masks are all the comparison needs.
  const seg = await Model.create({ task: 'segment', arch: 'unet_mobilenet_v2', decoderChannels: [16, 8, 8, 8, 8] });
  await saveSegmenter(join(dir, 'seg'), seg, {
    classes: ['lung'],
    preprocessing: { size: 64, fit: 'stretch', equalize: 'none', channels: 1 },
    threshold: 0.5,
  });
  const pin = await copySegmenter(join(dir, 'seg'), join(ckpt, 'segmenter'));
  await saveCheckpoint(ckpt, model, {
    classes: ['normal', 'covid'],
    positiveClass: 1,
    preprocessing: { size: 224, fit: 'letterbox', equalize: 'hist', channels: 1 },
    threshold: 0.5,
    metrics: { n: 120, accuracy: 0.9, sensitivity: { value: 0.92, lo: 0.81, hi: 0.97 }, specificity: 0.88, auc: 0.95 },
    segmenter: pin,
    extra: { data: 'test fixture: untrained head' },
  });
  nih = readdirSync(NIH)
    .filter((f) => f.endsWith('.jpg'))
    .slice(0, 10)
    .map((f) => join(NIH, f));
  // ood.json: the lung-field limits open (the segmenter is untrained), the feature limit set between
  // the radiographs (distance to their mean) and a blank image.
  const probe = await loadServedModel(ckpt, { threads: 2 });
  const feats: Float32Array[] = [];
  for (const f of nih.slice(0, 4))
    feats.push(
      (
        await inferStudies(probe.model, probe.meta, [
          await prepareStudy(
            await readFile(f),
            preprocessOf(probe.meta, undefined, undefined, probe.lungs ?? undefined),
          ),
        ])
      )[0]!.features,
    );
  const D = feats[0]!.length;
  const mean = Array.from({ length: D }, (_, j) => feats.reduce((s, f) => s + f[j]!, 0) / feats.length);
  const dist = (f: Float32Array) => Math.sqrt(f.reduce((s, v, j) => s + (v - mean[j]!) ** 2, 0));
  const limit = 1.5 * Math.max(...feats.map(dist));
  const meta = await readCheckpointMeta(ckpt);
  const record: OodRecord = {
    format: OOD_FORMAT,
    created: new Date(0).toISOString(),
    weightsSha256: meta.weightsSha256!,
    arch: meta.arch,
    lungFields: {
      ...LUNG_FIELD_LIMITS,
      minArea: 0,
      maxArea: 1,
      minBalance: 0,
      minGap: 0,
      maxOffset: 1,
      minContrast: -1,
    },
    features: {
      layer: probe.model.camLayer,
      dim: D,
      n: feats.length,
      mean,
      shrinkage: 1,
      components: [],
      variances: [],
      residualVariance: 1,
      limit,
      alpha: 0.005,
      fittedOn: { manifest: 'test', sha256: null, splits: ['train'], images: feats.length },
      limitSetOn: {
        method: 'cross-fitted',
        folds: 1,
        images: feats.length,
        rank: 1,
        guaranteed: false,
        median: limit,
        max: limit,
      },
    },
  };
  await writeOodRecord(ckpt, record);
  served = await loadServedModel(ckpt, { threads: 2 });
  await exportWeb({ model: ckpt, out: site });
  server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(
      /^(\.\.[/\\])+/,
      '',
    );
    const file = join(site, path === '/' ? 'index.html' : path);
    if (!file.startsWith(site) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    // CXRTUNE_WEB_ISOLATED=1: the headers of a cross-origin isolated host, under which the page
    // runs the model on several threads (docs/web.md).
    const isolated = process.env.CXRTUNE_WEB_ISOLATED
      ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' }
      : {};
    res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream', ...isolated });
    res.end(await readFile(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  origin = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
});

after(() => {
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the exported folder holds the page, the runtime, the model, its segmenter, ood.json and the card', (t) => {
  if (skip) return t.skip(skip);
  const files = new Set(readdirSync(site));
  for (const f of ['index.html', 'page.js', 'page.css', 'model-card.json', 'model.onnx', 'segmenter.onnx', 'ood.json'])
    assert.ok(files.has(f), f);
  assert.deepEqual(readdirSync(join(site, 'ort')).sort(), [
    'ort-wasm-simd-threaded.mjs',
    'ort-wasm-simd-threaded.wasm',
    'ort.wasm.min.mjs',
  ]);
  const html = readFileSync(join(site, 'index.html'), 'utf8');
  assert.match(html, /Content-Security-Policy/);
  assert.doesNotMatch(html, /<script>(?!<\/script>)/, 'no inline script');
  assert.match(html, /Decision support, not a diagnosis/);
  const card = JSON.parse(readFileSync(join(site, 'model-card.json'), 'utf8'));
  assert.equal(card.cam.weight.length, 2 * card.cam.channels);
  assert.equal(card.files.segmenter, 'segmenter.onnx');
});

test('in Chromium the page screens as the engine does, refuses a blank image and stays on its origin', async (t) => {
  if (skip) return t.skip(skip);
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
    viewport: { width: 1100, height: 1000 },
  });
  const requests: string[] = [];
  const errors: string[] = [];
  try {
    const page = await ctx.newPage();
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${origin}/`, { waitUntil: 'load' });
    await page.waitForFunction(() => window.cxrtune?.ready || window.cxrtune?.error, null, { timeout: 120_000 });
    assert.equal(await page.evaluate(() => window.cxrtune?.error ?? null), null);
    const drop = async (name: string, bytes: Buffer, mimeType: string) => {
      await page.evaluate(() => {
        window.cxrtune!.last = null;
        window.cxrtune!.error = null;
      });
      await page.setInputFiles('#file', { name, mimeType, buffer: bytes });
      await page.waitForFunction(() => window.cxrtune?.last || window.cxrtune?.error, null, { timeout: 60_000 });
      const e = await page.evaluate(() => window.cxrtune!.error);
      assert.equal(e, null, `${name}: ${e}`);
      return (await page.evaluate(() => window.cxrtune!.last))!;
    };
    const jpeg = readFileSync(nih[0]!);
    const png = await sharp(readFileSync(nih[1]!)).png().toBuffer();
    const raw = await sharp(readFileSync(nih[2]!)).greyscale().raw().toBuffer({ resolveWithObject: true });
    const dcm = encodeDicom({
      rows: raw.info.height,
      columns: raw.info.width,
      bitsAllocated: 16,
      bitsStored: 12,
      values: Uint16Array.from(raw.data, (v) => (255 - v) * 16 + 3), // MONOCHROME1: low values are bright
      photometric: 'MONOCHROME1',
    });
    const rows: string[] = [];
    const shapes: number[] = [];
    for (const [name, bytes, type] of [
      ['a.jpg', jpeg, 'image/jpeg'],
      ['b.png', png, 'image/png'],
      ['c.dcm', dcm, 'application/dicom'],
    ] as const) {
      const o = await drop(name, bytes, type);
      const e = await engine(bytes);
      let diff = 0;
      let maxDiff = 0;
      for (let i = 0; i < o.input.length; i++) {
        const d = Math.abs(o.input[i]! - e.study.input.pixels[i]!);
        if (d) diff++;
        maxDiff = Math.max(maxDiff, d);
      }
      assert.ok(o.verdict.frontal && e.verdict.frontal, `${name}: both accept it`);
      const dp = Math.abs(o.probability! - e.inf.probability);
      const r = corr(o.heat!, e.inf.heat);
      rows.push(
        `${name}: ${diff} input pixels differ (max ${maxDiff}), |Δp| ${dp.toExponential(2)}, CAM r ${r.toFixed(6)}`,
      );
      assert.equal(maxDiff, 0, `${name}: the page's input is the engine's`);
      assert.ok(dp <= 1e-4, `${name}: probability ${o.probability} vs ${e.inf.probability}`);
      assert.ok(r >= 0.99, `${name}: CAM correlation ${r}`);
      assert.equal(o.label, served.meta.classes[e.inf.probability >= served.meta.threshold ? 1 : 0]);
      // The segmenter's input (the whole image stretched to 64 px): from a 512-px JPEG, sharp decodes at
      // 1/4 scale in libjpeg's DCT (shrink-on-load), which a browser's decoder cannot; elsewhere exact.
      const segIn = await decodeImageBuffer(bytes, name, { size: 64, fit: 'stretch' });
      let segMax = 0;
      for (let i = 0; i < segIn.pixels.length; i++)
        segMax = Math.max(segMax, Math.abs(o.segmenterInput![i]! - segIn.pixels[i]!));
      rows.push(`${name}: segmenter input max |Δ| ${segMax} grey levels`);
      if (type !== 'image/jpeg') {
        assert.equal(segMax, 0, `${name}: segmenter input`);
        for (const k of ['area', 'balance', 'gap', 'offset', 'contrast'] as const)
          assert.ok(Math.abs(o.lungShape![k] - e.study.lungShape![k]) < 1e-9, `${name}: lung ${k}`);
      }
      shapes.push(Math.abs(o.lungShape!.area - e.study.lungShape!.area));
      assert.equal(await page.isVisible('#score'), true);
      assert.equal(await page.isVisible('#refusal'), false);
    }
    for (const r of rows) t.diagnostic(r);
    t.diagnostic(`lung area |Δ| (share of the image): ${shapes.map((x) => x.toFixed(4)).join(', ')}`);
    // A blank image: refused by the feature distance, with its reason and no score, as the engine refuses it.
    const blank = await sharp(new Uint8Array(512 * 512).fill(128), { raw: { width: 512, height: 512, channels: 1 } })
      .png()
      .toBuffer();
    const ob = await drop('blank.png', blank, 'image/png');
    const eb = await engine(blank);
    assert.equal(eb.verdict.frontal, false);
    assert.equal(ob.verdict.frontal, false);
    assert.equal(ob.verdict.reason, eb.verdict.reason);
    assert.equal(ob.probability, null);
    assert.equal(await page.isVisible('#refusal'), true);
    assert.equal(await page.isVisible('#score'), false);
    assert.match(
      (await page.textContent('#refusal-text')) ?? '',
      /^Not a frontal chest radiograph: .*feature-distance/,
    );
    assert.doesNotMatch((await page.textContent('#result')) ?? '', /\d+\.\d %/, 'no score on the page');
    // Latency: ten radiographs, one after the other (the model's run and the whole path in the page).
    const infer: number[] = [];
    const total: number[] = [];
    for (const f of nih) {
      const o = await drop('x.jpg', readFileSync(f), 'image/jpeg');
      infer.push(o.inferMs);
      total.push(o.totalMs);
    }
    const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
    const threads = await page.evaluate(() => window.cxrtune!.threads);
    const line =
      `browser latency (Chromium, ORT-web WASM, ${threads} thread${threads > 1 ? 's' : ''}, mobilenet_v2 224 px, ` +
      `n = ${nih.length}): model median ${med(infer).toFixed(1)} ms (range ${Math.min(...infer).toFixed(1)}–` +
      `${Math.max(...infer).toFixed(1)}), whole page path median ${med(total).toFixed(1)} ms`;
    t.diagnostic(line);
    if (process.env.CXRTUNE_WEB_BENCH) console.log(line);
    if (process.env.CXRTUNE_SCREENSHOT) {
      await drop('a.jpg', jpeg, 'image/jpeg');
      await page.screenshot({ path: join(ROOT, 'docs', 'web-page.png'), fullPage: true });
    }
    assert.deepEqual(errors, []);
    const foreign = requests.filter((u) => !u.startsWith(`${origin}/`));
    assert.deepEqual(foreign, [], "every request goes to the page's own origin");
    assert.ok(requests.some((u) => u.endsWith('/ort/ort-wasm-simd-threaded.wasm')));
  } finally {
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
