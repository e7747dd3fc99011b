// The real-data demo's recipe path, on phantoms (they carry lung masks like a manifest after
// `cxrtune lungs predict`): the recommended recipe's lung crop, robust-free online augmentation
// and Youden threshold reach the trained model's record; the lung segmenter the demo trains is
// cached and reused, never retrained.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writePhantoms } from '../../src/data/phantom.js';
import { runDemo } from '../../src/app/demo/demo.js';
import { RECOMMENDED, recipeNamed } from '../../src/app/demo/realDataRecipe.js';
import { DEMO_SEGMENTER, demoSegmenter, demoSegmenterDir } from '../../src/app/demo/demoSegmenter.js';

const dir = mkdtempSync(join(tmpdir(), 'cxrtune-demorecipe-'));

test('recipes are named, and an unknown one is refused', () => {
  assert.equal(recipeNamed('recommended'), RECOMMENDED);
  assert.equal(recipeNamed('paper').data, 'paper-da');
  assert.equal(recipeNamed('paper').splitBy, 'patient');
  assert.equal(RECOMMENDED.splitBy, 'location');
  assert.throws(() => recipeNamed('best'), /unknown recipe 'best' \(recommended, paper\)/);
});

test('the tb task: Shenzhen by patient, the WHO sensitivity threshold; training as the recipe; covid unchanged', () => {
  assert.equal(recipeNamed('recommended', 'covid'), RECOMMENDED);
  const tb = recipeNamed('recommended', 'tb');
  assert.deepEqual(
    { task: tb.task, data: tb.data, splitBy: tb.splitBy, threshold: tb.threshold },
    { task: 'tb', data: 'tb-shenzhen', splitBy: 'patient', threshold: 'sensitivity:0.9' },
  );
  // Everything that trains is the recommended recipe's.
  const { task, data, splitBy, threshold, summary, ...training } = tb;
  const { task: t0, data: d0, splitBy: s0, threshold: th0, summary: su0, ...training0 } = RECOMMENDED;
  assert.deepEqual(training, training0);
  assert.equal(recipeNamed('paper', 'tb').threshold, 0.5); // the paper's protocol keeps its own
  assert.equal(recipeNamed('paper', 'tb').data, 'tb-shenzhen');
  assert.throws(() => recipeNamed('recommended', 'flu' as never), /unknown task 'flu' \(covid, tb\)/);
});

test('the demo on a manifest runs the recommended recipe: lung crop, augmentation and threshold rule in model.json', {
  timeout: 10 * 60_000,
}, async () => {
  const ph = await writePhantoms({ n: 24, size: 64, seed: 5, out: join(dir, 'ph'), split: '0.7,0.3' });
  const lines: string[] = [];
  const r = await runDemo({
    out: join(dir, 'demo'),
    manifest: ph.manifestFile,
    pretrained: 'none',
    arch: 'resnet18',
    size: 64,
    epochs: 1,
    batch: 8,
    precision: 'fp32',
    log: (l) => lines.push(l),
  });
  assert.equal(r.recipe?.name, 'recommended');
  assert.deepEqual(
    r.steps.map((s) => s.name),
    ['data', 'lungs', 'lr-find', 'train', 'evaluate', 'explain', 'audit', 'report'],
  );
  const meta = JSON.parse(readFileSync(join(r.out, 'run', 'checkpoints', 'last', 'model.json'), 'utf8'));
  assert.equal(meta.preprocessing.crop, 'lungs');
  assert.equal(meta.preprocessing.cropMargin, 0.1);
  assert.equal(meta.training.config.data.aug, RECOMMENDED.aug);
  assert.equal(meta.thresholdChoice.rule, 'youden');
  assert.equal(meta.thresholdChoice.chosenBy, 'train');
  assert.equal(meta.threshold, meta.thresholdChoice.value);
  // The recipe's range is the one trained with (chosen on source-held-out validation), not the finder's.
  assert.equal(r.lr.lrMax, (RECOMMENDED.schedule as { oneCycle: { lrMax: number } }).oneCycle.lrMax);
  assert.ok(
    lines.some((l) => /\[1\/8\] data/.test(l)) && lines.some((l) => /\[8\/8\] report/.test(l)),
    'eight numbered steps',
  );
});

test('the demo segmenter is trained once, cached under $CXRTUNE_CACHE, then reused', {
  timeout: 10 * 60_000,
}, async () => {
  const ph = await writePhantoms({ n: 12, size: 128, seed: 9, out: join(dir, 'lungdata'), split: '0.7,0.3' });
  const prev = process.env.CXRTUNE_CACHE;
  process.env.CXRTUNE_CACHE = join(dir, 'cache');
  try {
    const first = await demoSegmenter({
      lungData: ph.manifestFile,
      precision: 'fp32',
      threads: 2,
      log: () => undefined,
    });
    assert.equal(first.from, 'trained');
    assert.equal(first.dir, demoSegmenterDir(ph.manifestFile, undefined, 'fp32'));
    assert.ok(first.dir.startsWith(join(dir, 'cache', 'segmenters')));
    const meta = JSON.parse(readFileSync(join(first.dir, 'model.json'), 'utf8'));
    assert.equal(meta.task, 'segmentation');
    assert.equal(meta.inputSize ?? meta.preprocessing.size, DEMO_SEGMENTER.size);
    assert.ok(Array.isArray(meta.metrics?.heldOut), 'the held-out Dice is recorded beside the weights');
    const again = await demoSegmenter({
      lungData: ph.manifestFile,
      precision: 'fp32',
      threads: 2,
      log: () => undefined,
    });
    assert.deepEqual({ from: again.from, dir: again.dir }, { from: 'cache', dir: first.dir });
    await assert.rejects(
      demoSegmenter({
        given: join(dir, 'nowhere'),
        lungData: ph.manifestFile,
        precision: 'fp32',
        threads: 2,
        log: () => undefined,
      }),
      /lung segmenter not found/,
    );
    assert.ok(!existsSync(`${first.dir}.tmp-${process.pid}`), 'no temporary folder left');
  } finally {
    if (prev === undefined) delete process.env.CXRTUNE_CACHE;
    else process.env.CXRTUNE_CACHE = prev;
  }
});
