// The lung segmenter end to end on phantoms (exact lung masks): a short training run
// beats the trivial all-lung answer by a wide margin, predicted masks land in the cache
// at the image's own size and fill the manifest's lung_mask column, and the CLI refuses
// bad input in one line.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { Command } from 'commander';
import { registerLungsCommand } from '../../src/cli/lungsCommand.js';
import { writePhantoms } from '../../src/data/phantom.js';
import { readLungs, readMaskManifest } from '../../src/data/sources/lungs.js';
import { readManifest, rowPath } from '../../src/data/manifest.js';
import { decodeImage } from '../../src/data/image.js';
import { loadSamples } from '../../src/app/lungs/lungData.js';
import { trainSegmenter } from '../../src/app/lungs/trainSegmenter.js';
import { evaluateSegmenter } from '../../src/app/lungs/evaluateSegmenter.js';
import { fillManifestMasks } from '../../src/app/lungs/predictMasks.js';
import { manifestSplitBy } from '../../src/app/evaluate/protocol.js';
import { loadSegmenter } from '../../src/engine/segmentation/segmenterCheckpoint.js';
import { dice } from '../../src/recipe/segmentationMetrics.js';
import { loadNative, projectRoot } from '../../src/engine/native.js';

const ENTRY = join(dirname(fileURLToPath(import.meta.url)), 'lungsEntry.ts');
const PRETRAINED = join(projectRoot(), '..', 'shared', 'pretrained', 'mobilenet_v2-imagenet-ptq.safetensors');
const dir = mkdtempSync(join(tmpdir(), 'cxrtune-lungs-'));
const S = 64;
const LUNGS = join(projectRoot(), '..', 'shared', 'data', 'lungs');
let manifestFile = '';

before(async () => {
  loadNative().setThreads(2);
  manifestFile = (await writePhantoms({ n: 30, size: S, seed: 5, out: join(dir, 'phantoms'), sheetSize: 0 }))
    .manifestFile;
});

test('30 phantoms, 64 px, 8 epochs (20 from scratch): held-out Dice > 0.85, far above all-lung', async () => {
  const t0 = performance.now();
  const pairs = readMaskManifest(manifestFile, { testFraction: 0.2, seed: 1 });
  const train = pairs.filter((p) => p.split === 'train'),
    held = pairs.filter((p) => p.split === 'test');
  assert.ok(held.length >= 4 && train.length >= 20, `${train.length} train / ${held.length} held out`);
  assert.ok(
    held.every((h) => !train.some((t) => t.patientId === h.patientId)),
    'a patient on both sides',
  );
  const samples = await loadSamples(train, S);
  const r = await trainSegmenter({
    samples,
    size: S,
    out: join(dir, 'seg'),
    // A random encoder needs longer to find the lungs than the ImageNet one.
    epochs: existsSync(PRETRAINED) ? 8 : 20,
    batchSize: 8,
    lr: 3e-3,
    log: () => undefined,
    ...(existsSync(PRETRAINED) ? { pretrained: PRETRAINED } : {}),
  });
  assert.ok(r.epochs[r.epochs.length - 1]!.loss < r.epochs[0]!.loss, `loss ${r.epochs.map((e) => e.loss.toFixed(3))}`);
  const ev = await evaluateSegmenter(r.model, r.meta, held);
  const allLung = held.map(() => 0);
  for (const [i, h] of held.entries()) {
    const m = (await decodeImage(h.mask)).pixels.map((v) => (v >= 128 ? 1 : 0));
    allLung[i] = dice(new Uint8Array(m.length).fill(1), m);
  }
  const chance = allLung.reduce((a, b) => a + b, 0) / allLung.length;
  const d = ev.sources[0]!.dice.mean;
  console.log(
    `phantom held-out Dice ${d.toFixed(3)}, all-lung ${chance.toFixed(3)}, ${(performance.now() - t0) | 0} ms`,
  );
  assert.ok(d > 0.85 && d > chance + 0.3, `held-out Dice ${d.toFixed(3)} vs all-lung ${chance.toFixed(3)}`);
  const meta = JSON.parse(readFileSync(join(dir, 'seg', 'model.json'), 'utf8'));
  assert.equal(meta.task, 'segmentation');
  assert.deepEqual({ size: meta.preprocessing.size, fit: meta.preprocessing.fit }, { size: S, fit: 'stretch' });
  assert.deepEqual(meta.classes, ['lung']);
});

test('predict fills lung_mask with PNGs at the image size, from the cache the second time', async () => {
  const { model, meta } = await loadSegmenter(join(dir, 'seg'));
  const cacheDir = join(dir, 'cache');
  const out = join(dir, 'with-masks.csv');
  // Overwrite: the phantoms' own lung_mask values are replaced by predictions.
  const r1 = await fillManifestMasks(model, meta, manifestFile, out, { overwrite: true, cacheDir });
  const m = readManifest(out);
  assert.equal(r1.filled, m.rows.length);
  assert.equal(r1.cached, 0);
  const first = m.rows[0]!;
  const mask = await decodeImage(rowPath(m, { path: first.extra.lung_mask! }));
  const img = await decodeImage(rowPath(m, first));
  assert.deepEqual([mask.width, mask.height], [img.width, img.height]);
  assert.ok(mask.pixels.every((v) => v === 0 || v === 255));
  const r2 = await fillManifestMasks(model, meta, manifestFile, join(dir, 'again.csv'), { overwrite: true, cacheDir });
  assert.equal(r2.cached, m.rows.length);
  // Rows that have a mask keep it without --overwrite.
  const r3 = await fillManifestMasks(model, meta, manifestFile, join(dir, 'kept.csv'), { cacheDir });
  assert.equal(r3.kept, m.rows.length);
});

