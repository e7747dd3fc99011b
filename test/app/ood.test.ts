// The refusal end to end on phantoms: training writes ood.json beside its best checkpoint, the file
// round-trips and refuses other weights, and serve — with a phantom-trained lung segmenter — answers
// blank, noise, inverted and lateral-like images with 422 "not a frontal chest radiograph", the
// failed check, its value and limit and no score, while a frontal phantom gets its probability.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { writePhantoms } from '../../src/data/phantom.js';
import { readManifest, rowPath } from '../../src/data/manifest.js';
import { readMaskManifest } from '../../src/data/sources/lungs.js';
import { setThreads } from '../../src/engine/runtime.js';
import { projectRoot } from '../../src/engine/native.js';
import { trainRun } from '../../src/app/train/experiment.js';
import { resolveTrainConfig } from '../../src/app/train/trainConfig.js';
import { loadSamples } from '../../src/app/lungs/lungData.js';
import { trainSegmenter } from '../../src/app/lungs/trainSegmenter.js';
import { checkOodFor, OOD_FILE, readOodRecord, writeOodRecord } from '../../src/app/ood/oodFile.js';
import { loadServedModel } from '../../src/app/serve/servedModel.js';
import { buildServer, type Server } from '../../src/app/serve/server.js';
import { createRng } from '../../src/util/rng.js';

const PRETRAINED = join(projectRoot(), '..', 'shared', 'pretrained', 'mobilenet_v2-imagenet-ptq.safetensors');
const dir = mkdtempSync(join(tmpdir(), 'cxrtune-ood-'));
const S = 64;
let manifest = '';
let best = '';
let srv: Server;

