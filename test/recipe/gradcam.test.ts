import { test } from 'node:test';
import assert from 'node:assert/strict';
import { camHeatmap, overlay, massInside, pointingHit, turbo } from '../../src/recipe/gradcam.js';

test('camHeatmap: ReLU, bilinear upsampling like torch (align_corners=false), max = 1', () => {
  // 2x2 → 4x4; torch.nn.functional.interpolate([[1,2],[3,-4]] relu'd, size=4, bilinear) / max
  const h = camHeatmap(Float32Array.from([1, 2, 3, -4]), 2, 2, 4, 4);
  // torch 1.13: interpolate(relu(x)[None, None], size=(4, 4), mode='bilinear', align_corners=False)
  const torchRef = [1, 1.25, 1.75, 2, 1.5, 1.5, 1.5, 1.5, 2.5, 2, 1, 0.5, 3, 2.25, 0.75, 0].map((v) => v / 3);
  torchRef.forEach((v, i) => {
    assert.ok(Math.abs(h[i]! - v) < 1e-6, `${i}: ${h[i]} vs ${v}`);
  });
  assert.deepEqual([...camHeatmap(Float32Array.from([-1, -2, -3, -4]), 2, 2, 2, 2)], [0, 0, 0, 0]);
});

test('overlay: opacity 0 keeps the radiograph, a cold pixel stays gray at any opacity', () => {
  const gray = Uint8Array.from([10, 200]);
  const heat = Float32Array.from([0, 1]);
  assert.deepEqual([...overlay(gray, heat, 0)], [10, 10, 10, 200, 200, 200]);
  const o = overlay(gray, heat, 1);
  assert.deepEqual([...o.subarray(0, 3)], [10, 10, 10]);
  assert.deepEqual([...o.subarray(3)], turbo(1));
  assert.throws(() => overlay(gray, heat, 2), /opacity/);
});

test('massInside and pointingHit against a known mask', () => {
  const heat = Float32Array.from([0.1, 0.2, 0.3, 0.4]);
  const mask = Uint8Array.from([0, 0, 255, 255]);
  assert.ok(Math.abs(massInside(heat, mask) - 0.7) < 1e-6);
  assert.equal(pointingHit(heat, mask), true);
  assert.equal(pointingHit(heat, Uint8Array.from([255, 255, 255, 0])), false);
});
