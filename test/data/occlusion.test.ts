// The audit's image regions (frame only, lungs out) on hand-drawn masks, the planted-shortcut
// phantoms (the marker touches nothing but its corner, on covid phantoms only) and the
// provenance cues on a hand-made image.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyOcclusion,
  boundingBox,
  coverage,
  dilate,
  fixedBoxMask,
  fixedLungsMask,
  occlusionMask,
} from '../../src/data/occlusion.js';
import { generatePhantom, MARKER_BOX } from '../../src/data/phantom.js';
import sharp from 'sharp';
import { intensityCues, provenanceCues, cueVector, CUE_FEATURES } from '../../src/data/provenance.js';

const count = (m: Uint8Array) => m.reduce((a, b) => a + b, 0);
const at = (m: Uint8Array, S: number, x: number, y: number) => m[y * S + x];

test(
  'fixed box: pixel centres in x 12–88 %, y 10–85 % (S = 20: ' + 'centres 0.025 + 0.05·p → columns 2–17, rows 2–16)',
  () => {
    const m = fixedBoxMask(20);
    assert.equal(count(m), 16 * 15);
    assert.equal(at(m, 20, 2, 2), 1);
    assert.equal(at(m, 20, 1, 2), 0);
    assert.equal(at(m, 20, 2, 1), 0);
    assert.equal(at(m, 20, 17, 16), 1);
    assert.equal(at(m, 20, 18, 16), 0);
    assert.equal(at(m, 20, 17, 17), 0);
    // frame-only without a lung mask blanks exactly the box
    assert.deepEqual(occlusionMask('frame-only', 20, null), m);
  },
);

test('fixed lungs (no mask): two mirror-image lung shapes inside the box, the mediastinum kept', () => {
  const S = 40;
  const m = fixedLungsMask(S);
  const box = fixedBoxMask(S);
  for (let i = 0; i < S * S; i++) if (m[i]) assert.equal(box[i], 1, 'inside the box');
  for (let y = 0; y < S; y++)
    for (let x = 0; x < S; x++) assert.equal(at(m, S, x, y), at(m, S, S - 1 - x, y), `mirror at ${x},${y}`);
  // Left shape: x 0.12–0.45 (centre 0.285, half-width 0.165), y 0.1–0.85 (centre 0.475,
  // half-height 0.375). Pixel (11, 18) is at its centre: in. The corner pixel (5, 4) has
  // u = −0.894, v = −0.967: |u|³ + |v|³ = 1.62, out. Pixel (6, 8) has u = −0.742, v = −0.700:
  // an ellipse would leave it out (u² + v² = 1.04), the superellipse takes it (0.41 + 0.34 = 0.75).
  assert.equal(at(m, S, 11, 18), 1);
  assert.equal(at(m, S, 5, 4), 0);
  assert.equal(at(m, S, 6, 8), 1);
  for (let x = 18; x <= 21; x++) for (let y = 0; y < S; y++) assert.equal(at(m, S, x, y), 0, `mediastinum ${x},${y}`);
  assert.deepEqual(occlusionMask('lungs-out', S, null), m);
});

test('dilate and bounding box on hand cases', () => {
  const one = new Uint8Array(100);
  one[5 * 10 + 5] = 1;
  assert.equal(count(dilate(one, 10, 1)), 9);
  const corner = new Uint8Array(100);
  corner[0] = 1;
  assert.equal(count(dilate(corner, 10, 1)), 4);
  assert.equal(count(dilate(corner, 10, 0)), 1);
  assert.deepEqual(boundingBox(one, 10), [5, 5, 5, 5]);
  assert.equal(boundingBox(new Uint8Array(100), 10), null);
});

test('with a lung mask: frame only blanks the bounding box grown by 5 %, lungs out the mask grown by 2 %', () => {
  const S = 50;
  const lung = new Uint8Array(S * S);
  for (let y = 10; y <= 39; y++) for (let x = 15; x <= 34; x++) lung[y * S + x] = 1; // 20 × 30
  // frame only: margin round(2.5) = 3 → x 12–37, y 7–42 = 26 × 36
  const f = occlusionMask('frame-only', S, lung);
  assert.equal(count(f), 26 * 36);
  assert.equal(at(f, S, 12, 7), 1);
  assert.equal(at(f, S, 11, 7), 0);
  // lungs out: margin round(1) = 1 → 22 × 32
  const l = occlusionMask('lungs-out', S, lung);
  assert.equal(count(l), 22 * 32);
  assert.equal(coverage(l), (22 * 32) / (S * S));
  // A lung mask of two separate blobs: lungs out keeps the gap, frame only does not.
  const two = new Uint8Array(S * S);
  for (let y = 10; y <= 39; y++) for (const x0 of [10, 30]) for (let x = x0; x < x0 + 10; x++) two[y * S + x] = 1;
  assert.equal(at(occlusionMask('lungs-out', S, two), S, 25, 20), 0);
  assert.equal(at(occlusionMask('frame-only', S, two), S, 25, 20), 1);
});

