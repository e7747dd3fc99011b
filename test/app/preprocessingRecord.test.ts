// The preprocessing record (engine/preprocessing.ts): one file becomes the same pixels in
// training, evaluation, explanation and serving, because they all read model.json's record —
// shown with settings that differ from the defaults (a centre crop and CLAHE on a non-square
// image), so a consumer that ignored the record would give different pixels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { Model } from '../../src/engine/model.js';
import { readCheckpointMeta, saveCheckpoint } from '../../src/engine/checkpoint.js';
import { readPreprocessing } from '../../src/engine/preprocessing.js';
import { decodeImage } from '../../src/data/image.js';
import { readManifest } from '../../src/data/manifest.js';
import { openRunData } from '../../src/app/train/dataSource.js';
import { Learner } from '../../src/app/train/learner.js';
import { loaderFor } from '../../src/app/train/predictSet.js';
import { prepareStudy, preprocessOf } from '../../src/app/serve/screen.js';

const dir = mkdtempSync(join(tmpdir(), 'cxrtune-prep-'));
const S = 48;
const record = {
  size: S,
  fit: 'crop' as const,
  equalize: 'clahe' as const,
  crop: 'none' as const,
  cropMargin: 0.1,
  standardize: 'none' as const,
  channels: 1 as const,
};

async function nonSquarePng(file: string, w: number, h: number, seed: number): Promise<void> {
  const px = Buffer.alloc(w * h);
  let x = seed;
  for (let i = 0; i < px.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    px[i] = ((i % w) * 2 + (x >>> 28)) & 0xff; // a ramp with noise: CLAHE and the crop both change it
  }
  writeFileSync(
    file,
    await sharp(px, { raw: { width: w, height: h, channels: 1 } })
      .png()
      .toBuffer(),
  );
}

test('train, evaluate, explain and serve turn the same file into the same pixels', async () => {
  await nonSquarePng(join(dir, 'a.png'), 120, 80, 1);
  await nonSquarePng(join(dir, 'b.png'), 90, 140, 2);
  writeFileSync(
    join(dir, 'manifest.csv'),
    'path,label,patient_id,split\na.png,normal,p1,train\nb.png,covid,p2,train\na.png,normal,p1,valid\n' +
      'b.png,covid,p2,valid\n',
  );
  const manifest = join(dir, 'manifest.csv');

  // Training's validation loader (no augmentation), configured as `train --fit crop --equalize clahe`.
  const data = openRunData({ manifest, size: S, fit: record.fit, equalize: record.equalize, batch: 2, seed: 0 });
  let trainPixels: Uint8Array | null = null;
  for await (const b of data.valid!.epoch(0)) trainPixels = b.pixels;

  // The checkpoint training writes, read back as every consumer reads it.
  const ck = join(dir, 'ck');
  const model = await Model.create({ arch: 'resnet18', numClasses: 2 });
  await saveCheckpoint(ck, model, {
    classes: ['normal', 'covid'],
    positiveClass: 1,
    preprocessing: record,
    threshold: 0.5,
  });
  const meta = await readCheckpointMeta(ck);
  assert.deepEqual({ ...meta.preprocessing, normalisation: undefined }, { ...record, normalisation: undefined });
  assert.deepEqual(meta.preprocessing.normalisation, model.spec.normalisation);

  // Evaluate: predictSet's loader.
  let evalPixels: Uint8Array | null = null;
  for await (const b of loaderFor(readManifest(manifest), meta, 'valid', 2).epoch(0)) evalPixels = b.pixels;
  assert.ok(trainPixels && evalPixels);
  assert.deepEqual(evalPixels, trainPixels);

  // Explain (--images) and serve, one file each.
  const learner = await Learner.loadCheckpointDir(ck, { threads: 1 });
  for (const [k, f] of (['a.png', 'b.png'] as const).entries()) {
    const expected = trainPixels!.subarray(k * S * S, (k + 1) * S * S);
    assert.deepEqual((await learner.decode(join(dir, f))).pixels, expected, `explain ${f}`);
    const served = await prepareStudy(readFileSync(join(dir, f)), preprocessOf(meta));
    assert.deepEqual(served.input.pixels, expected, `serve ${f}`);
  }

  // The default preprocessing gives other pixels: the record is what made them agree.
  const plain = await decodeImage(join(dir, 'a.png'), { size: S });
  assert.notDeepEqual(plain.pixels, trainPixels!.subarray(0, S * S));
});

test('model.json written before the record reads as letterbox without equalisation', async () => {
  const p = readPreprocessing('old/model.json', {
    inputSize: 224,
    channels: 3,
    normalisation: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
  });
  assert.deepEqual(p, {
    size: 224,
    fit: 'letterbox',
    equalize: 'none',
    crop: 'none',
    cropMargin: 0.1,
    standardize: 'none',
    channels: 3,
    normalisation: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
  });
});

test('a damaged record is refused with the field named', () => {
  const ok = {
    size: 64,
    fit: 'letterbox',
    equalize: 'none',
    channels: 1,
    normalisation: { mean: [0, 0, 0], std: [1, 1, 1] },
  };
  assert.throws(
    () => readPreprocessing('m.json', { preprocessing: { ...ok, fit: 'zoom' } }),
    /m\.json: preprocessing fit 'zoom' is not one of letterbox, crop, stretch/,
  );
  assert.throws(
    () => readPreprocessing('m.json', { preprocessing: { ...ok, crop: 'heart' } }),
    /preprocessing crop 'heart' is not one of none, lungs/,
  );
  assert.throws(
    () => readPreprocessing('m.json', { preprocessing: { ...ok, cropMargin: -0.1 } }),
    /cropMargin -0.1 is not a number in \[0, 1\]/,
  );
  assert.throws(
    () => readPreprocessing('m.json', { preprocessing: { ...ok, standardize: 'site' } }),
    /standardize 'site' is not one of none, image/,
  );
  assert.throws(
    () => readPreprocessing('m.json', { preprocessing: { ...ok, size: 3 } }),
    /preprocessing size 3 is not an integer/,
  );
  assert.throws(
    () => readPreprocessing('m.json', { preprocessing: { ...ok, channels: 2 } }),
    /channels 2 is not 1 or 3/,
  );
  assert.throws(
    () => readPreprocessing('m.json', { preprocessing: { ...ok, normalisation: { mean: [0, 0], std: [1, 1, 1] } } }),
    /mean and std of three numbers/,
  );
  assert.throws(
    () => readPreprocessing('m.json', { preprocessing: { ...ok, normalisation: { mean: [0, 0, 0], std: [1, 0, 1] } } }),
    /std must be positive/,
  );
});
