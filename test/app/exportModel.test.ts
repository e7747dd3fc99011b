// `cxrtune export`: a run folder and a segmenter folder become ONNX files whose answers are the
// engine's and whose metadata carries the model card (classes, positive class, threshold and
// calibration, preprocessing record, weights SHA-256, the protocol of the headline figure);
// invalid requests end in one line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Model } from '../../src/engine/model.js';
import { saveCheckpoint } from '../../src/engine/checkpoint.js';
import { saveSegmenter } from '../../src/engine/segmentation/segmenterCheckpoint.js';
import { onnxMetadata } from '../../src/engine/onnx/graph.js';
import { manualSeed, setThreads } from '../../src/engine/runtime.js';
import { exportModel, MODEL_CARD_KEY } from '../../src/app/export/exportModel.js';
import { withBatchNormStats } from '../engine/helpers/batchNormStats.js';

const root = new URL('../..', import.meta.url).pathname;
const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
  });

const dir = mkdtempSync(join(tmpdir(), 'cxrtune-export-'));
const run = join(dir, 'run');
const seg = join(dir, 'lungs');
let classifier: Model;
let segmenter: Model<'segment'>;
const S = 64;

before(async () => {
  setThreads(2);
  manualSeed(3);
  classifier = await Model.create({
    arch: 'resnet18',
    numClasses: 2,
    normalisation: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
  });
  await withBatchNormStats(classifier, 3);
  mkdirSync(join(run, 'checkpoints', 'best'), { recursive: true });
  writeFileSync(join(run, 'config.json'), '{}');
  await saveCheckpoint(join(run, 'checkpoints', 'best'), classifier, {
    classes: ['normal', 'covid'],
    positiveClass: 1,
    preprocessing: { size: S, fit: 'letterbox', equalize: 'clahe', channels: 1 },
    threshold: 0.42,
    calibration: { method: 'temperature', parameters: { temperature: 1.7 }, fittedOn: { n: 40 } },
    metrics: { n: 50, accuracy: 0.8, auc: { value: 0.9, lo: 0.8, hi: 0.97 } },
  });
  manualSeed(4);
  segmenter = await Model.create({ task: 'segment', arch: 'unet_mobilenet_v2', decoderChannels: [32, 16, 8, 8, 4] });
  await withBatchNormStats(segmenter, 4);
  await saveSegmenter(seg, segmenter, {
    classes: ['lung'],
    preprocessing: { size: S, fit: 'stretch', equalize: 'none', channels: 1 },
    threshold: 0.5,
  });
});
after(() => rmSync(dir, { recursive: true, force: true }));

function grayBatch(n: number, seed: number): Uint8Array {
  const px = new Uint8Array(n * S * S);
  let x = seed;
  for (let i = 0; i < px.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    px[i] = x >>> 24;
  }
  return px;
}

test('a run folder → model.onnx: the engine’s logits, and the model card in metadata_props', async () => {
  const out = join(dir, 'out', 'model.onnx');
  const r = await exportModel({ model: run, format: 'onnx', out });
  const meta = JSON.parse(readFileSync(join(run, 'checkpoints', 'best', 'model.json'), 'utf8'));
  assert.equal(r.weightsSha256, meta.weightsSha256);
  assert.equal(r.task, 'classification');
  const bytes = new Uint8Array(readFileSync(out));
  assert.equal(bytes.length, r.bytes);
  const card = JSON.parse(onnxMetadata(bytes)[MODEL_CARD_KEY]!);
  assert.deepEqual(card.classes, ['normal', 'covid']);
  assert.equal(card.positiveClass, 'covid');
  assert.equal(card.positiveClassIndex, 1);
  assert.equal(card.threshold, 0.42);
  assert.equal(card.weightsSha256, meta.weightsSha256);
  assert.deepEqual(card.calibrationRecord.parameters, { temperature: 1.7 });
  assert.equal(card.preprocessingRecord.equalize, 'clahe');
  assert.deepEqual(card.preprocessingRecord.normalisation.std, [0.25, 0.25, 0.25]);
  // A run with no manifest on this machine: its validation figure's protocol is the honest default.
  assert.equal(card.headline.protocol, card.validation.protocol);
  assert.match(card.headline.label, /INTERNAL|SOURCE-HELD-OUT|EXTERNAL/);
  assert.equal(card.onnx.classifierWeight, 'fc.weight');
  assert.match(card.disclaimer, /not a diagnosis/);

  // Batch 3 (the batch axis is dynamic), grayscale: the record's channels.
  const px = grayBatch(3, 5);
  const s = await ort.InferenceSession.create(bytes);
  const o = await s.run({ pixels: new ort.Tensor('uint8', px, [3, S, S, 1]) });
  const e = (await classifier.predict({ pixels: px, shape: [3, S, S, 1] })).logits;
  const got = o.logits!.data as Float32Array;
  for (let i = 0; i < e.length; i++)
    assert.ok(Math.abs(e[i]! - got[i]!) <= 1e-4 * Math.max(1, Math.abs(e[i]!)), `logit ${i}: ${e[i]} vs ${got[i]}`);
  assert.deepEqual(o.features!.dims, [3, 512, 2, 2]);
  await s.release();
});

