// A lung-cropping model carries its segmenter (`train --lungs DIR`): the run and every checkpoint
// folder hold it, pinned by SHA-256 in model.json, so evaluate takes an un-cropped external set
// with only --model and gives the figures of the two-step path (lungs predict, then evaluate), serve
// crops each study with it, and a model without one (or with a changed one) ends in one clear line.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writePhantoms } from '../../src/data/phantom.js';
import { readManifest, rowPath, writeManifest } from '../../src/data/manifest.js';
import { decodeImage } from '../../src/data/image.js';
import { lungCropBox } from '../../src/data/lungCrop.js';
import { parseCsv } from '../../src/data/csv.js';
import { Model } from '../../src/engine/model.js';
import { readCheckpointMeta, saveCheckpoint } from '../../src/engine/checkpoint.js';
import { imageOptions } from '../../src/engine/preprocessing.js';
import { manualSeed, setThreads } from '../../src/engine/runtime.js';
import { loadSegmenter, saveSegmenter } from '../../src/engine/segmentation/segmenterCheckpoint.js';
import { trainRun } from '../../src/app/train/experiment.js';
import { resolveTrainConfig } from '../../src/app/train/trainConfig.js';
import { RUN_FILES } from '../../src/app/train/runFolder.js';
import { evaluate } from '../../src/app/evaluate/evaluate.js';
import { fillManifestMasks } from '../../src/app/lungs/predictMasks.js';
import { ensemble } from '../../src/app/ensemble/ensemble.js';
import { LungField } from '../../src/app/lungs/lungEvidence.js';
import { loadServedModel } from '../../src/app/serve/servedModel.js';
import { prepareStudy, preprocessOf, screenStudy } from '../../src/app/serve/screen.js';

const dir = mkdtempSync(join(tmpdir(), 'cxrtune-carried-'));
process.env.CXRTUNE_CACHE = join(dir, 'cache'); // lung masks land here, not in the user's cache
const S = 32;
const seg = join(dir, 'seg');
const run = join(dir, 'run');
let external = ''; // another hospital's phantoms, without lung masks
let trainManifest = '';

/** Positive probability per image path of an evaluation's predictions.csv. */
function probsOf(file: string): Map<string, number> {
  return new Map(
    parseCsv(readFileSync(file, 'utf8'), file).records.map((r) => [r.values.path!, Number(r.values.probability)]),
  );
}

before(async () => {
  setThreads(2);
  const train = (await writePhantoms({ n: 24, size: 48, seed: 3, out: join(dir, 'train'), sheetSize: 0 })).manifestFile;
  trainManifest = train;
  const ext = (await writePhantoms({ n: 12, size: 48, seed: 9, out: join(dir, 'ext'), sheetSize: 0 })).manifestFile;
  const m = readManifest(ext);
  external = join(dir, 'ext', 'external.csv');
  await writeManifest(
    external,
    m.rows.map((r) => {
      const { lung_mask: _lung, ...extra } = r.extra;
      return { ...r, split: '', extra };
    }),
  );
  // An untrained segmenter (seeded): its probabilities are noise around 0.5, so a threshold just above
  // that marks a few pixels of each image, a small lung box far from the whole image. Arbitrary but
  // fixed masks are all the comparison needs.
  manualSeed(0);
  const segModel = await Model.create({
    task: 'segment',
    arch: 'unet_mobilenet_v2',
    decoderChannels: [16, 8, 8, 8, 8],
  });
  await saveSegmenter(seg, segModel, {
    classes: ['lung'],
    preprocessing: { size: 64, fit: 'stretch', equalize: 'none', channels: 1 },
    threshold: 0.515,
  });
  const cfg = resolveTrainConfig(
    {},
    {
      manifest: train,
      arch: 'resnet18',
      out: run,
      size: S,
      epochs: 1,
      batch: 8,
      crop: 'lungs',
      lungs: seg,
      threads: 2,
    },
  );
  await trainRun(cfg, { log: () => undefined });
});

