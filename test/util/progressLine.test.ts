import { test } from 'node:test';
import assert from 'node:assert/strict';
import { barGlyphs, formatDuration, overwrite } from '../../src/util/progressLine.js';

test('progress line: bar glyphs, redraw in place, durations', () => {
  assert.equal(barGlyphs(0.5, 8), '████░░░░');
  assert.equal(barGlyphs(1 / 3, 6), '██░░░░');
  assert.equal(barGlyphs(0), '░'.repeat(24));
  assert.equal(barGlyphs(1.7, 4), '████');
  assert.equal(overwrite('epoch 1/2'), '\r\x1b[Kepoch 1/2');
  assert.deepEqual([42, 125, 3780, -1, NaN].map(formatDuration), ['42s', '2m05s', '1h03m', '--', '--']);
});
