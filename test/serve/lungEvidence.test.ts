// The screening app's lung field (serve --lungs): the evidence share against hand-computed
// values, the outline, the warnings, and the API carrying them (a segmenter checkpoint loaded
// beside the classifier; its weights are untrained here, so only the plumbing is checked on the
// route, and the figures against the mask it returns).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { lungEvidence, outlineRgba } from '../../src/app/lungs/lungEvidence.js';
import { loadServedModel, type ServedModel } from '../../src/app/serve/servedModel.js';
import { buildServer, type Server } from '../../src/app/serve/server.js';
import { Model } from '../../src/engine/model.js';
import { saveSegmenter } from '../../src/engine/segmentation/segmenterCheckpoint.js';
import { makeCheckpoint, phantomPng } from './fixture.js';
import { decodeImageBuffer } from '../../src/data/image.js';
import { lungRegionOf } from '../../src/data/lungCrop.js';
import { imageOptions } from '../../src/engine/preprocessing.js';
import { prepareStudy, preprocessOf } from '../../src/app/serve/screen.js';

test('evidence share: Σ heat·mask / Σ heat, lung area, and the warnings', () => {
  const heat = Float32Array.from([1, 0.5, 0, 0.5]);
  const inside = lungEvidence(heat, Uint8Array.from([1, 1, 0, 0]));
  assert.deepEqual(inside, { insideShare: 0.75, lungArea: 0.5, warning: null });
  const outside = lungEvidence(heat, Uint8Array.from([0, 0, 1, 1]));
  assert.equal(outside.insideShare, 0.25);
  assert.match(outside.warning!, /Most of the evidence \(75 %\) lies outside the lungs/);
  const none = lungEvidence(new Float32Array(100).fill(1), new Uint8Array(100).fill(0).fill(1, 0, 4));
  assert.equal(none.insideShare, null);
  assert.equal(none.lungArea, 0.04);
  assert.match(none.warning!, /No lung field was found/);
  assert.throws(() => lungEvidence(heat, new Uint8Array(3)), /differ in size/);
});

test('outline: lung pixels with a background neighbour, nothing inside or outside', () => {
  const W = 5;
  const mask = new Uint8Array(25);
  for (let y = 1; y <= 3; y++) for (let x = 1; x <= 3; x++) mask[y * W + x] = 1;
  const rgba = outlineRgba(mask, W, W);
  const drawn = Array.from({ length: 25 }, (_, i) => (rgba[i * 4 + 3] === 255 ? 1 : 0));
  // The 3×3 block's eight border pixels; its centre (2,2) and the background stay clear.
  assert.deepEqual(drawn, [0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
});

let ckpt: string;
let seg: string;
let served: ServedModel;
let srv: Server;
before(async () => {
  ckpt = await makeCheckpoint();
  seg = mkdtempSync(join(tmpdir(), 'cxrtune-seg-'));
  const model = await Model.create({ task: 'segment', arch: 'unet_mobilenet_v2', decoderChannels: [32, 16, 8, 8, 4] });
  await saveSegmenter(seg, model, {
    classes: ['lung'],
    preprocessing: { size: 64, fit: 'stretch', equalize: 'none', channels: 1 },
    threshold: 0.5,
  });
  served = await loadServedModel(ckpt, { lungs: seg });
  srv = await buildServer(served, { db: ':memory:', port: 0 });
});
after(async () => {
  await srv?.close();
  rmSync(ckpt, { recursive: true, force: true });
  rmSync(seg, { recursive: true, force: true });
});

test('serve --lungs: the result carries the outline, the lung area and the evidence share of that mask', async () => {
  const res = await srv.app.inject({
    method: 'POST',
    url: '/api/v1/screen',
    payload: await phantomPng(256),
    headers: { 'content-type': 'application/octet-stream' },
  });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json() as {
    lungs: { evidenceInside: number | null; lungArea: number; warning: string | null; outline: string };
  };
  assert.ok(body.lungs, 'lungs field present');
  const png = Buffer.from(body.lungs.outline.replace(/^data:image\/png;base64,/, ''), 'base64');
  const meta = await sharp(png).metadata();
  assert.deepEqual([meta.width, meta.height, meta.channels], [224, 224, 4], 'outline at the model input size, RGBA');
  assert.ok(body.lungs.lungArea >= 0 && body.lungs.lungArea <= 1);
  if (body.lungs.lungArea < 0.05) assert.equal(body.lungs.evidenceInside, null);
  else assert.ok(body.lungs.evidenceInside! >= 0 && body.lungs.evidenceInside! <= 1);
  // Without --lungs the field is null (the page hides the outline).
  const plain = await buildServer(await loadServedModel(ckpt), { db: ':memory:', port: 0 });
  const r2 = await plain.app.inject({
    method: 'POST',
    url: '/api/v1/screen',
    payload: await phantomPng(256),
    headers: { 'content-type': 'application/octet-stream' },
  });
  assert.equal((r2.json() as { lungs: unknown }).lungs, null);
  await plain.close();
});

const BOX_TEST =
  "a lung-cropping model gets each study's box from the segmenter: the box of its mask of the whole image";
test(BOX_TEST, async () => {
  const png = await phantomPng(200, 4);
  const S = served.lungs!.meta.preprocessing.size;
  const whole = await decodeImageBuffer(png, 'phantom', { size: S, fit: 'stretch' });
  const [mask] = await served.lungs!.masks([whole]);
  const expected = lungRegionOf(mask!, S, S, 0.1);
  assert.deepEqual(await served.lungs!.regionOf(png, 0.1), expected);
  // The classifier's input is that box of the image, as any consumer cuts it.
  const meta = {
    ...served.meta,
    preprocessing: { ...served.meta.preprocessing, crop: 'lungs' as const, cropMargin: 0.1 },
  };
  const study = await prepareStudy(png, preprocessOf(meta, undefined, undefined, served.lungs));
  const direct = await decodeImageBuffer(png, 'phantom', { ...imageOptions(meta.preprocessing), region: expected });
  assert.deepEqual(study.input.pixels, direct.pixels);
  assert.throws(() => preprocessOf(meta), /crops every image to its lung field.*--lungs DIR/);
});
