// Engine-backed: `cxrtune calibrate` on a small checkpoint → a new checkpoint whose model.json
// records the calibration (weights byte-identical), read back and applied by evaluate and by
// the serve path; threshold-only calibration on a chosen rule; the model card names every
// figure's protocol; bad input ends in one line.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { writePhantoms } from '../../src/data/phantom.js';
import { readManifest, writeManifest } from '../../src/data/manifest.js';
import { setThreads } from '../../src/engine/runtime.js';
import { Model } from '../../src/engine/model.js';
import { saveCheckpoint, readCheckpointMeta } from '../../src/engine/checkpoint.js';
import { calibrate } from '../../src/app/evaluate/calibrate.js';
import { evaluate } from '../../src/app/evaluate/evaluate.js';
import { parseCsv } from '../../src/data/csv.js';
import { applyPlatt } from '../../src/recipe/plattScaling.js';
import { applyTemperature } from '../../src/recipe/temperatureScaling.js';
import { chooseThreshold } from '../../src/recipe/threshold.js';
import { loadServedModel } from '../../src/app/serve/servedModel.js';
import { modelCard } from '../../src/app/serve/modelCard.js';
import { screenStudy } from '../../src/app/serve/screen.js';
import { applyCalibration, calibrationOf } from '../../src/recipe/calibrationMap.js';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const dir = mkdtempSync(join(tmpdir(), 'cxrtune-calibrate-'));
const ck = join(dir, 'ck');
let manifest = '';

before(async () => {
  setThreads(2);
  manifest = (await writePhantoms({ n: 40, size: 48, seed: 4, out: join(dir, 'data'), sheetSize: 0 })).manifestFile;
  // An untrained network is enough: calibration maps whatever scores it gives.
  const model = await Model.create({ arch: 'resnet18', numClasses: 2 });
  await saveCheckpoint(ck, model, {
    classes: ['normal', 'covid'],
    positiveClass: 1,
    preprocessing: { size: 48, fit: 'letterbox', equalize: 'none', channels: 1 },
    threshold: 0.5,
    training: { config: { manifest, trainSplit: 'train' } },
  });
});

/** Positive-class probability per manifest path, from an evaluation's predictions.csv. */
function probsOf(file: string): Map<string, number> {
  return new Map(
    parseCsv(readFileSync(file, 'utf8'), file).records.map((r) => [r.values.path!, Number(r.values.probability)]),
  );
}

test(
  'platt and temperature: a new checkpoint, same weights, ' + 'model.json records the fit; evaluate applies it',
  async () => {
    const raw = await evaluate({ model: ck, manifest, split: 'valid', out: join(dir, 'eval-raw'), bootstrap: 0 });
    const rawP = probsOf(raw.files.predictions);
    const p = await calibrate({ model: ck, manifest, split: 'valid', method: 'platt', out: join(dir, 'ck-platt') });
    const meta = await readCheckpointMeta(join(dir, 'ck-platt'));
    const orig = await readCheckpointMeta(ck);
    assert.deepEqual(
      readFileSync(join(dir, 'ck-platt', 'model.safetensors')),
      readFileSync(join(ck, 'model.safetensors')),
      'weights untouched',
    );
    assert.equal(meta.weightsSha256, orig.weightsSha256);
    const cal = calibrationOf(meta)!;
    assert.equal(cal.method, 'platt');
    assert.equal(cal.parameters.a, p.record!.parameters.a);
    assert.equal(cal.fittedOn.n, 12);
    assert.equal(cal.fittedOn.split, 'valid');
    assert.match(cal.fittedOn.sha256, /^[0-9a-f]{64}$/);
    assert.ok(cal.eceBefore >= 0 && cal.eceAfter >= 0);
    assert.equal(cal.threshold, 0.5, "default rule 'keep'");
    assert.equal(meta.threshold, 0.5);
    assert.equal(cal.thresholdRule, 'keep');
    assert.equal((meta.thresholdChoice as { evaluation: { protocol: string } }).evaluation.protocol, 'internal');
    // evaluate reads model.json's calibration back and maps every probability through it.
    const e = await evaluate({
      model: join(dir, 'ck-platt'),
      manifest,
      split: 'valid',
      out: join(dir, 'eval-platt'),
      bootstrap: 0,
    });
    const after = probsOf(e.files.predictions);
    assert.equal(after.size, rawP.size);
    for (const [path, q] of after)
      assert.ok(Math.abs(q - applyPlatt(rawP.get(path)!, cal.parameters.a!, cal.parameters.b!)) < 2e-5, path);
    // Temperature scaling: softmax(ln p / T).
    const t = await calibrate({
      model: ck,
      manifest,
      split: 'valid',
      method: 'temperature',
      out: join(dir, 'ck-temp'),
    });
    const T = t.record!.parameters.temperature!;
    assert.ok(T > 0);
    const et = await evaluate({
      model: join(dir, 'ck-temp'),
      manifest,
      split: 'valid',
      out: join(dir, 'eval-temp'),
      bootstrap: 0,
    });
    const tempP = probsOf(et.files.predictions);
    for (const [path, q] of tempP) {
      const r = rawP.get(path)!;
      assert.ok(Math.abs(q - applyTemperature([1 - r, r], 2, T)[1]!) < 2e-5, path);
    }
    // Ranking kept: temperature is monotone. The untrained network's scores can lie closer than
    // float32 resolves after scaling, so pairs within twice the tolerance above may tie; every
    // pair further apart keeps its order (an AUC comparison would fail on such ties).
    for (const [a, ra] of rawP)
      for (const [b, rb] of rawP) if (ra - rb > 4e-5) assert.ok(tempP.get(a)! >= tempP.get(b)!, `ranked: ${a} ${b}`);
    // Recalibrating a calibrated checkpoint fits the network's raw scores again (replaces, never stacks).
    const again = await calibrate({
      model: join(dir, 'ck-temp'),
      manifest,
      split: 'valid',
      method: 'temperature',
      out: join(dir, 'ck-temp2'),
    });
    assert.ok(Math.abs(again.record!.parameters.temperature! - T) < 1e-9);
  },
);

