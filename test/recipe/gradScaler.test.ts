import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GradScaler } from '../../src/recipe/gradScaler.js';

test('starts at 2^16, halves on overflow (step skipped), doubles after 2000 clean steps', () => {
  const g = new GradScaler();
  assert.equal(g.scale, 65536);
  assert.deepEqual(g.update(true), { skip: true, scale: 32768 });
  assert.deepEqual(g.update(true), { skip: true, scale: 16384 });
  assert.equal(g.state().consecutiveOverflows, 2);
  for (let i = 0; i < 1999; i++) assert.deepEqual(g.update(false), { skip: false, scale: 16384 });
  assert.deepEqual(g.update(false), { skip: false, scale: 32768 }); // the 2000th clean step
  assert.equal(g.state().cleanSteps, 0);
  // an overflow resets the clean-step count
  for (let i = 0; i < 1500; i++) g.update(false);
  g.update(true);
  for (let i = 0; i < 1999; i++) g.update(false);
  assert.equal(g.scale, 16384);
  g.update(false);
  assert.equal(g.scale, 32768);
});

test('state()/load() resumes the exact sequence', () => {
  const seq = Array.from({ length: 5000 }, (_, i) => i % 1700 === 0 || i === 4321);
  const a = new GradScaler();
  const scalesA = seq.map((o) => a.update(o).scale);
  const b = new GradScaler();
  const scalesB = seq.slice(0, 2500).map((o) => b.update(o).scale);
  const saved = JSON.parse(JSON.stringify(b.state()));
  const c = new GradScaler();
  c.load(saved);
  scalesB.push(...seq.slice(2500).map((o) => c.update(o).scale));
  assert.deepEqual(scalesB, scalesA);
  assert.throws(
    () => c.load({ scale: 0, cleanSteps: 0, consecutiveOverflows: 0, enabled: true }),
    /scale must be a finite number > 0/,
  );
});

test('skipNonFinite: false applies an overflowing step (the scale still backs off); true is the default', () => {
  assert.equal(new GradScaler().skipNonFinite, true);
  const g = new GradScaler({ skipNonFinite: false });
  assert.equal(g.skipNonFinite, false);
  assert.deepEqual(g.update(true), { skip: false, scale: 32768 });
  assert.equal(g.state().consecutiveOverflows, 1);
  assert.deepEqual(g.update(false), { skip: false, scale: 32768 });
  assert.deepEqual(new GradScaler({ enabled: false, skipNonFinite: false }).update(true), { skip: false, scale: 1 });
});

test('disabled (fp32/bf16): scale 1, overflows still mean skip', () => {
  const g = new GradScaler({ enabled: false });
  assert.equal(g.scale, 1);
  assert.deepEqual(g.update(true), { skip: true, scale: 1 });
  for (let i = 0; i < 3000; i++) g.update(false);
  assert.equal(g.scale, 1);
  assert.throws(() => new GradScaler({ growthInterval: 0 }), /growthInterval must be a positive integer/);
});
