import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRng } from '../../src/util/rng.js';

test('seeded, in range, resumable', () => {
  const a = createRng(5);
  const b = createRng(5);
  const xs = Array.from({ length: 1000 }, () => a.next());
  assert.deepEqual(
    xs,
    Array.from({ length: 1000 }, () => b.next()),
  );
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.03);
  const st = a.state();
  const next = [a.next(), a.int(10)];
  const c = createRng(0);
  c.load(st);
  assert.deepEqual([c.next(), c.int(10)], next);
  assert.notEqual(createRng(1).next(), createRng(2).next());
  assert.throws(() => createRng(1.5), /seed must be an integer/);
  assert.throws(() => a.int(0), /positive integer/);
});
