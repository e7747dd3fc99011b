// `cxrtune pretrain` on phantoms: the weights file holds the backbone without the classifier and a
// model card that records what it saw; `train --pretrained FILE` starts from exactly those tensors
// with a fresh classifier; the exclusion check refuses an evaluation image; Kermany's sub-labels.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writePhantoms } from '../../src/data/phantom.js';
import { readManifest, rowPath } from '../../src/data/manifest.js';
import { readFolderSource } from '../../src/data/sources/folder.js';
import { loadLabelMap } from '../../src/data/labelMap.js';
import { readSafetensors } from '../../src/engine/safetensors.js';
import { weightsInfo } from '../../src/engine/weights/weightsFile.js';
import { pretrain, readModelCard, type PretrainResult } from '../../src/app/pretrain/pretrain.js';
import { checkExcluded } from '../../src/app/pretrain/pretrainData.js';
import { Learner } from '../../src/app/train/learner.js';
import { openRunData } from '../../src/app/train/dataSource.js';
import { resolveTrainConfig, runDataOptionsOf } from '../../src/app/train/trainConfig.js';

const dir = mkdtempSync(join(tmpdir(), 'cxrtune-pretrain-'));
let manifest = '';
let r: PretrainResult;
const ENTRY = join(dirname(fileURLToPath(import.meta.url)), 'cliEntry.ts');

function run(...args: string[]): Promise<{ out: string; err: string; code: number }> {
  return new Promise((res) => {
    execFile(process.execPath, ['--import', 'tsx', ENTRY, ...args], { maxBuffer: 1 << 24 }, (e, out, err) => {
      res({ out, err, code: e ? Number((e as { code?: number }).code ?? 1) : 0 });
    });
  });
}

before(async () => {
  manifest = (await writePhantoms({ n: 24, size: 64, seed: 3, out: join(dir, 'data'), sheetSize: 0 })).manifestFile;
  r = await pretrain({
    manifest,
    out: join(dir, 'pre'),
    arch: 'mobilenet_v2',
    pretrained: null,
    epochs: 1,
    size: 64,
    batch: 8,
    threads: 2,
    precision: 'fp32',
    seed: 4,
    probe: manifest,
  });
});

test('pretrain writes the backbone without its classifier, with a model card of what it saw', async () => {
  const { tensors, metadata } = await readSafetensors(r.weights);
  assert.ok(![...tensors.keys()].some((k) => k.startsWith('classifier.')));
  assert.deepEqual(r.modelCard.weights.dropped.sort(), ['classifier.1.bias', 'classifier.1.weight']);
  // Every other tensor of the checkpoint it came from, bit for bit.
  const ckpt = (await readSafetensors(join(r.modelCard.weights.checkpoint, 'model.safetensors'))).tensors;
  assert.equal(tensors.size, ckpt.size - 2);
  for (const [k, t] of tensors) assert.deepEqual(t.data, ckpt.get(k)!.data, k);
  assert.equal((await weightsInfo(r.weights)).metadata.arch, 'mobilenet_v2');
  assert.equal(metadata.input_size, '64');

  const card = (await readModelCard(r.weights))!;
  assert.deepEqual(card, JSON.parse(readFileSync(r.card, 'utf8')));
  const rows = readManifest(manifest).rows;
  assert.equal(card.data.manifestSha256, createHash('sha256').update(readFileSync(manifest)).digest('hex'));
  for (const split of ['train', 'valid'])
    for (const label of ['covid', 'normal'])
      assert.equal(
        card.data.counts[split]![label]!.phantom,
        rows.filter((x) => x.split === split && x.label === label).length,
        `${split}/${label}`,
      );
  assert.deepEqual(card.data.classes, ['normal', 'covid']);
  assert.equal(card.startedFrom, null);
  assert.equal(card.training.epochsDone, 1);
  assert.equal(card.training.size, 64);
  assert.ok(card.training.imagesPerSecond > 0);
  // The probe ran on the validation split of the given manifest (one source: nothing to probe).
  assert.equal(card.probe!.adapted.images, rows.filter((x) => x.split === 'valid').length);
  assert.equal(card.probe!.start, null);
  assert.equal(card.probe!.adapted.probe.labels.length, 0);
});