test('the run and each checkpoint carry the segmenter, pinned by SHA-256, as hard links', async () => {
  const meta = await readCheckpointMeta(join(run, RUN_FILES.last));
  const segMeta = JSON.parse(readFileSync(join(seg, 'model.json'), 'utf8'));
  assert.deepEqual(meta.segmenter, { path: 'segmenter', weightsSha256: segMeta.weightsSha256 });
  for (const ck of [RUN_FILES.last, RUN_FILES.best]) {
    const copy = join(run, ck, 'segmenter', 'model.safetensors');
    assert.deepEqual(readFileSync(copy), readFileSync(join(seg, 'model.safetensors')), ck);
    assert.equal(statSync(copy).ino, statSync(join(run, 'segmenter', 'model.safetensors')).ino, `${ck}: a hard link`);
  }
});

test('evaluate with only --model crops an external set itself: the figures of lungs predict + evaluate', async () => {
  const one = await evaluate({
    model: run,
    manifest: external,
    split: 'all',
    out: join(dir, 'eval-one'),
    bootstrap: 50,
  });
  // The two-step path: the segmenter's masks written into a manifest, then evaluate.
  const { model, meta } = await loadSegmenter(seg);
  const filled = join(dir, 'ext', 'external.lungs.csv');
  await fillManifestMasks(model, meta, external, filled);
  const two = await evaluate({ model: run, manifest: filled, split: 'all', out: join(dir, 'eval-two'), bootstrap: 50 });
  assert.equal(one.metrics.n, 12);
  assert.deepEqual(one.metrics, two.metrics);
  const p1 = probsOf(one.files.predictions);
  const p2 = probsOf(two.files.predictions);
  assert.equal(p1.size, 12);
  for (const [path, p] of p1) assert.equal(p2.get(path), p, path);
  // It did crop: the same model fed whole images gives other probabilities.
  const whole = join(dir, 'whole');
  cpSync(join(run, RUN_FILES.best), whole, { recursive: true });
  const wm = JSON.parse(readFileSync(join(whole, 'model.json'), 'utf8'));
  writeFileSync(
    join(whole, 'model.json'),
    JSON.stringify({ ...wm, preprocessing: { ...wm.preprocessing, crop: 'none' } }),
  );
  const un = await evaluate({
    model: whole,
    manifest: external,
    split: 'all',
    out: join(dir, 'eval-whole'),
    bootstrap: 0,
  });
  const pu = probsOf(un.files.predictions);
  // Most boxes are small (an image whose mask is empty keeps the whole image).
  const filledRows = readManifest(filled);
  let small = 0;
  for (const r of filledRows.rows) {
    const mask = await decodeImage(rowPath(filledRows, { path: r.extra.lung_mask! }));
    const b = lungCropBox(mask.pixels, mask.width, mask.height, 0.1);
    if (b.width * b.height < 0.5 * mask.width * mask.height) small++;
  }
  assert.ok(small >= 6, `${small} of 12 lung boxes under half the image`);
  assert.ok(
    [...p1].some(([path, p]) => Math.abs(p - pu.get(path)!) > 1e-6),
    'cropped and whole images score alike',
  );
});

test('serve with only --model crops each study with the carried segmenter', async () => {
  const served = await loadServedModel(run);
  assert.ok(served.lungs, 'the carried segmenter is loaded');
  assert.equal(
    served.lungs!.meta.weightsSha256,
    JSON.parse(readFileSync(join(seg, 'model.json'), 'utf8')).weightsSha256,
  );
  const file = rowPath(readManifest(external), readManifest(external).rows[0]!);
  const buf = readFileSync(file);
  const study = await prepareStudy(buf, preprocessOf(served.meta, undefined, undefined, served.lungs));
  // The box is the segmenter's (as serve --lungs found it), not the whole image.
  const box = await (await LungField.load(seg)).regionOf(buf, served.meta.preprocessing.cropMargin);
  const expected = await decodeImage(file, { ...imageOptions(served.meta.preprocessing), region: box });
  assert.deepEqual(study.input.pixels, expected.pixels);
  const r = await screenStudy(
    served.model,
    served.meta,
    buf,
    preprocessOf(served.meta, undefined, undefined, served.lungs),
  );
  const explicit = await loadServedModel(run, { lungs: seg }); // --lungs overrides with the same segmenter
  const r2 = await screenStudy(
    explicit.model,
    explicit.meta,
    buf,
    preprocessOf(explicit.meta, undefined, undefined, explicit.lungs),
  );
  assert.equal(r.probability, r2.probability);
});

