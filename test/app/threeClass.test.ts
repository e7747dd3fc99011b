// Three classes end to end on phantoms: a 3-class checkpoint (its head biased so every image is
// called the third class) through evaluate (per-class figures against predictions.csv),
// temperature calibration, and the screening path, whose heatmap explains the class called.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writePhantoms } from '../../src/data/phantom.js';
import { readManifest, writeManifest } from '../../src/data/manifest.js';
import { setThreads } from '../../src/engine/runtime.js';
import { Model } from '../../src/engine/model.js';
import { imagesBatch } from '../../src/engine/preprocessing.js';
import { saveCheckpoint, readCheckpointMeta } from '../../src/engine/checkpoint.js';
import { calibrate } from '../../src/app/evaluate/calibrate.js';
import { evaluate } from '../../src/app/evaluate/evaluate.js';
import { parseCsv } from '../../src/data/csv.js';
import { camHeatmap } from '../../src/recipe/gradcam.js';
import { argMax } from '../../src/recipe/multiClass.js';
import { Learner } from '../../src/app/train/learner.js';
import { prepareStudy, preprocessOf, screenStudy } from '../../src/app/serve/screen.js';

const dir = mkdtempSync(join(tmpdir(), 'cxrtune-three-'));
const ck = join(dir, 'ck');
const CLASSES = ['covid', 'pneumonia', 'normal'];
let manifest = '';

before(async () => {
  setThreads(2);
  const p = await writePhantoms({ n: 48, size: 48, seed: 5, out: join(dir, 'data'), sheetSize: 0 });
  // Every other normal phantom becomes "pneumonia": three labels in the manifest.
  const m = readManifest(p.manifestFile);
  let k = 0;
  const rows = m.rows.map((r) => (r.label === 'normal' && k++ % 2 ? { ...r, label: 'pneumonia' } : r));
  manifest = join(dir, 'data', 'manifest3.csv');
  await writeManifest(manifest, rows);
  const model = await Model.create({ arch: 'resnet18', numClasses: 3 });
  // fc.bias = (0, 0, 8): the untrained network calls every image "normal", never the positive class.
  const state = await model.state();
  const bias = new Float32Array([0, 0, 8]);
  state.set('fc.bias', { dtype: 'F32', shape: [3], data: new Uint8Array(bias.buffer) });
  await model.loadState(state);
  await saveCheckpoint(ck, model, {
    classes: CLASSES,
    positiveClass: 0,
    preprocessing: { size: 48, fit: 'letterbox', equalize: 'none', channels: 1 },
    threshold: 0.5,
    training: { config: { manifest, trainSplit: 'train' } },
  });
});

test('evaluate: the 3 × 3 confusion and per-class figures are those of predictions.csv at arg-max', async () => {
  const e = await evaluate({ model: ck, manifest, split: 'valid', out: join(dir, 'eval'), bootstrap: 50 });
  const mc = e.multiClass!;
  assert.equal(mc.numClasses, 3);
  const recs = parseCsv(readFileSync(e.files.predictions, 'utf8')).records.map((r) => r.values);
  const probs = recs.flatMap((r) => CLASSES.map((c) => Number(r[`p_${c}`])));
  const called = argMax(probs, 3);
  const want = CLASSES.map(() => [0, 0, 0]);
  for (const [i, r] of recs.entries()) want[CLASSES.indexOf(r.label!)]![called[i]!]!++;
  assert.deepEqual(mc.confusion, want);
  assert.ok(
    mc.confusion.every((row) => row[2]! === row.reduce((a, b) => a + b, 0)),
    'all called normal',
  );
  // Support per class = the valid split's label counts; sensitivity of normal 1, of the others 0.
  const valid = readManifest(manifest).rows.filter((r) => r.split === 'valid');
  for (const [c, name] of CLASSES.entries())
    assert.equal(mc.perClass[c]!.support, valid.filter((r) => r.label === name).length);
  assert.equal(mc.perClass[2]!.sensitivity.value, 1);
  assert.equal(mc.perClass[0]!.sensitivity.value, 0);
  assert.equal(mc.perClass[1]!.ppv.den, 0);
});

test('calibrate (temperature) on three classes: rows still sum to 1, arg-max unchanged', async () => {
  await calibrate({ model: ck, manifest, split: 'valid', method: 'temperature', out: join(dir, 'ck-t') });
  const meta = await readCheckpointMeta(join(dir, 'ck-t'));
  assert.deepEqual(meta.classes, CLASSES);
  const e = await evaluate({
    model: join(dir, 'ck-t'),
    manifest,
    split: 'valid',
    out: join(dir, 'eval-t'),
    bootstrap: 0,
  });
  const recs = parseCsv(readFileSync(e.files.predictions, 'utf8')).records.map((r) => r.values);
  for (const r of recs) {
    const s = CLASSES.reduce((a, c) => a + Number(r[`p_${c}`]), 0);
    assert.ok(Math.abs(s - 1) < 1e-5, `row sums to ${s}`);
    assert.equal(r.predicted, 'normal');
  }
});

test('screening: with three classes the heatmap explains the class called, not the positive class', async () => {
  const { model, meta } = await Learner.load(ck, { threads: 2 });
  const file = readManifest(manifest).rows.find((r) => r.split === 'valid')!;
  const buf = readFileSync(join(dir, 'data', file.path));
  const r = await screenStudy(model, meta, buf);
  assert.equal(r.label, 'normal');
  assert.equal(r.positive, false);
  assert.equal(r.camClass, 2);
  // The same heatmap computed directly for class 2.
  const study = await prepareStudy(buf, preprocessOf(meta));
  const cam = await model.gradCamMaps(imagesBatch([study.input.pixels], meta.preprocessing), 2);
  const [, h, w] = cam.shape;
  const heat = camHeatmap(cam.maps, h, w, 48, 48);
  let maxDiff = 0;
  for (let i = 0; i < heat.length; i++) maxDiff = Math.max(maxDiff, Math.abs(heat[i]! - r.heat[i]!));
  assert.ok(maxDiff < 1e-6, `heatmap differs by ${maxDiff}`);
});