test(
  '--method none chooses the threshold by an explicit rule; per-source rates; serve and the model card apply ' +
    'and show it',
  async () => {
    const r = await calibrate({
      model: ck,
      manifest,
      split: 'valid',
      method: 'none',
      threshold: 'youden',
      out: join(dir, 'ck-thr'),
    });
    const raw = await evaluate({ model: ck, manifest, split: 'valid', out: join(dir, 'eval-raw2'), bootstrap: 0 });
    const pos = [...probsOf(raw.files.predictions).values()];
    const labels = parseCsv(readFileSync(raw.files.predictions, 'utf8'), 'p').records.map((x) =>
      x.values.label === 'covid' ? 1 : 0,
    );
    assert.ok(
      Math.abs(r.after.threshold - chooseThreshold(pos, labels, { kind: 'youden' }).threshold) < 1e-6,
      'the Youden point of the raw scores (predictions.csv keeps 6 decimals)',
    );
    const meta = await readCheckpointMeta(join(dir, 'ck-thr'));
    assert.equal(meta.threshold, r.after.threshold);
    assert.equal(meta.calibration, undefined);
    assert.equal((meta.thresholdChoice as { rule: string }).rule, 'youden');
    assert.deepEqual(
      r.after.groups.map((g) => g.group),
      ['phantom'],
    );
    assert.equal(r.after.all.sensitivity.den, 6);
    assert.match(r.protocol.why, /one source \(phantom\)/);
    // The serve path maps probabilities through the calibration exactly as evaluate does.
    const served = await loadServedModel(join(dir, 'ck-platt'));
    const plain = await loadServedModel(ck);
    const row = readManifest(manifest).rows.find((x) => x.split === 'valid')!;
    const img = await sharp(join(dir, 'data', row.path))
      .png()
      .toBuffer();
    const a = await screenStudy(served.model, served.meta, img);
    const b = await screenStudy(plain.model, plain.meta, img);
    const expect = applyCalibration(Float32Array.from(b.probabilities), 2, 1, calibrationOf(served.meta));
    assert.ok(Math.abs(a.probability - expect[1]!) < 1e-5, `${a.probability} vs ${expect[1]}`);
    const card = modelCard(served);
    assert.equal(card.calibration?.method, 'platt');
    assert.equal(card.calibration?.n, 12);
    assert.equal(card.thresholdRule, 'keep');
    assert.ok(card.figures.length >= 2 && card.figures.every((f) => f.label === 'INTERNAL'));
    assert.equal(card.validation.label, 'INTERNAL');
    assert.match(card.figures.map((f) => f.why).join(' '), /one source/);
  },
);