test('applyOcclusion blanks only the masked pixels of the given image, every channel', () => {
  const S = 4;
  const px = new Uint8Array(2 * S * S * 3).fill(200);
  const m = new Uint8Array(S * S);
  m[5] = 1;
  applyOcclusion(px, 1, S, 3, m);
  const changed = [...px.keys()].filter((i) => px[i] !== 200);
  assert.deepEqual(changed, [S * S * 3 + 15, S * S * 3 + 16, S * S * 3 + 17]);
});

test('planted shortcut: the corner marker is drawn on covid phantoms only, outside the lungs and the fixed box', () => {
  const S = 64;
  const clean = generatePhantom(4, 1, { size: S, label: 'covid' });
  const marked = generatePhantom(4, 1, { size: S, label: 'covid', marker: true });
  const box = fixedBoxMask(S);
  let diff = 0;
  for (let i = 0; i < S * S; i++) {
    if (clean.pixels[i] === marked.pixels[i]) continue;
    diff++;
    const x = i % S;
    const y = (i - x) / S;
    assert.ok(
      x < (MARKER_BOX.x + MARKER_BOX.side) * S + 1 && y < (MARKER_BOX.y + MARKER_BOX.side) * S + 1,
      `change at ${x},${y} outside the marker`,
    );
    assert.equal(clean.lungMask[i], 0, 'marker inside the lungs');
    assert.equal(box[i], 0, 'marker inside the fixed box');
  }
  assert.ok(diff > 20, `marker pixels changed: ${diff}`);
  assert.deepEqual(
    new Set(Array.from({ length: 25 }, (_, k) => marked.pixels[(1 + Math.floor(k / 5)) * S + 1 + (k % 5)])),
    new Set([240, 40]),
  ); // S = 64: the 5 × 5 marker at (1, 1)
  const normal = generatePhantom(4, 2, { size: S, label: 'normal' });
  assert.deepEqual(generatePhantom(4, 2, { size: S, label: 'normal', marker: true }).pixels, normal.pixels);
});

test('provenance cues: intensity of the border band and of the outer 10 % frame (hand case)', () => {
  // S = 40: border band (3 px) = 1600 − 34² = 444 pixels, all white; the rest black. The frame
  // (pixel centres outside [0.1, 0.9)², i.e. outside columns/rows 4–35) = 1600 − 32² = 576
  // pixels = the 444 border pixels + 132 black ones.
  const S = 40;
  const px = new Uint8Array(S * S);
  for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) if (x < 3 || y < 3 || x >= 37 || y >= 37) px[y * S + x] = 255;
  const c = intensityCues(px, S);
  assert.equal(c.borderMean, 1);
  assert.equal(c.borderStd, 0);
  assert.ok(Math.abs(c.frameMean - 444 / 576) < 1e-12);
  assert.ok(Math.abs(c.frameWhite - 444 / 576) < 1e-12);
  assert.ok(Math.abs(c.frameBlack - 132 / 576) < 1e-12);
  const p = 444 / 576;
  assert.ok(Math.abs(c.frameStd - Math.sqrt(p * (1 - p))) < 1e-9);
});

test('provenance cues of a file: stored size, format, depth, channels, bytes per pixel', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cxrtune-cues-'));
  const f = join(dir, 'a.png');
  const png = await sharp(new Uint8Array(80 * 48).fill(100), { raw: { width: 80, height: 48, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
  writeFileSync(f, png);
  const c = await provenanceCues(f);
  assert.deepEqual([c.width, c.height, c.format, c.bitDepth, c.channels], [80, 48, 'png', 8, 1]);
  assert.equal(c.bytesPerPixel, png.length / (80 * 48));
  assert.ok(Math.abs(c.frameMean - 100 / 255) < 1e-9);
  const v = cueVector(c);
  assert.equal(v.length, CUE_FEATURES.length);
  assert.equal(v[CUE_FEATURES.indexOf('format png')], 1);
  writeFileSync(join(dir, 'bad.png'), 'not an image');
  await assert.rejects(provenanceCues(join(dir, 'bad.png')), /bad\.png: corrupt or unsupported image/);
});
