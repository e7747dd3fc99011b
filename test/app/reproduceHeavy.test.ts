// reproduce on real radiographs (minutes): run only with CXRTUNE_HEAVY=1 node scripts/test.mjs reproduceHeavy.
// The TB task at a small budget: Shenzhen's validation is INTERNAL, Montgomery County EXTERNAL, every
// arm's runs completed with the same seeds, and Table 3's claim read on each set with its protocol.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runReproduce } from '../../src/app/reproduce/reproduce.js';
import { autoPretrained } from '../../src/app/demo/demoContext.js';

const data = join(import.meta.dirname, '..', '..', '..', 'shared', 'data');
const skip =
  process.env.CXRTUNE_HEAVY !== '1'
    ? 'set CXRTUNE_HEAVY=1'
    : !existsSync(join(data, 'lungs', 'shenzhen'))
      ? 'no ../shared/data/lungs/shenzhen'
      : !autoPretrained()
        ? 'ImageNet weights not found (../shared/pretrained or $CXRTUNE_PRETRAINED)'
        : false;

test('reproduce, TB at 2 seeds × 1 epoch: INTERNAL and EXTERNAL rows, paired claims', {
  skip,
  timeout: 20 * 60_000,
}, async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'cxrtune-reproduce-')), 'r');
  const r = await runReproduce({
    data,
    out,
    tasks: ['tb'],
    arms: ['paper', 'traditional'],
    seeds: 2,
    epochs: 1,
    size: 96,
    precisionCheck: false,
  });
  const t = r.tasks[0]!;
  assert.equal(t.runs.length, 4);
  assert.ok(t.runs.every((x) => x.status === 'completed'));
  for (const arm of ['paper', 'traditional'])
    assert.deepEqual(
      t.runs
        .filter((x) => x.arm === arm)
        .map((x) => x.seed)
        .sort(),
      [1, 2],
    );
  for (const x of t.runs) {
    assert.equal(x.valid.protocol, 'internal');
    assert.equal(x.external?.protocol, 'external');
    assert.ok(x.external!.n === 138, `Montgomery County has 138 images (${x.external!.n})`);
    assert.ok(x.external!.auc.value > 0 && x.external!.auc.value < 1);
  }
  assert.deepEqual(t.table.claim.map((c) => c.protocol).sort(), ['external', 'internal']);
  for (const c of t.table.claim) assert.equal(c.difference.n, 2);
  const md = readFileSync(join(out, 'reproduce.md'), 'utf8');
  assert.match(md, /EXTERNAL Montgomery County/);
  assert.match(md, /The paper's claim on EXTERNAL: (holds|not shown|reversed)/);
});
