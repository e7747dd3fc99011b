// `--crop lungs` and `--standardize image` (engine/preprocessing.ts): each image is cut to its
// lung mask's box before resizing, and standardised after; training, evaluation, explanation
// and serving give the same pixels, and the values are the hand-known ones of a drawn image.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { Model } from '../../src/engine/model.js';
import { readCheckpointMeta, saveCheckpoint } from '../../src/engine/checkpoint.js';
import { decodeImage, standardizeImage } from '../../src/data/image.js';
import { boxToRegion, regionPixels } from '../../src/data/lungCrop.js';
import { lungRegion } from '../../src/data/inputImage.js';
import { readManifest } from '../../src/data/manifest.js';
import { BatchLoader } from '../../src/data/batchLoader.js';
import { openRunData } from '../../src/app/train/dataSource.js';
import { Learner } from '../../src/app/train/learner.js';
import { loaderFor } from '../../src/app/train/predictSet.js';
import { prepareStudy, preprocessOf } from '../../src/app/serve/screen.js';

const dir = mkdtempSync(join(tmpdir(), 'cxrtune-lungcrop-'));
const S = 32;

/** W×H image: 40 outside, inside the box a left half of 120 and a right half of 220. */
async function drawn(
  file: string,
  W: number,
  H: number,
  box: { left: number; top: number; width: number; height: number },
): Promise<void> {
  const px = Buffer.alloc(W * H, 40);
  for (let y = box.top; y < box.top + box.height; y++)
    for (let x = box.left; x < box.left + box.width; x++) px[y * W + x] = x < box.left + box.width / 2 ? 120 : 220;
  writeFileSync(
    file,
    await sharp(px, { raw: { width: W, height: H, channels: 1 } })
      .png()
      .toBuffer(),
  );
}

/** A lung mask at another size than its image (half), white inside the box. */
async function mask(
  file: string,
  W: number,
  H: number,
  box: { left: number; top: number; width: number; height: number },
): Promise<void> {
  const px = Buffer.alloc(W * H, 0);
  for (let y = box.top; y < box.top + box.height; y++)
    for (let x = box.left; x < box.left + box.width; x++) px[y * W + x] = 255;
  writeFileSync(
    file,
    await sharp(px, { raw: { width: W, height: H, channels: 1 } })
      .png()
      .toBuffer(),
  );
}

test('a region is fractions of the image and maps back to the same pixels', () => {
  const r = boxToRegion({ left: 20, top: 10, width: 60, height: 40 }, 200, 100);
  assert.deepEqual(r, { left: 0.1, top: 0.1, width: 0.3, height: 0.4 });
  assert.deepEqual(regionPixels(r, 200, 100), { left: 20, top: 10, width: 60, height: 40 });
  // On a raster twice the size the box doubles; rounding goes outwards and stays inside.
  assert.deepEqual(regionPixels(r, 400, 200), { left: 40, top: 20, width: 120, height: 80 });
  assert.deepEqual(regionPixels({ left: 0.95, top: 0.95, width: 0.2, height: 0.2 }, 10, 10), {
    left: 9,
    top: 9,
    width: 1,
    height: 1,
  });
});

test('per-image standardisation gives mean 128 and std 48', () => {
  const px = Uint8Array.from({ length: 1000 }, (_, i) => 60 + (i % 40)); // mean 79.5, std 11.54
  standardizeImage(px);
  const mean = px.reduce((a, b) => a + b, 0) / px.length;
  const std = Math.sqrt(px.reduce((a, b) => a + (b - mean) ** 2, 0) / px.length);
  assert.ok(Math.abs(mean - 128) < 0.6, `mean ${mean}`);
  assert.ok(Math.abs(std - 48) < 0.6, `std ${std}`);
  assert.deepEqual([...standardizeImage(new Uint8Array(5).fill(77))], [128, 128, 128, 128, 128]);
});

