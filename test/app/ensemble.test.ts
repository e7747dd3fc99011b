// `cxrtune ensemble` on phantoms: three small members (seeds) become one model folder whose
// probability is the mean of the members' (checked against each member's own evaluate output),
// whose threshold is the rule chosen on the averaged validation predictions, whose Grad-CAM is the
// mean of the members' heatmaps, and which evaluate, explain, audit, calibrate and serve take like
// one model; a member whose weights changed and members that read images differently are refused.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writePhantoms } from '../../src/data/phantom.js';
import { readManifest, rowPath } from '../../src/data/manifest.js';
import { parseCsv } from '../../src/data/csv.js';
import { Model } from '../../src/engine/model.js';
import { readCheckpointMeta, saveCheckpoint } from '../../src/engine/checkpoint.js';
import { manualSeed, setThreads } from '../../src/engine/runtime.js';
import { chooseThreshold } from '../../src/recipe/threshold.js';
import { ensemble } from '../../src/app/ensemble/ensemble.js';
import { ensembleIdentity } from '../../src/app/ensemble/loadEnsemble.js';
import { evaluate } from '../../src/app/evaluate/evaluate.js';
import { calibrate } from '../../src/app/evaluate/calibrate.js';
import { audit } from '../../src/app/interpret/audit.js';
import { explainImages } from '../../src/app/interpret/explainImages.js';
import { camFor } from '../../src/app/interpret/camMaps.js';
import { Learner } from '../../src/app/train/learner.js';
import { loadServedModel } from '../../src/app/serve/servedModel.js';
import { screenStudy } from '../../src/app/serve/screen.js';
import { modelCard } from '../../src/app/serve/modelCard.js';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const dir = mkdtempSync(join(tmpdir(), 'cxrtune-ensemble-'));
const S = 32;
const members = [1, 2, 3].map((k) => join(dir, `m${k}`));
let manifest = '';

/** Positive probability and label per image path of an evaluation's predictions.csv. */
function predictionsOf(file: string): Map<string, { p: number; y: string }> {
  return new Map(
    parseCsv(readFileSync(file, 'utf8'), file).records.map((r) => [
      r.values.path!,
      { p: Number(r.values.probability), y: r.values.label! },
    ]),
  );
}

async function member(out: string, seed: number, size = S): Promise<void> {
  manualSeed(seed); // untrained members of three seeds: different, fixed answers
  await saveCheckpoint(out, await Model.create({ arch: 'resnet18', numClasses: 2 }), {
    classes: ['normal', 'covid'],
    positiveClass: 1,
    preprocessing: { size, fit: 'letterbox', equalize: 'none', channels: 1 },
    threshold: 0.5,
    training: {
      config: { manifest, trainSplit: 'train', validSplit: 'valid', threshold: 'youden', seed, epochs: 1 },
      epoch: 1,
    },
  });
}

before(async () => {
  setThreads(2);
  manifest = (await writePhantoms({ n: 30, size: 48, seed: 6, out: join(dir, 'data'), sheetSize: 0 })).manifestFile;
  for (const [i, m] of members.entries()) await member(m, 10 + i);
  await ensemble({ runs: members, out: join(dir, 'ens') });
});

test("the ensemble's probability is the members' mean; its threshold their rule on that mean", async () => {
  const ens = join(dir, 'ens');
  const meta = await readCheckpointMeta(ens);
  assert.equal(meta.arch, 'ensemble');
  const shas = await Promise.all(members.map(async (m) => (await readCheckpointMeta(m)).weightsSha256!));
  assert.deepEqual(
    meta.ensemble!.members.map((m) => [m.path, m.weightsSha256]),
    members.map((_m, i) => [`../m${i + 1}`, shas[i]]),
  );
  assert.equal(meta.weightsSha256, ensembleIdentity(shas));
  const each = [];
  for (const [i, m] of members.entries())
    each.push(
      predictionsOf(
        (await evaluate({ model: m, manifest, split: 'valid', out: join(dir, `ev${i}`), bootstrap: 0 })).files
          .predictions,
      ),
    );
  const e = await evaluate({ model: ens, manifest, split: 'valid', out: join(dir, 'ev-ens'), bootstrap: 0 });
  const got = predictionsOf(e.files.predictions);
  assert.equal(got.size, each[0]!.size);
  const mean: number[] = [];
  const labels: number[] = [];
  for (const [path, { p, y }] of got) {
    const m = each.reduce((a, x) => a + x.get(path)!.p, 0) / each.length;
    assert.ok(Math.abs(p - m) < 1e-6, `${path}: ${p} vs mean ${m}`);
    mean.push(m);
    labels.push(y === 'covid' ? 1 : 0);
  }
  assert.ok(new Set(each.map((x) => [...x.values()][0]!.p)).size === 3, 'the members differ');
  // Youden (the members' rule) on the averaged validation predictions, by hand.
  const want = chooseThreshold(Float64Array.from(mean), Int32Array.from(labels), { kind: 'youden' }, 1).threshold;
  assert.ok(Math.abs(meta.threshold - want) < 1e-6, `${meta.threshold} vs ${want}`);
  assert.equal((meta.thresholdChoice as { chosenBy?: string }).chosenBy, 'ensemble');
  assert.equal(e.model.threshold, meta.threshold);
});

