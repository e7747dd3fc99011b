import assert from 'node:assert/strict';

/** Assert |a − b| <= tol (absolute). */
export function close(actual: number, expected: number, tol = 1e-12, msg = ''): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${msg} expected ${expected} ± ${tol}, got ${actual}`);
}

/** Assert relative closeness. */
export function rclose(actual: number, expected: number, rtol = 1e-12, msg = ''): void {
  assert.ok(
    Math.abs(actual - expected) <= rtol * Math.abs(expected),
    `${msg} expected ${expected} (rtol ${rtol}), got ${actual}`,
  );
}
