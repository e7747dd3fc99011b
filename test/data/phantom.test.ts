import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { generatePhantom, generatePhantoms, writePhantoms } from '../../src/data/phantom.js';
import { readManifest, rowPath } from '../../src/data/manifest.js';
import { findPatientLeaks } from '../../src/data/split.js';

test('deterministic by seed; different seeds differ', () => {
  const a = generatePhantom(5, 3, { size: 96 });
  const b = generatePhantom(5, 3, { size: 96 });
  assert.deepEqual(a.pixels, b.pixels);
  assert.deepEqual(a.lesionMask, b.lesionMask);
  assert.notDeepEqual(generatePhantom(6, 3, { size: 96 }).pixels, a.pixels);
});

test('classes balanced; covid lesions lie inside their masks, masks inside the lung field', () => {
  const ps = generatePhantoms({ n: 40, size: 128, seed: 11 });
  assert.equal(ps.filter((p) => p.label === 'covid').length, 20);
  assert.equal(ps.filter((p) => p.label === 'normal').length, 20);
  for (const p of ps) {
    const n = p.size * p.size;
    const lung = p.lungMask.reduce((a, b) => a + b, 0);
    assert.ok(lung > 0.12 * n && lung < 0.45 * n, `lung fraction ${lung / n}`);
    if (p.label === 'normal') {
      assert.equal(p.lesions.length, 0);
      assert.equal(
        p.lesionMask.reduce((a, b) => a + b, 0),
        0,
      );
      continue;
    }
    assert.ok(p.lesions.length >= 1 && p.lesions.length <= 3);
    let total = 0;
    let inside = 0;
    for (let i = 0; i < n; i++) {
      if (p.lesionMask[i]) assert.equal(p.lungMask[i], 1, 'lesion mask outside the lung field');
      total += p.lesionMap[i];
      if (p.lesionMask[i]) inside += p.lesionMap[i];
      if (p.lesionMap[i] > 0) assert.equal(p.lungMask[i], 1, 'opacity outside the lung field');
    }
    assert.ok(inside / total > 0.85, `only ${(inside / total).toFixed(2)} of the lesion opacity is inside its mask`);
    for (const l of p.lesions) {
      const c = Math.round(l.y) * p.size + Math.round(l.x);
      assert.equal(p.lesionMask[c], 1, 'lesion centre inside its mask');
      // Zones: patient's right = image left.
      assert.equal(l.x < p.size / 2, l.zone.startsWith('right'), `${l.zone} at x=${l.x}`);
    }
  }
});

test('lesions make the lung field brighter than in normals (hand check on the same anatomy)', () => {
  const covid = generatePhantom(3, 1, { size: 128, label: 'covid' });
  const normal = generatePhantom(3, 1, { size: 128, label: 'normal' });
  let dIn = 0;
  let nIn = 0;
  for (let i = 0; i < covid.pixels.length; i++)
    if (covid.lesionMask[i]) {
      dIn += covid.pixels[i] - normal.pixels[i];
      nIn++;
    }
  assert.ok(nIn > 0 && dIn / nIn > 15, `mean brightening inside mask ${dIn / nIn}`);
});

test('writePhantoms: images, masks, manifest with patient ids and splits, contact sheet', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cxr-ph-'));
  const r = await writePhantoms({ n: 20, size: 64, seed: 1, out: dir, sheetSize: 8 });
  assert.deepEqual(r.labels, { normal: 10, covid: 10 });
  const m = readManifest(r.manifestFile);
  assert.equal(m.rows.length, 20);
  assert.deepEqual(findPatientLeaks(m.rows), []);
  assert.equal(m.rows.filter((x) => x.split === 'train').length, 14);
  const covid = m.rows.find((x) => x.label === 'covid')!;
  assert.ok(Number(covid.extra.lesions) >= 1 && covid.extra.zones.length > 0);
  const mask = await sharp(rowPath(m, { path: covid.extra.mask }))
    .extractChannel(0)
    .raw()
    .toBuffer();
  assert.equal(mask.filter((v) => v === 255).length, Number(covid.extra.lesion_pixels));
  assert.ok(existsSync(rowPath(m, { path: covid.extra.lung_mask })));
  const meta = await sharp(r.sheet!).metadata();
  assert.equal(meta.width, 8 * 128 + 9 * 2);
});

test('lesionIntensity scales the opacity, not the geometry; out-of-range values are refused', () => {
  const normal = generatePhantom(3, 1, { size: 128, label: 'normal' });
  const bright = (gain: number) => {
    const p = generatePhantom(3, 1, { size: 128, label: 'covid', lesionIntensity: gain });
    let d = 0;
    let n = 0;
    for (let i = 0; i < p.pixels.length; i++)
      if (p.lesionMask[i]) {
        d += p.pixels[i] - normal.pixels[i];
        n++;
      }
    return { p, d: d / n };
  };
  const a = bright(0.5);
  const b = bright(1);
  assert.deepEqual(a.p.lesionMask, b.p.lesionMask);
  assert.ok(b.d > 1.6 * a.d, `brightening ${a.d} at 0.5 vs ${b.d} at 1`);
  assert.throws(() => generatePhantom(3, 1, { lesionIntensity: -1 }), /lesion intensity/);
});