test('--crop lungs: train, evaluate, explain and serve cut the same lung box', async () => {
  // Image 160×120 with the "lungs" at (40, 30) 80×60; the mask is stored at half size.
  const box = { left: 40, top: 30, width: 80, height: 60 };
  await drawn(join(dir, 'a.png'), 160, 120, box);
  await mask(join(dir, 'a_lung.png'), 80, 60, { left: 20, top: 15, width: 40, height: 30 });
  writeFileSync(
    join(dir, 'manifest.csv'),
    'path,label,patient_id,split,lung_mask\na.png,normal,p1,train,a_lung.png\n' +
      'a.png,covid,p2,train,a_lung.png\na.png,normal,p1,valid,a_lung.png\na.png,covid,p2,valid,a_lung.png\n',
  );
  const manifest = join(dir, 'manifest.csv');

  // The lung box with no margin is exactly the drawn box: left half 120, right half 220, no 40.
  const region = await lungRegion(join(dir, 'a_lung.png'), 0);
  const cut = await decodeImage(join(dir, 'a.png'), { size: S, fit: 'stretch', region });
  // (Columns next to the 120|220 step may ring under the resampling kernel; the outer quarters don't.)
  const left = cut.pixels.filter((_, i) => i % S < S / 4),
    right = cut.pixels.filter((_, i) => i % S >= (3 * S) / 4);
  assert.deepEqual([...new Set(left)], [120], 'left quarter');
  assert.deepEqual([...new Set(right)], [220], 'right quarter');
  assert.ok(
    cut.pixels.every((v) => v > 60),
    'nothing of the 40 surround is left',
  );

  const rec = { crop: 'lungs' as const, cropMargin: 0, standardize: 'image' as const };
  const data = openRunData({ manifest, size: S, fit: 'stretch', ...rec, batch: 2, seed: 0 });
  let trainPixels: Uint8Array | null = null;
  for await (const b of data.valid!.epoch(0)) trainPixels = b.pixels;
  const expected = standardizeImage(cut.pixels.slice());
  assert.deepEqual(trainPixels!.subarray(0, S * S), expected);

  const ck = join(dir, 'ck');
  await saveCheckpoint(ck, await Model.create({ arch: 'resnet18', numClasses: 2 }), {
    classes: ['normal', 'covid'],
    positiveClass: 1,
    preprocessing: { size: S, fit: 'stretch', equalize: 'none', channels: 1, ...rec },
    threshold: 0.5,
  });
  const meta = await readCheckpointMeta(ck);
  assert.equal(meta.preprocessing.crop, 'lungs');
  assert.equal(meta.preprocessing.standardize, 'image');

  let evalPixels: Uint8Array | null = null;
  for await (const b of loaderFor(readManifest(manifest), meta, 'valid', 2).epoch(0)) evalPixels = b.pixels;
  assert.deepEqual(evalPixels, trainPixels);

  const learner = await Learner.loadCheckpointDir(ck, { threads: 1 });
  await assert.rejects(learner.decode(join(dir, 'a.png')), /crops every image to its lung field/);
  assert.deepEqual((await learner.decode(join(dir, 'a.png'), region)).pixels, expected);

  assert.throws(() => preprocessOf(meta), /--lungs DIR/);
  // Stands in for the segmenter: the box, and two level fields side by side.
  const shape = { area: 0.3, fields: 2, balance: 0.45, gap: 0.4, offset: 0, contrast: 0.1 };
  const finder = { fieldOf: async () => ({ region, shape }) };
  const served = await prepareStudy(readFileSync(join(dir, 'a.png')), preprocessOf(meta, undefined, undefined, finder));
  assert.deepEqual(served.input.pixels, expected);
});

test('--crop lungs without a lung mask names the command that makes one', async () => {
  writeFileSync(join(dir, 'nomask.csv'), 'path,label,patient_id,split\na.png,normal,p1,valid\n');
  const loader = new BatchLoader(join(dir, 'nomask.csv'), 'valid', { size: S, batch: 1, lungCrop: { margin: 0.1 } });
  await assert.rejects(async () => {
    for await (const _ of loader.epoch(0)) void _;
  }, /a\.png has no lung mask .*cxrtune lungs predict/);
});