test("its Grad-CAM is the mean of the members' heatmaps (scaled to peak 1); explain shows the mean", async () => {
  const ens = await Learner.load(join(dir, 'ens'), { threads: 2 });
  const file = rowPath(readManifest(manifest), readManifest(manifest).rows[0]!);
  const img = await ens.decode(file);
  const batch = ens.batchOf(img.pixels);
  const got = (await camFor(ens.model, batch, [1])).heat[0]!;
  const sum = new Float64Array(S * S);
  for (const m of members) {
    const l = await Learner.load(m, { threads: 2 });
    const h = (await camFor(l.model, batch, [1])).heat[0]!;
    for (let i = 0; i < sum.length; i++) sum[i]! += h[i]!;
  }
  const peak = Math.max(...sum);
  assert.ok(peak > 0);
  for (let i = 0; i < sum.length; i++) assert.ok(Math.abs(got[i]! - sum[i]! / peak) < 1e-5, `pixel ${i}`);
  const [x] = await explainImages({ model: join(dir, 'ens'), images: [file], out: join(dir, 'explain') });
  const probs = await Promise.all(members.map(async (m) => (await Learner.load(m)).predict(file)));
  const meanP = probs.reduce((a, p) => a + p.probabilities[1]!, 0) / 3;
  assert.ok(Math.abs(x!.probabilities.covid! - meanP) < 1e-6);
});

test('serve and the model card take it like one model; audit reads all members; calibrate re-pins them', async () => {
  const served = await loadServedModel(join(dir, 'ens'));
  assert.equal(served.sha256, (await readCheckpointMeta(join(dir, 'ens'))).weightsSha256);
  const file = rowPath(readManifest(manifest), readManifest(manifest).rows[1]!);
  const buf = readFileSync(file);
  const r = await screenStudy(served.model, served.meta, buf);
  let mean = 0;
  for (const m of members) {
    const one = await loadServedModel(m);
    mean += (await screenStudy(one.model, one.meta, buf)).probability / 3;
  }
  assert.ok(Math.abs(r.probability - mean) < 1e-6, `${r.probability} vs ${mean}`);
  const card = modelCard(served);
  assert.equal(card.ensemble!.members.length, 3);
  assert.deepEqual(
    card.ensemble!.members.map((m) => m.seed),
    [10, 11, 12],
  );
  const a = await audit({ model: join(dir, 'ens'), manifest, split: 'valid', out: join(dir, 'audit'), bootstrap: 20 });
  assert.equal(a.model.featureDims, 3 * 512); // three ResNet-18s' pooled features side by side
  const cal = await calibrate({
    model: join(dir, 'ens'),
    manifest,
    split: 'valid',
    method: 'temperature',
    out: join(dir, 'cal', 'ens'),
  });
  const calMeta = await readCheckpointMeta(cal.checkpoint);
  assert.deepEqual(
    calMeta.ensemble!.members.map((m) => m.path),
    ['../../m1', '../../m2', '../../m3'],
  );
  const e = await evaluate({ model: cal.checkpoint, manifest, split: 'valid', out: join(dir, 'ev-cal'), bootstrap: 0 });
  assert.equal(e.metrics.n, readManifest(manifest).rows.filter((r) => r.split === 'valid').length);
});

test('a member whose weights changed, and members that read images differently, are refused in one line', async () => {
  const copies = [join(dir, 'c1'), join(dir, 'c2')];
  for (const [i, c] of copies.entries()) cpSync(members[i]!, c, { recursive: true });
  await ensemble({ runs: copies, out: join(dir, 'ens-c') });
  const w = join(copies[1]!, 'model.safetensors');
  const bytes = readFileSync(w);
  bytes[bytes.length - 1] ^= 0xff;
  writeFileSync(w, bytes);
  const out = join(dir, 'ev-c');
  await assert.rejects(
    evaluate({ model: join(dir, 'ens-c'), manifest, split: 'valid', out, bootstrap: 0 }),
    /^Error: ensemble member 2 .*c2: model\.safetensors has SHA-256 [0-9a-f]{16}…, but .*ens-c\/model\.json pins /,
  );
  await assert.rejects(loadServedModel(join(dir, 'ens-c')), /ensemble member 2 .* pins /);
  await member(join(dir, 'big'), 20, 48);
  await assert.rejects(
    ensemble({ runs: [members[0]!, join(dir, 'big')], out: join(dir, 'ens-bad') }),
    /read images differently \(size 32 ≠ 48\): members must share size, fit, equalisation, crop and channels/,
  );
  await assert.rejects(ensemble({ runs: [members[0]!], out: join(dir, 'ens-one') }), /at least two models/);
  await assert.rejects(ensemble({ runs: [members[0]!, members[0]!], out: join(dir, 'ens-dup') }), /same weights/);
});

test('cxrtune ensemble: the folder from the command line; a refusal is one line with exit code 1', () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], {
      cwd: root,
      encoding: 'utf8',
    });
  const ok = cli('ensemble', members[0]!, members[1]!, '--out', join(dir, 'ens-cli'), '--threshold', '0.4', '--json');
  assert.equal(ok.status, 0, ok.stderr);
  const r = JSON.parse(ok.stdout) as { threshold: number; members: unknown[] };
  assert.deepEqual([r.threshold, r.members.length], [0.4, 2]);
  const one = cli('ensemble', members[0]!, '--out', join(dir, 'ens-cli-1'));
  assert.equal(one.status, 1);
  assert.equal(one.stderr.trim().split('\n').length, 1);
  assert.match(one.stderr, /^error: an ensemble needs at least two models/);
});