test('a manifest split by location stays source-held-out once its masks are filled into another folder', async () => {
  const { model, meta } = await loadSegmenter(join(dir, 'seg'));
  // As `data build --split-by location` leaves it: the build's summary beside the manifest.
  const summary = join(dirname(manifestFile), 'summary.json');
  const before = existsSync(summary) ? readFileSync(summary, 'utf8') : null;
  writeFileSync(summary, JSON.stringify({ ...(before ? JSON.parse(before) : {}), splitBy: 'location' }));
  const out = join(dir, 'elsewhere', 'manifest.csv');
  try {
    await fillManifestMasks(model, meta, manifestFile, out, { cacheDir: join(dir, 'cache') });
  } finally {
    if (before === null) rmSync(summary);
    else writeFileSync(summary, before);
  }
  assert.equal(manifestSplitBy(out), 'location');
});

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', ENTRY, ...args], {
    encoding: 'utf8',
    env: { ...process.env, CXRTUNE_THREADS: '1' },
  });
}

test('lungs CLI: a missing model is one line and exit 1; missing data and no input are named', async () => {
  const a = cli('lungs', 'evaluate', '--model', join(dir, 'nope'));
  assert.equal(a.status, 1);
  assert.match(a.stderr.trim(), /^error: segmenter not found: .*nope/);
  assert.equal(a.stderr.trim().split('\n').length, 1);
  // In process (no subprocess start-up): the same commands, each error one line on stderr and exit code 1.
  const capture = async (...args: string[]): Promise<string> => {
    const p = new Command('cxrtune').exitOverride();
    registerLungsCommand(p);
    const write = process.stderr.write;
    let err = '';
    process.stderr.write = ((s: string | Uint8Array) => {
      err += String(s);
      return true;
    }) as typeof process.stderr.write;
    try {
      await p.parseAsync(['node', 'cxrtune', ...args]);
    } finally {
      process.stderr.write = write;
    }
    assert.equal(process.exitCode, 1, err);
    process.exitCode = undefined;
    return err;
  };
  const run = async (...args: string[]): Promise<string> => {
    const err = await capture(...args);
    assert.equal(err.split('\n').length, 2, err); // one line
    return err;
  };
  assert.match(
    await run('lungs', 'train', '--data', join(dir, 'missing'), '--out', join(dir, 'x')),
    /^error: lung data not found/,
  );
  assert.match(await run('lungs', 'predict', '--model', join(dir, 'seg')), /^error: give image files or --manifest/);
  assert.match(
    await run('lungs', 'evaluate', '--model', join(dir, 'seg'), '--data', manifestFile, '--sources', 'nih'),
    /unknown source 'nih'/,
  );
  assert.match(
    await run('lungs', 'train', '--arch', 'unet_vgg', '--data', manifestFile, '--out', join(dir, 'x')),
    /^error: unknown segmenter architecture 'unet_vgg'/,
  );
  // --resume reaches the trainer's resume: the finished run in seg/ was trained with other settings.
  // (Its progress lines come first; the error is the last line.)
  const resumed = await capture('lungs', 'train', '--resume', '--data', manifestFile, '--out', join(dir, 'seg'));
  assert.match(
    resumed.trim().split('\n').at(-1)!,
    /^error: .*seg was trained with other settings \(.*epochs.*\); resume with the same ones$/,
  );
});

test('the shared lung set: 138 + 566 + 417 pairs, every source split by patient, about a fifth held out', (t) => {
  if (!existsSync(LUNGS)) return t.skip('../shared/data/lungs is missing');
  const pairs = readLungs(LUNGS, { seed: 0 });
  const count = (s: string, split?: string) =>
    pairs.filter((p) => p.source === s && (!split || p.split === split)).length;
  assert.deepEqual([count('montgomery'), count('shenzhen'), count('v7-covid')], [138, 566, 417]);
  for (const s of ['montgomery', 'shenzhen', 'v7-covid']) {
    const f = count(s, 'test') / count(s);
    assert.ok(f > 0.15 && f < 0.25, `${s}: ${f} held out`);
    const trainIds = new Set(pairs.filter((p) => p.source === s && p.split === 'train').map((p) => p.patientId));
    assert.ok(
      pairs.filter((p) => p.source === s && p.split === 'test').every((p) => !trainIds.has(p.patientId)),
      `${s}: a patient on both sides`,
    );
  }
  // V7 images come from covid-chestxray's patients: several images of one patient stay together.
  assert.ok(new Set(pairs.filter((p) => p.source === 'v7-covid').map((p) => p.patientId)).size < 417);
});
