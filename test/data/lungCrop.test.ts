// The lung crop box on masks small enough to check by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lungCropBox } from '../../src/data/lungCrop.js';

test('lung crop: a 4×2 mask at (3,4) in 20×10 grows by 25 % → 1 px sideways, 1 px (0.5 rounded) up/down', () => {
  const m = new Uint8Array(20 * 10);
  for (let y = 4; y <= 5; y++) for (let x = 3; x <= 6; x++) m[y * 20 + x] = 1;
  assert.deepEqual(lungCropBox(m, 20, 10, 0), { left: 3, top: 4, width: 4, height: 2 });
  assert.deepEqual(lungCropBox(m, 20, 10, 0.25), { left: 2, top: 3, width: 6, height: 4 });
});

test('lung crop: clamped to the image; an empty mask keeps the whole image; bad sizes are refused', () => {
  const m = new Uint8Array(10 * 10);
  m[0] = 1;
  m[99] = 1;
  assert.deepEqual(lungCropBox(m, 10, 10, 0.5), { left: 0, top: 0, width: 10, height: 10 });
  assert.deepEqual(lungCropBox(new Uint8Array(12), 4, 3), { left: 0, top: 0, width: 4, height: 3 });
  assert.throws(() => lungCropBox(new Uint8Array(5), 4, 3), /holds 5 pixels/);
});