test('--fit-sample: fit on a seeded draw by patient, the rest held apart; evaluate there agrees', async () => {
  // A site's own images: the phantoms under new patient ids (none trained the checkpoint).
  const m = readManifest(manifest);
  const site = join(dir, 'site', 'manifest.csv');
  mkdirSync(join(dir, 'site'), { recursive: true });
  await writeManifest(
    site,
    m.rows.map((r) => ({
      ...r,
      path: join(m.dir, r.path),
      extra: {},
      patientId: `site:${r.patientId}`,
      split: 'test',
    })),
  );
  const o = { model: ck, manifest: site, method: 'platt' as const, threshold: 'sensitivity:0.9', fitSample: 16 };
  const r = await calibrate({ ...o, seed: 3, out: join(dir, 'ck-site') });
  const h = r.heldApart!;
  assert.equal(r.sample.n + h.n, 40);
  assert.ok(Math.abs(r.sample.n - 16) <= 2, `fitted on ${r.sample.n}`);
  assert.equal(r.record?.fittedOn.n, r.sample.n); // model.json names the fitted sample, not the whole set
  // Both classes on both sides (the draw is stratified by label).
  assert.ok(r.sample.positives > 0 && r.sample.negatives > 0 && h.positives > 0 && h.negatives > 0);
  const held = readManifest(h.manifest);
  assert.equal(held.rows.length, h.n);
  assert.ok(held.rows.every((x) => x.split === 'test'));
  // The held-apart figures are what evaluate measures on held-apart.csv, before and after.
  const after = await evaluate({
    model: join(dir, 'ck-site'),
    manifest: h.manifest,
    out: join(dir, 'ev-a'),
    bootstrap: 0,
  });
  const before = await evaluate({ model: ck, manifest: h.manifest, out: join(dir, 'ev-b'), bootstrap: 0 });
  const counts = (p: { num: number; den: number }) => [p.num, p.den];
  assert.deepEqual(counts(after.metrics.sensitivity), counts(h.after.all.sensitivity));
  assert.deepEqual(counts(after.metrics.specificity), counts(h.after.all.specificity));
  assert.deepEqual(counts(before.metrics.sensitivity), counts(h.before.all.sensitivity));
  assert.deepEqual(counts(before.metrics.specificity), counts(h.before.all.specificity));
  assert.ok(Math.abs(after.metrics.auc.value - h.auc.value) < 1e-9);
  // The same seed draws the same sample; another seed another one.
  const again = await calibrate({ ...o, seed: 3, out: join(dir, 'ck-site-2') });
  assert.deepEqual(
    readManifest(again.heldApart!.manifest).rows.map((x) => x.path),
    held.rows.map((x) => x.path),
  );
  await assert.rejects(
    calibrate({ ...o, fitSample: 40, out: join(dir, 'ck-site-3') }),
    /--fit-sample 40: needs at least 2 and fewer than the 40 images/,
  );
});

test('calibrate refuses bad input with one line', async () => {
  await assert.rejects(
    calibrate({ model: ck, manifest, split: 'valid', method: 'platt', out: ck }),
    /--out is the model's own checkpoint folder/,
  );
  mkdirSync(join(dir, 'full'));
  writeFileSync(join(dir, 'full', 'x'), '');
  await assert.rejects(
    calibrate({ model: ck, manifest, split: 'valid', method: 'platt', out: join(dir, 'full') }),
    /exists and is not empty/,
  );
  await assert.rejects(
    calibrate({ model: ck, manifest, split: 'train', method: 'platt', out: join(dir, 'o1') }),
    /in the model's training split/,
  );
  await assert.rejects(
    calibrate({ model: ck, manifest, split: 'nope', method: 'platt', out: join(dir, 'o2') }),
    /has no 'nope' rows/,
  );
  await assert.rejects(
    calibrate({ model: ck, manifest, split: 'valid', method: 'isotonic' as 'platt', out: join(dir, 'o3') }),
    /--method must be one of temperature, platt, none/,
  );
  await assert.rejects(
    calibrate({ model: ck, manifest, split: 'valid', method: 'platt', threshold: 'best', out: join(dir, 'o4') }),
    /unknown threshold rule 'best'/,
  );
  await assert.rejects(
    calibrate({ model: ck, manifest, split: 'valid', method: 'none', threshold: 'keep', out: join(dir, 'o5') }),
    /changes nothing/,
  );
  const m = readManifest(manifest);
  const one = join(dir, 'data', 'one-class.csv');
  await writeManifest(
    one,
    m.rows.filter((x) => x.split === 'valid' && x.label === 'covid'),
  );
  await assert.rejects(
    calibrate({ model: ck, manifest: one, split: 'valid', method: 'platt', out: join(dir, 'o6') }),
    /has 6 covid and 0 other image\(s\): fitting and choosing a threshold need both/,
  );
});

test('cxrtune calibrate: CLI errors are one line with exit code 1', () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], {
      cwd: root,
      encoding: 'utf8',
    });
  const noMethod = cli('calibrate', '--model', ck, '--manifest', manifest, '--out', join(dir, 'c1'));
  assert.equal(noMethod.status, 1);
  assert.match(noMethod.stderr, /--method <m>' not specified/);
  const missing = cli(
    'calibrate',
    '--model',
    join(dir, 'nope'),
    '--manifest',
    manifest,
    '--method',
    'platt',
    '--out',
    join(dir, 'c2'),
  );
  assert.equal(missing.status, 1);
  assert.equal(missing.stderr.trim().split('\n').length, 1);
  assert.match(missing.stderr, /error: model not found/);
});