test('a lung-cropping model without its segmenter, or with a changed one, ends in one line', async () => {
  const bare = join(dir, 'bare');
  await saveCheckpoint(bare, await Model.create({ arch: 'resnet18', numClasses: 2 }), {
    classes: ['normal', 'covid'],
    positiveClass: 1,
    preprocessing: { size: S, fit: 'letterbox', equalize: 'none', channels: 1, crop: 'lungs', cropMargin: 0.1 },
    threshold: 0.5,
  });
  await assert.rejects(
    evaluate({ model: bare, manifest: external, split: 'all', out: join(dir, 'eval-bare'), bootstrap: 0 }),
    /^Error: this model crops every image to its lung field .* carries no lung segmenter .*--lungs DIR/,
  );
  const servedBare = await loadServedModel(bare); // serve refuses to start: its decode options cannot be made
  assert.equal(servedBare.lungs, undefined);
  assert.throws(
    () => preprocessOf(servedBare.meta, undefined, undefined, servedBare.lungs),
    /carries no lung segmenter/,
  );
  // --lungs stands in for the missing one.
  const withLungs = await evaluate({
    model: bare,
    manifest: external,
    split: 'all',
    lungs: seg,
    out: join(dir, 'eval-bare-lungs'),
    bootstrap: 0,
  });
  assert.equal(withLungs.metrics.n, 12);
  // A carried segmenter whose weights changed is refused, naming the pin.
  const moved = join(dir, 'moved');
  cpSync(join(run, RUN_FILES.best), moved, { recursive: true, dereference: true });
  const w = join(moved, 'segmenter', 'model.safetensors');
  const bytes = readFileSync(w);
  bytes[bytes.length - 1] ^= 0xff;
  writeFileSync(w, bytes);
  await assert.rejects(
    evaluate({ model: moved, manifest: external, split: 'all', out: join(dir, 'eval-moved'), bootstrap: 0 }),
    /carried lung segmenter .*moved\/segmenter: model\.safetensors has SHA-256 .* pins /,
  );
});

test("an ensemble of lung-cropping members carries their segmenter: only --model, the members' mean", async () => {
  const run2 = join(dir, 'run2');
  const cfg = resolveTrainConfig(
    {},
    {
      manifest: trainManifest,
      arch: 'resnet18',
      out: run2,
      size: S,
      epochs: 1,
      batch: 8,
      crop: 'lungs',
      lungs: seg,
      seed: 1,
      threads: 2,
    },
  );
  await trainRun(cfg, { log: () => undefined });
  const ens = join(dir, 'ens');
  await ensemble({ runs: [run, run2], out: ens });
  const meta = await readCheckpointMeta(ens);
  assert.deepEqual(meta.segmenter, (await readCheckpointMeta(join(run, RUN_FILES.best))).segmenter);
  assert.deepEqual(
    readFileSync(join(ens, 'segmenter', 'model.safetensors')),
    readFileSync(join(seg, 'model.safetensors')),
  );
  const e = await evaluate({ model: ens, manifest: external, split: 'all', out: join(dir, 'eval-ens'), bootstrap: 0 });
  const each = await Promise.all(
    [run, run2].map(async (m, i) =>
      probsOf(
        (await evaluate({ model: m, manifest: external, split: 'all', out: join(dir, `eval-m${i}`), bootstrap: 0 }))
          .files.predictions,
      ),
    ),
  );
  for (const [path, p] of probsOf(e.files.predictions))
    assert.ok(Math.abs(p - (each[0]!.get(path)! + each[1]!.get(path)!) / 2) < 1e-6, path);
});
