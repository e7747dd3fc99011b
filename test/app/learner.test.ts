// The Learner's verbs, as fastai's: fit trains and writes the run folder, save writes a
// checkpoint Learner.load reads back to the same weights, predict classifies one image as
// serve does (calibrated probabilities, the decision at the checkpoint's threshold).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writePhantoms } from '../../src/data/phantom.js';
import { readManifest, rowPath } from '../../src/data/manifest.js';
import { setThreads } from '../../src/engine/runtime.js';
import { softmax } from '../../src/engine/model.js';
import { openRunData } from '../../src/app/train/dataSource.js';
import { Learner } from '../../src/app/train/learner.js';
import { resolveTrainConfig, runDataOptionsOf, type TrainConfig } from '../../src/app/train/trainConfig.js';

const dir = mkdtempSync(join(tmpdir(), 'cxrtune-learner-'));
let manifest = '';
let cfg: TrainConfig;

before(async () => {
  setThreads(2);
  manifest = (await writePhantoms({ n: 16, size: 32, seed: 8, out: join(dir, 'data'), sheetSize: 0 })).manifestFile;
  cfg = resolveTrainConfig(
    {},
    {
      manifest,
      arch: 'resnet18',
      out: join(dir, 'run'),
      size: 32,
      batch: 8,
      epochs: 1,
      lrMin: 1e-4,
      lrMax: 1e-3,
      threads: 2,
    },
  );
});

test('fit, save, load and predict', async () => {
  const data = openRunData({ ...runDataOptionsOf(cfg), needValid: false });
  const learner = await Learner.forTraining(cfg, data);
  const s = await learner.fit(cfg);
  assert.equal(s.status, 'completed');
  assert.equal(s.epochsDone, 1);
  for (const f of ['summary.json', 'history.json', 'schedule_trace.csv']) assert.ok(existsSync(join(cfg.out, f)), f);
  assert.ok(existsSync(join(cfg.out, 'checkpoints', 'last', 'trainer.json')));

  const m = readManifest(manifest);
  const file = rowPath(m, m.rows[0]!);
  const p = await learner.predict(file);
  // The same pixels through the model by hand: softmax of its logits (no calibration yet).
  const gray = await learner.decode(file);
  const logits = (await learner.model.predict(learner.batchOf(gray.pixels))).logits;
  const byHand = [...softmax(logits, 2)];
  assert.deepEqual(p.probabilities, byHand);
  assert.ok(Math.abs(p.probabilities[0]! + p.probabilities[1]! - 1) < 1e-6);
  const pos = learner.meta.positiveClass;
  assert.equal(p.positive, p.probabilities[pos]! >= learner.meta.threshold);
  assert.equal(p.label, learner.meta.classes[p.positive ? pos : 1 - pos]);

  // save → load: the same weights; a threshold just above and at this image's probability flips the decision.
  const saved = await learner.save(join(dir, 'above'), { threshold: Math.min(1, p.probabilities[pos]! + 1e-6) });
  const at = await learner.save(join(dir, 'at'), { threshold: p.probabilities[pos]! });
  const above = await Learner.load(join(dir, 'above'), { threads: 2 });
  assert.equal(above.meta.weightsSha256, saved.weightsSha256);
  assert.equal(at.weightsSha256, saved.weightsSha256);
  assert.equal(JSON.parse(readFileSync(join(dir, 'above', 'model.json'), 'utf8')).arch, 'resnet18');
  const fromFile = await above.predict(file);
  assert.deepEqual(fromFile.probabilities, p.probabilities);
  assert.equal(fromFile.positive, false);
  assert.equal(fromFile.label, learner.meta.classes[1 - pos]);
  const atP = await (await Learner.load(join(dir, 'at'), { threads: 2 })).predict(gray);
  assert.equal(atP.positive, true);
  assert.equal(atP.label, learner.meta.classes[pos]);
});