test('a segmenter folder → ONNX: the engine’s per-pixel logits', async () => {
  const out = join(dir, 'lungs.onnx');
  const r = await exportModel({ model: seg, format: 'onnx', out });
  assert.equal(r.task, 'segmentation');
  const bytes = new Uint8Array(readFileSync(out));
  const card = JSON.parse(onnxMetadata(bytes)[MODEL_CARD_KEY]!);
  assert.equal(card.kind, 'segmentation');
  assert.equal(card.threshold, 0.5);
  const px = grayBatch(2, 9);
  const s = await ort.InferenceSession.create(bytes);
  const got = (await s.run({ pixels: new ort.Tensor('uint8', px, [2, S, S, 1]) })).logits!.data as Float32Array;
  const e = (await segmenter.predict({ pixels: px, shape: [2, S, S, 1] })).logits;
  let worst = 0;
  for (let i = 0; i < e.length; i++) worst = Math.max(worst, Math.abs(e[i]! - got[i]!) / Math.max(1, Math.abs(e[i]!)));
  assert.ok(worst <= 1e-4, `max relative |Δlogit| ${worst}`);
  await s.release();
});

test('invalid requests end in one line: format, architecture, no weights or checkpoint, changed weights', async () => {
  const reject = async (model: string, re: RegExp, format = 'onnx') =>
    assert.rejects(exportModel({ model, format, out: join(dir, 'x.onnx') }), re);
  await reject(run, /unknown export format 'tflite' \(known: onnx\)/, 'tflite');

  const bad = join(dir, 'bad-arch');
  mkdirSync(bad);
  const best = join(run, 'checkpoints', 'best');
  const meta = JSON.parse(readFileSync(join(best, 'model.json'), 'utf8'));
  writeFileSync(join(bad, 'model.json'), JSON.stringify({ ...meta, arch: 'resnet19' }));
  writeFileSync(join(bad, 'model.safetensors'), readFileSync(join(best, 'model.safetensors')));
  await reject(bad, /unknown architecture 'resnet19'/);

  const noWeights = join(dir, 'no-weights');
  mkdirSync(noWeights);
  writeFileSync(join(noWeights, 'model.json'), JSON.stringify(meta));
  await reject(noWeights, /has no weights \(model\.safetensors is missing\)/);

  const empty = join(dir, 'empty-run');
  mkdirSync(empty);
  writeFileSync(join(empty, 'config.json'), '{}');
  await reject(empty, /the run .* has no checkpoint yet/);

  const changed = join(dir, 'changed');
  mkdirSync(changed);
  writeFileSync(join(changed, 'model.json'), JSON.stringify(meta));
  const w = readFileSync(join(best, 'model.safetensors'));
  w[w.length - 1] ^= 1;
  writeFileSync(join(changed, 'model.safetensors'), w);
  await reject(changed, /refusing to export .*weights were changed or damaged/);

  // The CLI: one line on stderr, exit code 1, nothing written.
  const out = join(dir, 'cli.onnx');
  const r = cli('export', bad, '--format', 'onnx', '--out', out);
  assert.equal(r.status, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^error: unknown architecture 'resnet19'/);
  assert.ok(!existsSync(out));
});

test('the CLI exports a run and says where the file went', () => {
  const out = join(dir, 'cli-ok.onnx');
  const r = cli('export', run, '--out', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  const rec = JSON.parse(r.stdout);
  assert.equal(rec.out, out);
  assert.equal(rec.arch, 'resnet18');
  assert.ok(existsSync(out));
});
