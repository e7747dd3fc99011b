import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'test/data/helpers/cli.ts', ...args], {
    cwd: root,
    encoding: 'utf8',
  });

test('data phantoms --json, then data summary and augment on its manifest', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cxr-cli-'));
  const r = cli('data', 'phantoms', '--n', '10', '--size', '64', '--seed', '2', '--out', join(dir, 'ph'), '--json');
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(j.labels, { normal: 5, covid: 5 });
  const s = cli('data', 'summary', join(dir, 'ph', 'manifest.csv'), '--json');
  assert.equal(JSON.parse(s.stdout).sharedPatients, 0);
  const a = cli(
    'augment',
    '--manifest',
    join(dir, 'ph', 'manifest.csv'),
    '--out',
    join(dir, 'aug'),
    '--per-image',
    '2',
    '--json',
  );
  assert.equal(a.status, 0, a.stderr);
  assert.equal(JSON.parse(a.stdout).outputs, JSON.parse(a.stdout).inputs * 2);
  const t = cli(
    'augment',
    '--manifest',
    join(dir, 'ph', 'manifest.csv'),
    '--out',
    join(dir, 'aug2'),
    '--splits',
    'test',
  );
  assert.equal(t.status, 1);
  assert.equal(t.stderr.trim(), 'error: refusing to augment the test split: a test set must stay untouched');
});

test('bad input ends in one clear line and exit 1; nothing half-written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cxr-cli-bad-'));
  const out = join(dir, 'out');
  const r1 = cli('data', 'build', '--source', `folder:${join(dir, 'nope')}`, '--out', out);
  assert.equal(r1.status, 1);
  assert.equal(r1.stderr.trim(), `error: source nope: folder not found: ${join(dir, 'nope')}`);
  // CSV without the needed column.
  writeFileSync(join(dir, 'l.csv'), 'file,finding\na.png,covid\n');
  const r2 = cli('data', 'build', '--source', `csv:${join(dir, 'l.csv')}`, '--out', out);
  assert.equal(r2.status, 1);
  assert.match(
    r2.stderr.trim(),
    /^error: source csv \(.*l\.csv\): missing columns 'path', 'label' \(has: file, finding\)$/,
  );
  // Folder tree with a corrupt JPEG and an empty class folder.
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'covid'), { recursive: true });
  mkdirSync(join(tree, 'normal'), { recursive: true });
  for (let i = 0; i < 4; i++) {
    await sharp(new Uint8Array(32 * 32).fill(80 + i), { raw: { width: 32, height: 32, channels: 1 } })
      .png()
      .toFile(join(tree, 'covid', `c${i}.png`));
    await sharp(new Uint8Array(32 * 32).fill(150 + i), { raw: { width: 32, height: 32, channels: 1 } })
      .png()
      .toFile(join(tree, 'normal', `n${i}.png`));
  }
  writeFileSync(join(tree, 'normal', 'bad.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
  const r3 = cli('data', 'build', '--source', `folder:${tree}`, '--out', out);
  assert.equal(r3.status, 1);
  // Progress lines may precede it; exactly one error line, naming the file.
  const errs = r3.stderr
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('error:'));
  assert.equal(errs.length, 1);
  assert.match(errs[0], /^error: .*bad\.jpg: corrupt or unsupported image .*--on-error skip/);
  assert.ok(!r3.stderr.includes('    at '), 'no stack trace');
  assert.ok(!existsSync(join(out, 'manifest.csv')), 'no manifest after a failure');
  const r4 = cli('data', 'build', '--source', `folder:${tree}`, '--out', out, '--on-error', 'skip', '--json');
  assert.equal(r4.status, 0, r4.stderr);
  assert.deepEqual(JSON.parse(r4.stdout).labels, { covid: 4, normal: 4 });
  assert.ok(existsSync(join(out, 'skipped.csv')));
  assert.ok(!readdirSync(out).some((f) => f.endsWith('.tmp')));
  // Unknown label under a label map without a catch-all.
  writeFileSync(join(dir, 'map.json'), JSON.stringify({ covid: 'covid' }));
  const r5 = cli(
    'data',
    'build',
    '--source',
    `folder:${tree}`,
    '--label-map',
    join(dir, 'map.json'),
    '--out',
    join(dir, 'o5'),
  );
  assert.match(r5.stderr, /^error: .*tree\/normal\/[^:]+: unknown label 'normal' \(not in label map .*map\.json\)/);
  mkdirSync(join(tree, 'empty'));
  const r6 = cli('data', 'build', '--source', `folder:${tree}`, '--out', join(dir, 'o6'));
  assert.equal(
    r6.stderr.trim(),
    `error: source tree: empty class folder ${join(tree, 'empty')} (no .png/.jpg/.jpeg/.dcm files)`,
  );
});