before(async () => {
  setThreads(2);
  manifest = (await writePhantoms({ n: 60, size: 128, seed: 2, out: join(dir, 'ph'), sheetSize: 0 })).manifestFile;
  const pretrained = existsSync(PRETRAINED) ? { pretrained: PRETRAINED } : {};
  const cfg = resolveTrainConfig(
    {},
    { manifest, arch: 'mobilenet_v2', out: join(dir, 'run'), size: S, batch: 16, epochs: 2, threads: 2, ...pretrained },
  );
  const s = await trainRun(cfg);
  assert.equal(s.status, 'completed');
  best = s.best.checkpoint ?? join(dir, 'run', 'checkpoints', 'last');
  const pairs = readMaskManifest(manifest, { testFraction: 0.2, seed: 1 });
  await trainSegmenter({
    samples: await loadSamples(pairs, S),
    size: S,
    out: join(dir, 'seg'),
    epochs: existsSync(PRETRAINED) ? 8 : 20,
    batchSize: 8,
    lr: 3e-3,
    log: () => undefined,
    ...pretrained,
  });
  srv = await buildServer(await loadServedModel(join(dir, 'run'), { lungs: join(dir, 'seg') }), {
    db: ':memory:',
    port: 0,
  });
});
after(async () => {
  await srv?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('training writes ood.json for its best checkpoint; it round-trips and names the weights it is for', async () => {
  const r = await readOodRecord(best);
  assert.ok(r, `${OOD_FILE} in ${best}`);
  const meta = JSON.parse(readFileSync(join(best, 'model.json'), 'utf8'));
  assert.equal(r.weightsSha256, meta.weightsSha256);
  assert.equal(r.features.layer, 'features.18');
  assert.equal(r.features.dim, 1280);
  assert.equal(r.features.mean.length, 1280);
  assert.equal(r.features.components.length, r.features.variances.length * 1280);
  assert.equal(r.features.fittedOn.images, readManifest(manifest).rows.length);
  assert.ok(r.features.limit > r.features.limitSetOn.median, 'the limit lies in the upper tail');
  // Round trip: what is read writes the same bytes again.
  const again = mkdtempSync(join(dir, 'again-'));
  await writeOodRecord(again, r);
  assert.deepEqual(await readOodRecord(again), r);
  assert.equal(readFileSync(join(again, OOD_FILE), 'utf8'), readFileSync(join(best, OOD_FILE), 'utf8'));
  assert.throws(() => checkOodFor(r, 'f'.repeat(64), best), /was fitted for weights .*not these.*cxrtune ood fit/);
  writeFileSync(join(again, OOD_FILE), JSON.stringify({ ...r, features: { ...r.features, mean: [1, 2] } }));
  await assert.rejects(readOodRecord(again), /features\.mean needs 1280 numbers/);
});

async function screen(png: Buffer) {
  const res = await srv.app.inject({
    method: 'POST',
    url: '/api/v1/screen',
    payload: png,
    headers: { 'content-type': 'application/octet-stream' },
  });
  return { status: res.statusCode, body: res.json() as Record<string, unknown> };
}

const raw = (px: Uint8Array, w: number, h = w) =>
  sharp(px, { raw: { width: w, height: h, channels: 1 } })
    .png()
    .toBuffer();

test('a frontal phantom gets its probability and the checks it passed', async () => {
  const row = readManifest(manifest).rows.find((r) => r.split === 'valid')!;
  const r = await screen(readFileSync(rowPath(readManifest(manifest), row)));
  assert.equal(r.status, 200, JSON.stringify(r.body).slice(0, 300));
  assert.equal(typeof r.body.probability, 'number');
  const checks = (r.body.frontal as { checks: Array<{ check: string; passed: boolean }> }).checks;
  assert.equal(checks.length, 7);
  assert.ok(checks.every((c) => c.passed));
});

test('blank, noise, inverted and lateral-like images: 422, the reason, the checks, and no score', async () => {
  const m = readManifest(manifest);
  const frontal = readFileSync(rowPath(m, m.rows.find((r) => r.split === 'valid')!));
  const rng = createRng(9);
  const inputs: Record<string, Buffer> = {
    blank: await raw(new Uint8Array(256 * 256).fill(128), 256),
    noise: await raw(
      Uint8Array.from({ length: 256 * 256 }, () => rng.int(256)),
      256,
    ),
    inverted: await sharp(frontal).greyscale().negate({ alpha: false }).png().toBuffer(),
    // One lung field filling the frame, as a lateral projection shows them superimposed.
    'lateral-like': await sharp(frontal)
      .greyscale()
      .extract({ left: 0, top: 0, width: 64, height: 128 })
      .resize(128, 128, { fit: 'fill' })
      .png()
      .toBuffer(),
  };
  for (const [kind, png] of Object.entries(inputs)) {
    const r = await screen(png);
    assert.equal(r.status, 422, `${kind}: ${JSON.stringify(r.body).slice(0, 300)}`);
    assert.equal(r.body.error, 'not_frontal_chest_radiograph', kind);
    // The failed check with its value and limit, then (for a check a frontal film can fail too) the caveat.
    assert.match(
      r.body.detail as string,
      /^not a frontal chest radiograph: .+ \(.+ -?[\d.]+, limit [≥≤] [\d.]+\)(; .+: have it read)?$/,
    );
    const refusal = r.body.refusal as { answer: string; checks: Array<{ check: string; passed: boolean }> };
    assert.equal(refusal.answer, 'not a frontal chest radiograph');
    assert.ok(
      refusal.checks.some((c) => !c.passed),
      kind,
    );
    for (const k of ['probability', 'probabilities', 'label', 'decision', 'heatmap'])
      assert.equal(k in r.body, false, `${kind}: no ${k} in a refusal`);
    console.log(`${kind}: ${r.body.detail}`);
  }
});

test("Grad-CAM's pooled activations are features(): serve's distance needs no second pass", async () => {
  const { loadCheckpoint } = await import('../../src/engine/checkpoint.js');
  const { imagesBatch } = await import('../../src/engine/preprocessing.js');
  const { model, meta } = await loadCheckpoint(best);
  const rng = createRng(4);
  const b = imagesBatch(
    [0, 1].map(() => Uint8Array.from({ length: S * S }, () => rng.int(256))),
    meta.preprocessing,
  );
  const cam = await model.gradCamMaps(b, 1);
  const f = await model.features(b);
  assert.equal(cam.pooled.length, f.features.length);
  // Two kernel paths (Grad-CAM's differentiable one, inference's fused oneDNN primitives): equal
  // to fp32 accumulation order, the bound the ONNX parity uses.
  let worst = 0;
  for (let i = 0; i < f.features.length; i++)
    worst = Math.max(worst, Math.abs(cam.pooled[i]! - f.features[i]!) / Math.max(1, Math.abs(f.features[i]!)));
  assert.ok(worst <= 1e-4, `pooled activations differ by ${worst} (relative)`);
  console.log(`Grad-CAM pooled vs features: max relative difference ${worst.toExponential(2)}`);
});

test('ood check on a model without ood.json is one clear error, not a table of zeros', () => {
  const bare = mkdtempSync(join(dir, 'bare-'));
  for (const f of ['model.json', 'model.safetensors']) copyFileSync(join(best, f), join(bare, f));
  const root = new URL('../..', import.meta.url).pathname;
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      join(root, 'src/cli/main.ts'),
      'ood',
      'check',
      bare,
      '--lungs',
      join(dir, 'seg'),
      '--data',
      dir,
    ],
    { cwd: root, encoding: 'utf8' },
  );
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^error: .* has no ood\.json: write it first with cxrtune ood fit /m);
});
