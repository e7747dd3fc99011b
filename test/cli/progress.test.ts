// The commands' one-line counter: redrawn in place, its line ended when the count completes, and
// nothing off a terminal when asked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countProgress } from '../../src/cli/progress.js';

function captured(fn: () => void): string {
  const write = process.stderr.write;
  let out = '';
  process.stderr.write = ((s: string | Uint8Array) => {
    out += String(s);
    return true;
  }) as typeof process.stderr.write;
  try {
    fn();
  } finally {
    process.stderr.write = write;
  }
  return out;
}

test('countProgress: "what done/total" redrawn in place, a newline after the last', () => {
  const p = countProgress('audit')!;
  assert.equal(
    captured(() => {
      p(1, 3);
      p(3, 3);
    }),
    '\r\x1b[Kaudit 1/3\r\x1b[Kaudit 3/3\n',
  );
});

test('countProgress: ttyOnly gives no counter off a terminal', () => {
  const isTTY = process.stderr.isTTY;
  Object.defineProperty(process.stderr, 'isTTY', { value: false, configurable: true });
  try {
    assert.equal(countProgress('evaluate', true), undefined);
  } finally {
    Object.defineProperty(process.stderr, 'isTTY', { value: isTTY, configurable: true });
  }
});