test('train --pretrained THAT_FILE starts from its backbone tensors with a fresh classifier', async () => {
  const flags = {
    manifest,
    arch: 'mobilenet_v2' as const,
    out: join(dir, 'unused'),
    size: 64,
    batch: 8,
    seed: 9,
    threads: 2,
  };
  const data = (c: ReturnType<typeof resolveTrainConfig>) => openRunData({ ...runDataOptionsOf(c), needValid: false });
  const withFile = resolveTrainConfig({}, { ...flags, pretrained: r.weights });
  const fresh = resolveTrainConfig({}, { ...flags, pretrained: null });
  const a = await (await Learner.forTraining(withFile, data(withFile))).model.state();
  const b = await (await Learner.forTraining(fresh, data(fresh))).model.state();
  const file = (await readSafetensors(r.weights)).tensors;
  const ckpt = (await readSafetensors(join(r.modelCard.weights.checkpoint, 'model.safetensors'))).tensors;
  for (const [k, t] of file) assert.deepEqual(a.get(k)!.data, t.data, k);
  for (const k of ['classifier.1.weight', 'classifier.1.bias']) {
    // The same seeded initialisation as a model without pretrained weights, not the pretraining head.
    assert.deepEqual(a.get(k)!.data, b.get(k)!.data, k);
    assert.notDeepEqual(a.get(k)!.data, ckpt.get(k)!.data, k);
  }

  const out = join(dir, 'ft');
  const cli = await run(
    'train',
    ...['--manifest', manifest, '--arch', 'mobilenet_v2', '--pretrained', r.weights, '--epochs', '1', '--size', '64'],
    ...['--batch', '8', '--threads', '2', '--out', out],
  );
  assert.equal(cli.code, 0, cli.err);
  assert.match(cli.err, /head classifier\.1\.\w+, classifier\.1\.\w+ re-initialised \(the file holds no classifier\)/);
  assert.match(cli.err, new RegExp(`pretrained: ${file.size} tensors from `));
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(cfg.pretrained, r.weights);
  assert.equal(cfg.arch, 'mobilenet_v2');
});

test('the exclusion check refuses a pretraining set holding an evaluation image, by content', () => {
  const m = readManifest(manifest);
  const evalDir = join(dir, 'eval');
  mkdirSync(evalDir, { recursive: true });
  const copy = join(evalDir, 'renamed.png');
  copyFileSync(rowPath(m, m.rows[0]!), copy);
  const evalManifest = join(evalDir, 'manifest.csv');
  writeFileSync(evalManifest, `path,label\n${copy},covid\n`);
  assert.throws(() => checkExcluded(manifest, [evalManifest]), /1 image\(s\) of .* are in the pretraining set/);
  const other = join(evalDir, 'other.csv');
  writeFileSync(join(evalDir, 'x.png'), 'not the same bytes');
  writeFileSync(other, `path,label\n${join(evalDir, 'x.png')},covid\n`);
  assert.deepEqual(checkExcluded(manifest, [other]), [{ manifest: other, images: 1, overlap: 0 }]);
});

test("Kermany's file names give the pneumonia type (folder sublabel + pneumonia-type map)", () => {
  const root = join(dir, 'kermany');
  for (const [cls, f] of [
    ['NORMAL', 'IM-0115-0001.jpeg'],
    ['PNEUMONIA', 'person1_bacteria_1.jpeg'],
    ['PNEUMONIA', 'person1_virus_6.jpeg'],
  ] as const) {
    mkdirSync(join(root, cls), { recursive: true });
    writeFileSync(join(root, cls, f), 'x');
  }
  const res = readFolderSource(root, { rule: 'kermany', sublabel: ['bacteria', 'virus'] });
  const map = loadLabelMap('pneumonia-type');
  assert.deepEqual(
    res.rows.map((x) => [x.rawLabel, map.map(x.rawLabel), x.patientId]),
    [
      ['NORMAL', 'normal', 'kermany:IM-0115'],
      ['PNEUMONIA/bacteria', 'bacterial', 'kermany:person1'],
      ['PNEUMONIA/virus', 'viral', 'kermany:person1'],
    ],
  );
});
